"""parse_webhook over realistic Meta payloads: batches, every message type, statuses,
with and without BSUIDs, and malformed bodies."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest

from bot.channels.errors import PayloadError
from bot.channels.whatsapp import parse_webhook
from bot.messages import Channel, InboundKind

PHONE_ID = "106540352242922"


def _value(messages: list[dict[str, Any]] | None = None, statuses: list[dict[str, Any]] | None = None,
           contacts: list[dict[str, Any]] | None = None, phone_id: str = PHONE_ID) -> dict[str, Any]:
    value: dict[str, Any] = {"messaging_product": "whatsapp",
                             "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_id}}
    if contacts is not None:
        value["contacts"] = contacts
    if messages is not None:
        value["messages"] = messages
    if statuses is not None:
        value["statuses"] = statuses
    return value


def _payload(*values: dict[str, Any], entries: int = 1) -> dict[str, Any]:
    per = max(1, len(values) // entries)
    chunks = [values[i:i + per] for i in range(0, len(values), per)]
    return {"object": "whatsapp_business_account",
            "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": v} for v in chunk]} for chunk in chunks]}


CONTACT = {"profile": {"name": "Asha"}, "wa_id": "919800000001", "user_id": "IN.13491208655302741918"}


def _msg(typ: str, content: Any, mid: str = "wamid.1", **extra: Any) -> dict[str, Any]:
    return {"from": "919800000001", "from_user_id": "IN.13491208655302741918", "id": mid,
            "timestamp": "1749416383", "type": typ, typ: content, **extra}


def test_text_with_bsuid_keeps_phone() -> None:
    [inbound] = parse_webhook(_payload(_value([_msg("text", {"body": "hi"})], contacts=[CONTACT]))).inbounds
    assert inbound.channel is Channel.WHATSAPP and inbound.account == PHONE_ID
    assert inbound.user_id == "IN.13491208655302741918" and inbound.phone == "+919800000001"
    assert (inbound.kind, inbound.text, inbound.profile_name) == (InboundKind.TEXT, "hi", "Asha")
    assert inbound.timestamp == dt.datetime(2025, 6, 8, 20, 59, 43, tzinfo=dt.UTC)


def test_legacy_payload_without_user_id_keys_on_wa_id() -> None:
    msg = {"from": "919800000001", "id": "wamid.2", "timestamp": "1749416383", "type": "text", "text": {"body": "hi"}}
    contact = {"profile": {"name": "Asha"}, "wa_id": "919800000001"}
    [inbound] = parse_webhook(_payload(_value([msg], contacts=[contact]))).inbounds
    assert inbound.user_id == "919800000001" and inbound.phone == "+919800000001"


def test_username_user_without_phone() -> None:
    msg = {"from_user_id": "IN.555", "id": "wamid.3", "timestamp": "1749416383", "type": "text", "text": {"body": "hi"}}
    contact = {"profile": {"name": "Ravi", "username": "@ravi"}, "user_id": "IN.555"}
    [inbound] = parse_webhook(_payload(_value([msg], contacts=[contact]))).inbounds
    assert inbound.user_id == "IN.555" and inbound.phone is None and inbound.profile_name == "Ravi"


@pytest.mark.parametrize(
    ("typ", "content", "expected"),
    [
        ("interactive", {"type": "list_reply", "list_reply": {"id": "doc:7", "title": "Dr Mehta", "description": "Skin"}},
         {"kind": InboundKind.CHOICE, "choice_id": "doc:7", "choice_title": "Dr Mehta"}),
        ("interactive", {"type": "button_reply", "button_reply": {"id": "yes", "title": "Yes"}},
         {"kind": InboundKind.CHOICE, "choice_id": "yes", "choice_title": "Yes"}),
        ("interactive", {"type": "nfm_reply", "nfm_reply": {"response_json": "{}"}}, {"kind": InboundKind.UNSUPPORTED}),
        ("button", {"payload": "reschedule", "text": "Reschedule"},
         {"kind": InboundKind.CHOICE, "choice_id": "reschedule", "choice_title": "Reschedule"}),
        ("location", {"latitude": 19.1197, "longitude": 72.8464, "name": "Andheri"},
         {"kind": InboundKind.LOCATION, "latitude": 19.1197, "longitude": 72.8464, "text": "Andheri"}),
        ("image", {"id": "m1", "mime_type": "image/jpeg", "caption": "report"}, {"kind": InboundKind.MEDIA, "media_type": "image", "text": "report"}),
        ("document", {"id": "m2", "mime_type": "application/pdf"}, {"kind": InboundKind.MEDIA, "media_type": "document"}),
        ("audio", {"id": "m3", "voice": True}, {"kind": InboundKind.MEDIA, "media_type": "audio"}),
        ("video", {"id": "m4"}, {"kind": InboundKind.MEDIA, "media_type": "video"}),
        ("sticker", {"id": "m5", "animated": False}, {"kind": InboundKind.MEDIA, "media_type": "sticker"}),
        ("reaction", {"message_id": "wamid.ours", "emoji": "👍"},
         {"kind": InboundKind.REACTION, "reaction": "👍", "context_message_id": "wamid.ours"}),
        ("contacts", [{"name": {"formatted_name": "X"}}], {"kind": InboundKind.CONTACTS}),
        ("order", {"catalog_id": "1"}, {"kind": InboundKind.UNSUPPORTED}),
    ],
)
def test_every_message_type(typ: str, content: Any, expected: dict[str, Any]) -> None:
    [inbound] = parse_webhook(_payload(_value([_msg(typ, content)], contacts=[CONTACT]))).inbounds
    for key, value in expected.items():
        assert getattr(inbound, key) == value, key


def test_unsupported_with_errors() -> None:
    msg = {"from": "919800000001", "id": "wamid.u", "timestamp": "1749416383", "type": "unsupported",
           "errors": [{"code": 131051, "title": "Message type unknown"}]}
    [inbound] = parse_webhook(_payload(_value([msg], contacts=[CONTACT]))).inbounds
    assert inbound.kind is InboundKind.UNSUPPORTED


def test_context_id() -> None:
    msg = _msg("text", {"body": "this one"}, context={"from": "15550783881", "id": "wamid.bot"})
    [inbound] = parse_webhook(_payload(_value([msg], contacts=[CONTACT]))).inbounds
    assert inbound.context_message_id == "wamid.bot"


def test_batched_entries_changes_messages_and_statuses() -> None:
    other = {"profile": {"name": "Bo"}, "wa_id": "919800000002", "user_id": "IN.2"}
    m1 = _msg("text", {"body": "one"}, "wamid.a")
    m2 = _msg("text", {"body": "two"}, "wamid.b")
    m3 = {"from": "919800000002", "from_user_id": "IN.2", "id": "wamid.c", "timestamp": "1749416390", "type": "text", "text": {"body": "three"}}
    s = [{"id": f"wamid.out{i}", "status": st, "timestamp": "1749416400", "recipient_id": "919800000001",
          "recipient_user_id": "IN.13491208655302741918", "biz_opaque_callback_data": f"key{i}"}
         for i, st in enumerate(["sent", "delivered", "read"])]
    payload = _payload(
        _value([m1, m2], contacts=[CONTACT]),
        _value([m3], contacts=[other], phone_id="999"),
        _value(statuses=s[:2]),
        _value(statuses=s[2:]),
        entries=2,
    )
    assert len(payload["entry"]) == 2
    batch = parse_webhook(payload)
    assert [(i.message_id, i.user_id, i.account, i.text) for i in batch.inbounds] == [
        ("wamid.a", "IN.13491208655302741918", PHONE_ID, "one"),
        ("wamid.b", "IN.13491208655302741918", PHONE_ID, "two"),
        ("wamid.c", "IN.2", "999", "three"),
    ]
    assert [(u.status, u.idempotency_key, u.recipient) for u in batch.statuses] == [
        ("sent", "key0", "IN.13491208655302741918"), ("delivered", "key1", "IN.13491208655302741918"),
        ("read", "key2", "IN.13491208655302741918")]


def test_failed_status_with_errors_and_no_user_id() -> None:
    st = {"id": "wamid.out", "status": "failed", "timestamp": "1749416400", "recipient_id": "919800000001",
          "errors": [{"code": 131047, "title": "Re-engagement message", "message": "Re-engagement message",
                      "error_data": {"details": "More than 24 hours have passed"}}]}
    [status] = parse_webhook(_payload(_value(statuses=[st]))).statuses
    assert (status.status, status.error_code, status.error_title, status.recipient, status.idempotency_key) == (
        "failed", 131047, "Re-engagement message", "919800000001", None)


def test_other_fields_are_skipped() -> None:
    payload = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
        {"field": "message_template_status_update", "value": {"event": "APPROVED"}}]}]}
    batch = parse_webhook(payload)
    assert batch.inbounds == () and batch.statuses == ()


GOOD = _payload(_value([_msg("text", {"body": "hi"})], contacts=[CONTACT]))


def _broken(path: list[Any], value: Any = None, delete: bool = False) -> dict[str, Any]:
    payload = copy.deepcopy(GOOD)
    node = payload
    for key in path[:-1]:
        node = node[key]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return payload


@pytest.mark.parametrize(
    "payload",
    [
        None, [], "x", {"object": "page", "entry": []}, {"object": "whatsapp_business_account"},
        {"object": "whatsapp_business_account", "entry": {}},
        _broken(["entry", 0, "changes"], "nope"),
        _broken(["entry", 0, "changes", 0, "value", "metadata"], delete=True),
        _broken(["entry", 0, "changes", 0, "value", "messages", 0, "id"], delete=True),
        _broken(["entry", 0, "changes", 0, "value", "messages", 0, "timestamp"], "soon"),
        _broken(["entry", 0, "changes", 0, "value", "messages", 0, "text"], delete=True),
        _payload(_value([{"id": "x", "timestamp": "1", "type": "text", "text": {"body": "x"}}], contacts=[])),  # no sender
        _broken(["entry", 0, "changes", 0, "value", "statuses"], [{"id": "x"}]),
    ],
)
def test_malformed_payloads(payload: Any) -> None:
    with pytest.raises(PayloadError):
        parse_webhook(payload)
