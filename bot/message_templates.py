"""Approved business-initiated messages (WhatsApp templates and India DLT SMS), as data.

`templates/*.json` is the source of truth: the text of an approved template is fixed per
language by Meta and by DLT registration, so the gettext catalogs never override it. Each
file defines one message: its WhatsApp name and category, named parameters mapped from
booking fields, the body and quick-reply buttons per language, and the registered DLT SMS
(entity id, template id, sender header, `{#var#}` text and the order of its variables).

    registry = load_registry()
    template = registry.build("appointment_reminder", "hi", fields,
                              timezone="Asia/Kolkata", country="IN")
    # template.components → Graph API `template.components`
    # template.fallback_text → the DLT SMS with its variables filled in

Privacy: templates may only use the booking fields in `ALLOWED_FIELDS` (first name, doctor,
clinic, time, codes, links, amounts); anything else, such as the reason for the visit, is
refused when the registry loads.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from babel.numbers import format_decimal

from bot.config import PROJECT_ROOT
from bot.i18n import DEFAULT_LANGUAGE, SUPPORTED_LANGUAGES, Translator, normalize_language
from bot.messages import Template

TEMPLATES_DIR = PROJECT_ROOT / "templates"

# The only booking fields a business-initiated message may carry (DESIGN.md §2: first
# name, time, doctor, clinic — plus the codes, links and amounts the message is about).
ALLOWED_FIELDS: frozenset[str] = frozenset({
    "patient_first_name", "doctor_name", "clinic_name", "start", "appointment_code",
    "join_link", "payment_link", "amount_minor", "currency", "offer_minutes", "refund_days",
})
FORMATS: frozenset[str] = frozenset({"first_name", "text", "date", "time", "code", "link", "money", "number"})
CATEGORIES: frozenset[str] = frozenset({"UTILITY", "MARKETING", "AUTHENTICATION"})

DLT_VAR = "{#var#}"
DLT_VAR_MAX = 30            # DLT: each variable holds at most 30 characters
BUTTON_TITLE_MAX = 20       # our limit for quick-reply titles in every language
BODY_MAX = 1024             # Meta's template body limit, in code points
DATE_FORMAT = "EEE d MMM"   # "Mon 23 Nov", "सोम 23 नव॰", "திங். 23 நவ."
_WA_PARAM = re.compile(r"\{\{(\d+)\}\}")
_SPACES = re.compile(r"\s+")
# A cut right after a Devanagari virama leaves a half letter. (A Tamil pulli ends words
# normally and joins no conjunct, so a cut after one is fine.)
_VIRAMAS = frozenset({"\u094d"})


class TemplateError(ValueError):
    """A template definition is invalid, or a build lacks what it needs."""


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """A named parameter: which booking field fills it and how it is formatted."""

    name: str
    field: str
    format: str


@dataclass(frozen=True, slots=True)
class ButtonSpec:
    """A quick-reply button: `payload` is a str.format pattern over parameter names."""

    action: str
    payload: str


@dataclass(frozen=True, slots=True)
class WhatsAppText:
    body: str
    buttons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SmsText:
    """One language's registered DLT SMS: `text` in `{#var#}` form, variables in order."""

    template_id: str
    text: str
    variables: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SmsSpec:
    entity_id: str
    sender: str
    dlt_category: str
    languages: Mapping[str, SmsText]


@dataclass(frozen=True, slots=True)
class RenderedSms:
    """A DLT SMS ready to send: the text plus the registration data gateways ask for."""

    text: str
    entity_id: str
    template_id: str
    sender: str


@dataclass(frozen=True, slots=True)
class TemplateSpec:
    """One business-initiated message in every shipped language."""

    name: str
    category: str
    description: str
    params: Mapping[str, ParamSpec]
    wa_parameters: tuple[str, ...]          # parameter names for {{1}}, {{2}}, …
    buttons: tuple[ButtonSpec, ...]
    whatsapp: Mapping[str, WhatsAppText]
    sms: SmsSpec

    @property
    def fields(self) -> frozenset[str]:
        """The booking fields this template reads."""
        return frozenset(p.field for p in self.params.values())


@dataclass(frozen=True, slots=True)
class Problem:
    """One difference between our templates and the clinic's approved list."""

    kind: str          # missing | not_approved | text_mismatch | category_mismatch
    name: str
    language: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.kind}: {self.name} [{self.language}] {self.detail}".rstrip()


def _sanitize(value: str) -> str:
    # WhatsApp rejects parameters with newlines, tabs or runs of spaces; SMS wants one line too.
    return _SPACES.sub(" ", value).strip()


