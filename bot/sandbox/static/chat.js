// MyMedic sandbox chat: sends what you type through /sandbox/api/send (the server signs
// it like Meta/Twilio and POSTs it to the real webhook) and long-polls the emulators for
// the bot's replies. Plain JS, no dependencies (the sandbox works offline).
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const state = { channel: "whatsapp", phone: "", lang: "en", user: null, next: 0, polling: false };

  // Links (payment pages, maps) become clickable; everything else stays plain text
  // (textContent, never innerHTML: the bot's texts are not trusted markup).
  const URL_RE = /https?:\/\/[^\s<>"]+/g;
  function fill(div, text) {
    let last = 0;
    for (const m of text.matchAll(URL_RE)) {
      div.appendChild(document.createTextNode(text.slice(last, m.index)));
      const a = document.createElement("a");
      a.href = m[0];
      a.textContent = m[0];
      a.target = "_blank";
      a.rel = "noopener";
      div.appendChild(a);
      last = m.index + m[0].length;
    }
    div.appendChild(document.createTextNode(text.slice(last)));
  }

  function bubble(cls, text, meta) {
    const div = document.createElement("div");
    div.className = "msg " + cls;
    fill(div, text);
    if (meta) {
      const m = document.createElement("div");
      m.className = "meta";
      m.textContent = meta;
      div.appendChild(m);
    }
    $("log").appendChild(div);
    $("log").scrollTop = $("log").scrollHeight;
    return div;
  }

  function showReply(entry) {
    const view = entry.view || { kind: "text", text: "" };
    let text = view.text || "";
    if (view.header) text = view.header + "\n" + text;
    if (view.footer) text += "\n" + view.footer;
    if (view.kind === "location") text = "📍 " + text + "\n" + view.latitude + ", " + view.longitude;
    if (view.url) text += "\n" + view.url;
    const div = bubble("bot", text, entry.channel === "sms" ? "SMS · " + entry.segments + " segment(s) " + entry.encoding : null);
    div.dataset.kind = view.kind;
    if (state.channel === "whatsapp" && (view.options || []).length) {
      const box = document.createElement("div");
      box.className = "options";
      for (const opt of view.options) {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "option";
        b.dataset.id = opt.id;
        b.textContent = opt.title;
        if (opt.description) {
          const s = document.createElement("small");
          s.textContent = opt.description;
          b.appendChild(s);
        }
        b.addEventListener("click", () => send({ choice_id: opt.id, choice_title: opt.title, choice_kind: view.kind }, opt.title));
        box.appendChild(b);
      }
      div.appendChild(box);
    }
  }

  async function send(extra, shown) {
    const me = bubble("me", shown, "sending…");
    try {
      const res = await fetch("/sandbox/api/send", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(Object.assign({ channel: state.channel, phone: state.phone, lang: state.lang }, extra)),
      });
      const data = await res.json().catch(() => ({}));
      const ok = res.ok && data.webhook_status >= 200 && data.webhook_status < 300;
      me.querySelector(".meta").textContent = ok ? "sent ✓" : "webhook answered " + (data.webhook_status || res.status);
      if (!ok) me.classList.add("error");
      if (data.user && data.user !== state.user) { state.user = data.user; state.next = 0; }
      poll();
    } catch (err) {
      me.querySelector(".meta").textContent = "not sent: " + err;
      me.classList.add("error");
    }
  }

  async function poll() {
    if (state.polling || !state.user) return;
    state.polling = true;
    try {
      while (state.user) {
        const q = new URLSearchParams({ channel: state.channel, user: state.user, since: String(state.next), wait: "20" });
        const res = await fetch("/sandbox/api/messages?" + q.toString());
        if (!res.ok) { await new Promise((r) => setTimeout(r, 1000)); continue; }
        const data = await res.json();
        for (const entry of data.messages) showReply(entry);
        state.next = data.next;
      }
    } finally {
      state.polling = false;
    }
  }

  $("setup").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    state.channel = $("channel").value;
    state.phone = $("phone").value.trim();
    state.lang = $("lang").value;
    const res = await fetch("/sandbox/api/register", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ channel: state.channel, phone: state.phone, lang: state.lang }),
    });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) { $("status").textContent = "Check the phone number."; return; }
    state.user = null;
    state.next = 0;
    $("log").textContent = "";
    $("chat").hidden = false;
    $("location").hidden = state.channel !== "whatsapp";
    $("status").textContent = (state.channel === "whatsapp" ? "WhatsApp" : "SMS") + " chat as " + state.phone;
    // The chat is keyed like the bot keys users: BSUID on WhatsApp, E.164 on SMS.
    state.user = data.user;
    poll();
    $("text").focus();
  });

  $("composer").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = $("text").value;
    if (!text.trim()) return;
    $("text").value = "";
    send({ text: text }, text);
  });

  $("location").addEventListener("click", () => {
    const raw = window.prompt("Latitude, longitude", "19.1197, 72.8464");
    if (!raw) return;
    const [lat, lon] = raw.split(",").map((s) => parseFloat(s));
    if (Number.isNaN(lat) || Number.isNaN(lon)) return;
    send({ latitude: lat, longitude: lon }, "📍 " + lat + ", " + lon);
  });
})();
