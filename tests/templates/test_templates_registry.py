"""Business-initiated templates: WhatsApp components, DLT SMS, privacy, limits."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest

from bot.message_templates import (
    ALLOWED_FIELDS,
    DLT_VAR,
    DLT_VAR_MAX,
    EXAMPLE_FIELDS,
    TEMPLATES_DIR,
    TemplateError,
    load_registry,
    sms_segments,
    truncate,
)
from bot.messages import Template

LANGUAGES = ("en", "hi", "ta")
IST = dict(timezone="Asia/Kolkata", country="IN")
REGISTRY = load_registry()
NAMES = REGISTRY.names()

# The longest names we expect (and then some), in Latin and in each script.
LONGEST = {
    **EXAMPLE_FIELDS,
    "patient_first_name": "Venkatalakshminarasimhaswamy Subramanian",
    "doctor_name": "Dr. Venkataraghavan Subramaniam Ramachandran Iyer",
    "clinic_name": "MyMedic Multispeciality Hospital, Thiruvananthapuram Road, Coimbatore",
    "amount_minor": 12_345_678_900,
    "start": dt.datetime(2026, 9, 30, 6, 45, tzinfo=dt.timezone.utc),  # a Wednesday in September
}
LONGEST_HI = {**LONGEST, "doctor_name": "डॉ. वेंकटराघवन सुब्रमण्यम रामचंद्रन अय्यर",
              "clinic_name": "मायमेडिक मल्टीस्पेशियलिटी अस्पताल, तिरुवनंतपुरम रोड"}
LONGEST_TA = {**LONGEST, "doctor_name": "டாக்டர் வெங்கடராகவன் சுப்ரமணியம் ராமச்சந்திரன்",
              "clinic_name": "மைமெடிக் பல்நோக்கு மருத்துவமனை, திருவனந்தபுரம் சாலை"}
FIELD_SETS = {"example": EXAMPLE_FIELDS, "longest": LONGEST, "longest_hi": LONGEST_HI, "longest_ta": LONGEST_TA}


def test_all_business_messages_are_defined() -> None:
    assert set(NAMES) == {"appointment_reminder", "tele_join_link", "asap_offer", "payment_link",
                          "payment_receipt", "refund_notice", "recall", "hold_expired",
                          "needs_reschedule", "asap_slot_gone", "payment_released"}
    categories = {spec.name: spec.category for spec in REGISTRY}
    assert categories.pop("recall") == "MARKETING"
    assert set(categories.values()) == {"UTILITY"}


@pytest.mark.parametrize("fields_name", FIELD_SETS)
@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("name", NAMES)
def test_every_rendered_sms_matches_its_registered_template(name: str, language: str, fields_name: str) -> None:
    fields = FIELD_SETS[fields_name]
    template = REGISTRY.build(name, language, fields, **IST)
    assert REGISTRY.sms_matches_registered(name, language, template.fallback_text), template.fallback_text
    # Re-derive each variable from the registered text and check the DLT limit directly.
    sms = REGISTRY.get(name).sms.languages[language]
    literal = [re.escape(p) for p in sms.text.split(DLT_VAR)]
    match = re.fullmatch("(.*?)".join(literal), template.fallback_text, flags=re.DOTALL)
    assert match is not None
    for value in match.groups():
        assert len(value) <= DLT_VAR_MAX, value
        assert value and not value.endswith("\u094d")   # no half letter (Tamil pulli ends words)
    rendered = REGISTRY.render_sms(name, language, fields, **IST)
    assert rendered.text == template.fallback_text
    assert rendered.entity_id and rendered.template_id and len(rendered.sender) == 6


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("name", NAMES)
def test_sms_check_rejects_altered_text(name: str, language: str) -> None:
    text = REGISTRY.build(name, language, EXAMPLE_FIELDS, **IST).fallback_text
    assert not REGISTRY.sms_matches_registered(name, language, text.replace("-MyMedic", "-MyClinic"))
    assert not REGISTRY.sms_matches_registered(name, language, text + " Extra")
    first = REGISTRY.values(name, language, EXAMPLE_FIELDS, **IST)["first_name"]
    assert not REGISTRY.sms_matches_registered(name, language, text.replace(first, "A" * 31, 1))


@pytest.mark.parametrize("language", LANGUAGES)
def test_reminder_components_and_buttons(language: str) -> None:
    template = REGISTRY.build("appointment_reminder", language, EXAMPLE_FIELDS, **IST)
    assert isinstance(template, Template)
    assert template.name == "appointment_reminder" and template.language == language
    body, *buttons = template.components
    assert body["type"] == "body"
    texts = [p["text"] for p in body["parameters"]]
    assert texts[:3] == ["Asha", "Dr. Meera Iyer", "MyMedic Indiranagar"]
    assert len(texts) == 5
    assert [b["sub_type"] for b in buttons] == ["quick_reply"] * 3
    assert [b["index"] for b in buttons] == ["0", "1", "2"]
    payloads = [b["parameters"][0]["payload"] for b in buttons]
    assert payloads == ["appointment_reminder:confirm:MM-7KQ2X", "appointment_reminder:reschedule:MM-7KQ2X",
                        "appointment_reminder:cancel:MM-7KQ2X"]
    titles = REGISTRY.get("appointment_reminder").whatsapp[language].buttons
    assert len(titles) == 3 and all(1 <= len(t) <= 20 for t in titles)


def test_dates_in_templates_follow_language_and_branch_zone() -> None:
    late = {**EXAMPLE_FIELDS, "start": dt.datetime(2026, 11, 22, 20, 0, tzinfo=dt.timezone.utc)}
    assert REGISTRY.values("appointment_reminder", "hi", late, **IST)["date"] == "सोम 23 नव॰"
    assert REGISTRY.values("appointment_reminder", "ta", late, **IST)["date"] == "திங். 23 நவ."
    assert REGISTRY.values("appointment_reminder", "en", late, **IST)["time"] == "1:30 am"
    assert REGISTRY.values("payment_link", "hi", {**late, "amount_minor": 10_000_000}, **IST)["amount"] == "₹1,00,000"


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("name", NAMES)
def test_whatsapp_bodies_fit(name: str, language: str) -> None:
    for fields in FIELD_SETS.values():
        values = REGISTRY.values(name, language, fields, **IST)
        body = REGISTRY.whatsapp_body(name, language, values)
        assert len(body) <= 1024
        assert "{{" not in body
        for value in values.values():
            assert "\n" not in value and "\t" not in value and "    " not in value


def test_sms_segment_report() -> None:
    print("\nDLT SMS segments (example names / longest names):")
    for name in NAMES:
        row = []
        for language in LANGUAGES:
            short = sms_segments(REGISTRY.build(name, language, EXAMPLE_FIELDS, **IST).fallback_text)
            long = sms_segments(REGISTRY.build(name, language, FIELD_SETS[f"longest_{language}"]
                                               if language != "en" else LONGEST, **IST).fallback_text)
            row.append(f"{language} {short[1]}/{long[1]} {short[0]}")
            assert long[1] >= short[1]
        print(f"  {name:22} " + "  ".join(row))
    # "₹" alone makes an English SMS UCS-2; a plain one stays GSM-7.
    assert sms_segments(REGISTRY.build("payment_link", "en", EXAMPLE_FIELDS, **IST).fallback_text)[0] == "UCS-2"
    assert sms_segments(REGISTRY.build("recall", "en", EXAMPLE_FIELDS, **IST).fallback_text)[0] == "GSM-7"


# --- privacy ------------------------------------------------------------------------------


def test_no_template_reads_a_reason_for_visit() -> None:
    forbidden = re.compile(r"reason|symptom|complaint|diagnos|note|visit_type|appointment_type", re.I)
    assert not [f for f in ALLOWED_FIELDS if forbidden.search(f)]
    for spec in REGISTRY:
        assert spec.fields <= ALLOWED_FIELDS
        assert not [f for f in spec.fields if forbidden.search(f)], spec.name
    for path in TEMPLATES_DIR.glob("*.json"):
        assert not forbidden.search(json.dumps(json.loads(path.read_text(encoding="utf-8"))["params"]))


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("name", NAMES)
def test_rendered_messages_carry_only_the_minimum(name: str, language: str) -> None:
    fields = {**EXAMPLE_FIELDS, "patient_first_name": "Asha Rani Verma",
              "reason_for_visit": "chest pain", "appointment_type_name": "Gynecology follow-up",
              "patient_phone": "+919812345678"}
    template = REGISTRY.build(name, language, fields, **IST)
    everything = json.dumps([template.components, template.fallback_text, template.params], ensure_ascii=False)
    for secret in ("chest pain", "Gynecology", "9812345678", "Verma", "Rani"):
        assert secret not in everything


def test_loading_refuses_a_template_that_reads_a_private_field(tmp_path: Path) -> None:
    data = json.loads((TEMPLATES_DIR / "appointment_reminder.json").read_text(encoding="utf-8"))
    data["params"]["reason"] = {"field": "reason_for_visit", "format": "text"}
    (tmp_path / "bad.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(TemplateError, match="reason_for_visit"):
        load_registry(tmp_path)


def test_loading_refuses_a_long_button_and_a_var_count_mismatch(tmp_path: Path) -> None:
    data = json.loads((TEMPLATES_DIR / "appointment_reminder.json").read_text(encoding="utf-8"))
    data["whatsapp"]["languages"]["ta"]["buttons"][0] = "உறுதிப்படுத்துங்கள் தயவுசெய்து"
    (tmp_path / "a.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(TemplateError, match="button"):
        load_registry(tmp_path)
    data = json.loads((TEMPLATES_DIR / "appointment_reminder.json").read_text(encoding="utf-8"))
    data["sms"]["languages"]["hi"]["text"] += " {#var#}"
    (tmp_path / "a.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(TemplateError, match="variables"):
        load_registry(tmp_path)


def test_a_long_link_is_refused_not_cut() -> None:
    fields = {**EXAMPLE_FIELDS, "join_link": "https://video.example.com/rooms/abcdefghijklmnop"}
    with pytest.raises(TemplateError, match="short link"):
        REGISTRY.build("tele_join_link", "en", fields, **IST)


def test_missing_field_is_a_clear_error() -> None:
    fields = {k: v for k, v in EXAMPLE_FIELDS.items() if k != "doctor_name"}
    with pytest.raises(TemplateError, match="doctor_name"):
        REGISTRY.build("appointment_reminder", "en", fields, **IST)


@pytest.mark.parametrize(("value", "expected"), [
    ("Dr. Venkataraghavan Subramaniam Ramachandran", "Dr. Venkataraghavan"),
    ("A" * 40, "A" * 30),
    ("short", "short"),
])
def test_truncate_prefers_word_boundaries(value: str, expected: str) -> None:
    assert truncate(value) == expected


def test_truncate_never_splits_an_indic_syllable() -> None:
    # "क्ष" is क + virama + ष: a cut between them would show a broken letter.
    value = "क" * 28 + "क्षा" + "म"
    out = truncate(value)
    assert len(out) <= 30
    assert not out.endswith("\u094d") and out == "क" * 28
    tamil = "த" * 29 + "மிழ்"
    assert truncate(tamil) == "த" * 29   # never "…ம" without its vowel sign and pulli


def test_sms_never_invites_a_carrier_opt_out_word_for_a_booking_action() -> None:
    # On SMS, STOP/CANCEL/END/QUIT… are carrier opt-outs: "reply CANCEL" would unsubscribe the
    # patient instead of cancelling the visit, so booking actions use digits.
    opt_out = {"STOP", "CANCEL", "END", "QUIT", "UNSUBSCRIBE", "STOPALL", "REVOKE", "OPTOUT"}
    for spec in REGISTRY:
        for language, sms in spec.sms.languages.items():
            words = set(re.findall(r"[A-Z]{3,}", sms.text)) & opt_out
            if spec.category == "MARKETING":
                assert words <= {"STOP"}, (spec.name, language)   # the opt-out itself
            else:
                assert not words, (spec.name, language, words)