def truncate(value: str, limit: int = DLT_VAR_MAX) -> str:
    """`value` cut to at most `limit` code points without splitting a syllable.

    Indic scripts build one visible letter from several code points (consonant + virama +
    consonant, vowel signs), so the cut backs off until it lands before a base letter; it
    prefers the last word boundary in the second half of the allowance.
    """
    if len(value) <= limit:
        return value
    cut = limit
    while cut > 0 and (unicodedata.category(value[cut])[0] == "M" or value[cut - 1] in _VIRAMAS
                       or value[cut] == "\u200d" or value[cut - 1] == "\u200d"):
        cut -= 1
    # A whole word is better than half a surname, unless that would drop most of the value.
    space = value.rfind(" ", 0, cut + 1)
    if space >= limit // 2:
        cut = space
    return value[:cut].rstrip(" .,-")


# GSM 03.38 basic set; the extension table's characters cost two septets each.
_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")


def sms_segments(text: str) -> tuple[str, int]:
    """("GSM-7" | "UCS-2", segments) for one SMS. One "₹" or Indic letter forces UCS-2:
    70 characters fit one segment, 67 a segment once split (153/160 for GSM-7)."""
    if all(c in _GSM7_BASIC or c in _GSM7_EXTENDED for c in text):
        septets = sum(2 if c in _GSM7_EXTENDED else 1 for c in text)
        return "GSM-7", 1 if septets <= 160 else -(-septets // 153)
    units = len(text.encode("utf-16-le")) // 2
    return "UCS-2", 1 if units <= 70 else -(-units // 67)


def _fill_dlt(text: str, values: Sequence[str]) -> str:
    parts = text.split(DLT_VAR)
    out = [parts[0]]
    for value, rest in zip(values, parts[1:], strict=True):
        out.append(value)
        out.append(rest)
    return "".join(out)


class TemplateRegistry:
    """Every template under `templates/`, validated when loaded."""

    def __init__(self, specs: Mapping[str, TemplateSpec]) -> None:
        self._specs = dict(specs)

    def names(self) -> list[str]:
        return sorted(self._specs)

    def get(self, name: str) -> TemplateSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise TemplateError(f"unknown template {name!r}") from None

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._specs[n] for n in self.names())

    # --- rendering --------------------------------------------------------------------

    def values(self, name: str, language: str, fields: Mapping[str, str | dt.datetime | int], *,
               timezone: str, country: str) -> dict[str, str]:
        """Each parameter's display value for `language` (full length, one line)."""
        spec = self.get(name)
        language = normalize_language(language) or DEFAULT_LANGUAGE
        t = Translator(language=language, country=country.upper(), timezone=timezone)
        out: dict[str, str] = {}
        for param in spec.params.values():
            if param.field not in fields or fields[param.field] is None:
                raise TemplateError(f"{name}: field {param.field!r} is required")
            out[param.name] = _sanitize(self._format(param, fields, t))
        return out

    @staticmethod
    def _format(param: ParamSpec, fields: Mapping[str, Any], t: Translator) -> str:
        value = fields[param.field]
        if param.format in ("date", "time"):
            if not isinstance(value, dt.datetime) or value.tzinfo is None:
                raise TemplateError(f"field {param.field!r} must be an aware datetime")
            return t.date(value, DATE_FORMAT) if param.format == "date" else t.time(value)
        if param.format == "money":
            return t.money(int(value), str(fields.get("currency") or "INR"))
        if param.format == "number":
            return format_decimal(int(value), locale=t.locale)
        text = str(value)
        if param.format == "first_name":
            # Only the first name ever leaves: a full name passed by mistake is cut here.
            text = text.strip().split()[0] if text.strip() else text
        return text

    def build(self, name: str, language: str, fields: Mapping[str, str | dt.datetime | int], *,
              timezone: str, country: str) -> Template:
        """The WhatsApp template message (components) with its DLT SMS text as fallback."""
        spec = self.get(name)
        language = normalize_language(language) or DEFAULT_LANGUAGE
        values = self.values(name, language, fields, timezone=timezone, country=country)
        components: list[dict[str, Any]] = [{
            "type": "body",
            "parameters": [{"type": "text", "text": values[p]} for p in spec.wa_parameters],
        }]
        for index, button in enumerate(spec.buttons):
            components.append({
                "type": "button", "sub_type": "quick_reply", "index": str(index),
                "parameters": [{"type": "payload", "payload": button.payload.format(**values)}],
            })
        return Template(
            name=spec.name,
            language=language,
            params=values,
            components=tuple(components),
            fallback_text=self._sms_text(spec, language, values),
        )

    def render_sms(self, name: str, language: str, fields: Mapping[str, str | dt.datetime | int], *,
                   timezone: str, country: str) -> RenderedSms:
        """The DLT SMS with its registration data (entity id, template id, sender header)."""
        spec = self.get(name)
        language = normalize_language(language) or DEFAULT_LANGUAGE
        values = self.values(name, language, fields, timezone=timezone, country=country)
        sms = spec.sms.languages[language]
        return RenderedSms(self._sms_text(spec, language, values), spec.sms.entity_id,
                           sms.template_id, spec.sms.sender)

    @staticmethod
    def _sms_text(spec: TemplateSpec, language: str, values: Mapping[str, str]) -> str:
        sms = spec.sms.languages[language]
        filled: list[str] = []
        for var in sms.variables:
            value = values[var]
            if len(value) > DLT_VAR_MAX:
                if spec.params[var].format in ("link", "code"):
                    # A cut link or code is worse than no message: the caller must shorten it.
                    raise TemplateError(
                        f"{spec.name}: {var} is {len(value)} characters; DLT allows {DLT_VAR_MAX} "
                        "(send a short link)")
                value = truncate(value)
            filled.append(value)
        return _fill_dlt(sms.text, filled)

    def whatsapp_body(self, name: str, language: str, values: Mapping[str, str]) -> str:
        """The WhatsApp body as the patient sees it (for previews, tests and limits)."""
        spec = self.get(name)
        body = spec.whatsapp[normalize_language(language) or DEFAULT_LANGUAGE].body
        return _WA_PARAM.sub(lambda m: values[spec.wa_parameters[int(m.group(1)) - 1]], body)

    def sms_matches_registered(self, name: str, language: str, text: str) -> bool:
        """Whether `text` fits the registered DLT template (each variable ≤ 30 characters)."""
        sms = self.get(name).sms.languages.get(normalize_language(language) or "")
        if sms is None:
            return False
        pattern = f"(?:.{{0,{DLT_VAR_MAX}}})".join(re.escape(p) for p in sms.text.split(DLT_VAR))
        return re.fullmatch(pattern, text, flags=re.DOTALL) is not None

    # --- Graph API -------------------------------------------------------------------

    def export_graph(self, example_fields: Mapping[str, str | dt.datetime | int], *,
                     timezone: str = "Asia/Kolkata", country: str = "IN") -> list[dict[str, Any]]:
        """Graph API template-creation payloads (`POST /{waba_id}/message_templates`), one per
        template and language, with example values rendered in that language."""
        out: list[dict[str, Any]] = []
        for spec in self:
            for language in SUPPORTED_LANGUAGES:
                wa = spec.whatsapp[language]
                values = self.values(spec.name, language, example_fields, timezone=timezone, country=country)
                components: list[dict[str, Any]] = [{
                    "type": "BODY",
                    "text": wa.body,
                    "example": {"body_text": [[values[p] for p in spec.wa_parameters]]},
                }]
                if wa.buttons:
                    components.append({"type": "BUTTONS", "buttons": [
                        {"type": "QUICK_REPLY", "text": title} for title in wa.buttons]})
                out.append({"name": spec.name, "category": spec.category, "language": language,
                            "parameter_format": "POSITIONAL", "components": components})
        return out

    def check_approved(self, response: Mapping[str, Any]) -> list[Problem]:
        """Compare a `GET /{waba_id}/message_templates` response with our templates.

        Reports templates missing from the clinic's account, present but not APPROVED, and
        approved with a different body, buttons or category than ours.
        """
        theirs: dict[tuple[str, str], Mapping[str, Any]] = {}
        for item in response.get("data", []):
            language = normalize_language(str(item.get("language", ""))) or str(item.get("language"))
            theirs[(str(item.get("name")), language)] = item
        problems: list[Problem] = []
        for spec in self:
            for language in SUPPORTED_LANGUAGES:
                item = theirs.get((spec.name, language))
                if item is None:
                    problems.append(Problem("missing", spec.name, language))
                    continue
                status = str(item.get("status", "")).upper()
                if status != "APPROVED":
                    problems.append(Problem("not_approved", spec.name, language, status or "no status"))
                if str(item.get("category", spec.category)).upper() != spec.category:
                    problems.append(Problem("category_mismatch", spec.name, language,
                                            f"{item.get('category')} != {spec.category}"))
                body, buttons = _approved_texts(item)
                wa = spec.whatsapp[language]
                if body != wa.body:
                    problems.append(Problem("text_mismatch", spec.name, language, "body differs"))
                if tuple(buttons) != wa.buttons:
                    problems.append(Problem("text_mismatch", spec.name, language, "buttons differ"))
        return problems


def _approved_texts(item: Mapping[str, Any]) -> tuple[str | None, list[str]]:
    body: str | None = None
    buttons: list[str] = []
    for comp in item.get("components", []):
        kind = str(comp.get("type", "")).upper()
        if kind == "BODY":
            body = comp.get("text")
        elif kind == "BUTTONS":
            buttons = [b.get("text", "") for b in comp.get("buttons", [])
                       if str(b.get("type", "")).upper() == "QUICK_REPLY"]
    return body, buttons


# --- loading ----------------------------------------------------------------------------


def _parse(data: Mapping[str, Any], source: str) -> TemplateSpec:
    def fail(msg: str) -> TemplateError:
        return TemplateError(f"{source}: {msg}")

    name = data.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9_]{1,512}", name):
        raise fail("name must be lowercase letters, digits and underscores")
    category = data.get("category")
    if category not in CATEGORIES:
        raise fail(f"category must be one of {sorted(CATEGORIES)}")
    params: dict[str, ParamSpec] = {}
    for pname, p in data.get("params", {}).items():
        if p.get("field") not in ALLOWED_FIELDS:
            raise fail(f"param {pname!r} reads {p.get('field')!r}, which a template may not carry")
        if p.get("format") not in FORMATS:
            raise fail(f"param {pname!r} has unknown format {p.get('format')!r}")
        params[pname] = ParamSpec(pname, p["field"], p["format"])
    wa = data.get("whatsapp", {})
    wa_params = tuple(wa.get("parameters", ()))
    for p in wa_params:
        if p not in params:
            raise fail(f"whatsapp parameter {p!r} is not declared in params")
    buttons = tuple(ButtonSpec(b["action"], b["payload"]) for b in wa.get("buttons", ()))
    for b in buttons:
        try:
            b.payload.format(**{p: "x" for p in params})
        except (KeyError, IndexError) as exc:
            raise fail(f"button payload {b.payload!r} names an unknown parameter") from exc
    whatsapp: dict[str, WhatsAppText] = {}
    sms_langs: dict[str, SmsText] = {}
    sms = data.get("sms", {})
    for language in SUPPORTED_LANGUAGES:
        entry = wa.get("languages", {}).get(language)
        if entry is None:
            raise fail(f"whatsapp body missing for {language}")
        body = entry["body"]
        numbers = sorted({int(n) for n in _WA_PARAM.findall(body)})
        if numbers != list(range(1, len(wa_params) + 1)):
            raise fail(f"{language} body must use {{{{1}}}}…{{{{{len(wa_params)}}}}} exactly")
        if len(body) > BODY_MAX:
            raise fail(f"{language} body exceeds {BODY_MAX} characters")
        titles = tuple(entry.get("buttons", ()))
        if len(titles) != len(buttons):
            raise fail(f"{language} needs {len(buttons)} button titles")
        for title in titles:
            if not 1 <= len(title) <= BUTTON_TITLE_MAX:
                raise fail(f"{language} button {title!r} is not 1–{BUTTON_TITLE_MAX} characters")
        whatsapp[language] = WhatsAppText(body, titles)
        s = sms.get("languages", {}).get(language)
        if s is None:
            raise fail(f"DLT SMS missing for {language}")
        variables = tuple(s["variables"])
        if s["text"].count(DLT_VAR) != len(variables):
            raise fail(f"{language} SMS has {s['text'].count(DLT_VAR)} {DLT_VAR} but {len(variables)} variables")
        for v in variables:
            if v not in params:
                raise fail(f"{language} SMS variable {v!r} is not declared in params")
        sms_langs[language] = SmsText(str(s["template_id"]), s["text"], variables)
    return TemplateSpec(
        name=name, category=category, description=str(data.get("description", "")),
        params=params, wa_parameters=wa_params, buttons=buttons, whatsapp=whatsapp,
        sms=SmsSpec(str(sms.get("entity_id", "")), str(sms.get("sender", "")),
                    str(sms.get("dlt_category", "")), sms_langs),
    )


def load_registry(path: Path = TEMPLATES_DIR) -> TemplateRegistry:
    """Read and validate every `*.json` template under `path`; raises TemplateError."""
    specs: dict[str, TemplateSpec] = {}
    for file in sorted(Path(path).glob("*.json")):
        spec = _parse(json.loads(file.read_text(encoding="utf-8")), file.name)
        if spec.name in specs:
            raise TemplateError(f"{file.name}: template {spec.name!r} defined twice")
        specs[spec.name] = spec
    return TemplateRegistry(specs)


# Realistic example values for Graph API submissions (Meta asks for examples) and tests.
EXAMPLE_FIELDS: Mapping[str, str | dt.datetime | int] = {
    "patient_first_name": "Asha",
    "doctor_name": "Dr. Meera Iyer",
    "clinic_name": "MyMedic Indiranagar",
    "start": dt.datetime(2026, 11, 23, 4, 30, tzinfo=dt.timezone.utc),
    "appointment_code": "MM-7KQ2X",
    "join_link": "https://mymedic.in/v/7KQ2X",
    "payment_link": "https://mymedic.in/p/7KQ2X",
    "amount_minor": 50000,
    "currency": "INR",
    "offer_minutes": 15,
    "refund_days": 7,
}
