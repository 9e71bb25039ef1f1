"""The shipped catalogs against the current sources: complete, consistent, within limits."""

from __future__ import annotations

import ast
import string
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message

from bot.config import PROJECT_ROOT
from bot.message_templates import sms_segments

TRANSLATED = ("hi", "ta")            # every msgid must have a reviewed translation here
BUTTON_MAX, ROW_MAX, LIST_BUTTON_MAX, BODY_MAX = 20, 24, 20, 1024
ROW_DESCRIPTION_MAX, FOOTER_MAX = 72, 60
# Placeholder values as long as the real ones get ("Wed 30 Sept" in Tamil, "12:30 pm" …).
SAMPLE = "திங். 23 செப்."


def _ids(msg: Message) -> tuple[str, ...]:
    return msg.id if isinstance(msg.id, tuple) else (msg.id,)


def _strings(msg: Message) -> tuple[str, ...]:
    return msg.string if isinstance(msg.string, tuple) else (msg.string,)


def _fields(text: str) -> set[str]:
    return {name for _lit, name, _spec, _conv in string.Formatter().parse(text) if name is not None}


def _render(text: str) -> str:
    return text.format(**{name: SAMPLE for name in _fields(text)}) if _fields(text) else text


# --- where each msgid is shown (found in the flow sources) -------------------------------


def _msgids_in(node: ast.AST) -> list[str]:
    """String constants passed to t(...) / _(...) anywhere inside `node`."""
    out = []
    for sub in ast.walk(node):
        if (isinstance(sub, ast.Call) and sub.args and isinstance(sub.args[0], ast.Constant)
                and isinstance(sub.args[0].value, str)
                and ((isinstance(sub.func, ast.Name) and sub.func.id in {"t", "_"})
                     or (isinstance(sub.func, ast.Attribute) and sub.func.attr == "t"))):
            out.append(sub.args[0].value)
    return out


def _parse(source: str) -> ast.Module:
    """`ast.parse`, once more on CPython's spurious "AST constructor recursion depth
    mismatch" SystemError (gh-106905, fixed in 3.11.8): its counter is shared across
    threads, and the test process has database and Redis threads running."""
    try:
        return ast.parse(source)
    except SystemError:
        return ast.parse(source)


def _call_name(call: ast.Call) -> str:
    return call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")


SOURCE_ROOTS = tuple(PROJECT_ROOT / d for d in ("flows", "workers", "bot"))


def title_limits(*roots: Path) -> dict[str, int]:
    """msgid -> the strictest limit of the interactive element it is shown in.

    An `Option` title in a function that shows buttons is a button (20), in one that shows
    a list a row (24); `button=` is the list button (20); descriptions 72, footers 60.
    """
    limits: dict[str, int] = {}

    def limit(msgid: str, value: int) -> None:
        limits[msgid] = min(value, limits.get(msgid, value))

    paths = sorted({p for root in (roots or SOURCE_ROOTS) for p in root.rglob("*.py")})
    for path in paths:
        tree = _parse(path.read_text(encoding="utf-8"))
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            calls = [c for c in ast.walk(fn) if isinstance(c, ast.Call)]
            names = {_call_name(c).lower() for c in calls}
            row = BUTTON_MAX if "buttons" in names or "choices" not in names else ROW_MAX
            for call in calls:
                name = _call_name(call)
                if name == "Option":
                    title = call.args[1] if len(call.args) > 1 else next(
                        (k.value for k in call.keywords if k.arg == "title"), None)
                    desc = call.args[2] if len(call.args) > 2 else next(
                        (k.value for k in call.keywords if k.arg == "description"), None)
                    for msgid in _msgids_in(title) if title is not None else []:
                        limit(msgid, row)
                    for msgid in _msgids_in(desc) if desc is not None else []:
                        limit(msgid, ROW_DESCRIPTION_MAX)
                for kw in call.keywords:
                    if kw.arg == "button":
                        for msgid in _msgids_in(kw.value):
                            limit(msgid, LIST_BUTTON_MAX)
                    elif kw.arg == "footer":
                        for msgid in _msgids_in(kw.value):
                            limit(msgid, FOOTER_MAX)
    return limits


# --- tests -------------------------------------------------------------------------------


def test_extraction_finds_the_flow_messages(extracted: Catalog) -> None:
    # Guards the guard: an extraction config that finds nothing would make every check pass.
    assert len([m for m in extracted if m.id]) >= 10


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_is_translated(extracted: Catalog, shipped: dict[str, Catalog], language: str) -> None:
    catalog = shipped[language]
    missing = []
    for msg in extracted:
        if not msg.id:
            continue
        ours = catalog.get(msg.id)
        if ours is None or ours.fuzzy or not all(_strings(ours)):
            missing.append(_ids(msg)[0])
    assert not missing, f"untranslated in {language} (run `python -m bot i18n-extract`, then translate): {missing}"


@pytest.mark.parametrize("language", ("en", *TRANSLATED))
def test_placeholders_match(shipped: dict[str, Catalog], language: str) -> None:
    wrong = []
    for msg in shipped[language]:
        if not msg.id:
            continue
        ids = _ids(msg)
        wanted = set().union(*(_fields(i) for i in ids))
        for text in _strings(msg):
            if not text:
                continue
            have = _fields(text)
            # A singular form may spell the count out ("एक"), so {n} alone may be left out.
            if not (have <= wanted and wanted - have <= {"n"} and (len(ids) > 1 or have == wanted)):
                wrong.append((ids[0], text))
    assert not wrong, f"placeholders differ in {language}: {wrong}"


def test_title_scan_sees_the_flows() -> None:
    limits = title_limits()
    assert limits, "no Option/button titles found: the limit check would be empty"
    assert {BUTTON_MAX, ROW_MAX, LIST_BUTTON_MAX} <= set(limits.values())


@pytest.mark.parametrize("language", ("en", *TRANSLATED))
def test_rendered_titles_and_bodies_fit_channel_limits(shipped: dict[str, Catalog], language: str) -> None:
    limits = title_limits()
    too_long = []
    for msg in shipped[language]:
        if not msg.id:
            continue
        for idx, text in enumerate(_strings(msg)):
            shown = _render(text or _ids(msg)[min(idx, len(_ids(msg)) - 1)])
            cap = limits.get(_ids(msg)[0], BODY_MAX)
            if len(shown) > cap:
                too_long.append((_ids(msg)[0], shown, len(shown), cap))
    assert not too_long, f"too long for the channel in {language}: {too_long}"


def test_sms_segments_per_message(shipped: dict[str, Catalog]) -> None:
    """Reports how many SMS segments each message costs per language ("₹" and Indic → UCS-2)."""
    assert sms_segments("a" * 160) == ("GSM-7", 1)
    assert sms_segments("a" * 161) == ("GSM-7", 2)
    assert sms_segments("₹500") == ("UCS-2", 1)
    assert sms_segments("क" * 70) == ("UCS-2", 1)
    assert sms_segments("क" * 71) == ("UCS-2", 2)
    assert sms_segments("நா" * 67) == ("UCS-2", 2)
    totals: dict[str, int] = {}
    print("\nSMS segments per message (en / hi / ta):")
    for msg in shipped["en"]:
        if not msg.id:
            continue
        row = []
        for language in ("en", *TRANSLATED):
            found = shipped[language].get(msg.id)
            text = _render((_strings(found)[0] if found is not None else "") or _ids(msg)[0])
            encoding, count = sms_segments(text)
            totals[language] = totals.get(language, 0) + count
            row.append(f"{count}{'u' if encoding == 'UCS-2' else ''}")
        print(f"  {' / '.join(row):>14}  {_ids(msg)[0][:60]!r}")
    print("  totals:", totals)
    assert totals["hi"] >= totals["en"]


def test_pot_and_catalogs_agree_on_plural_headers(shipped: dict[str, Catalog]) -> None:
    from babel import Locale

    for language, catalog in shipped.items():
        locale = Locale.parse(language)
        forms = {"one": 0, "other": 1}
        for n in range(0, 12):
            expected = forms.get(locale.plural_form(n), 1)
            assert catalog.plural_expr and eval(catalog.plural_expr, {"n": n}) == expected, (language, n)


def test_no_compiled_catalogs_in_the_tree() -> None:
    assert not list((PROJECT_ROOT / "locales").rglob("*.mo"))
    assert (PROJECT_ROOT / "locales" / "messages.pot").exists()
    for language in ("en", *TRANSLATED):
        assert (PROJECT_ROOT / "locales" / language / "LC_MESSAGES" / "messages.po").exists()


def test_limits_scan_classifies_titles(tmp_path: Path) -> None:
    # The scanner itself: a buttons-only function's Option is a button, a list's is a row.
    (tmp_path / "sample.py").write_text(
        "def ask(turn, t):\n"
        "    opts = [Option('y', t('Yes, book it')), Option('n', t('No'))]\n"
        "    turn.buttons(t('Book?'), opts)\n"
        "def pick(turn, t):\n"
        "    turn.choices(t('Pick'), [Option('a', t('First free time'), t('Morning'))], button=t('Days'))\n",
        encoding="utf-8",
    )
    limits = title_limits(tmp_path)
    assert limits == {"Yes, book it": BUTTON_MAX, "No": BUTTON_MAX, "First free time": ROW_MAX,
                      "Morning": ROW_DESCRIPTION_MAX, "Days": LIST_BUTTON_MAX}


@pytest.mark.parametrize(("language", "block"), [("hi", (0x0900, 0x097F)), ("ta", (0x0B80, 0x0BFF))])
def test_translations_are_written_in_the_languages_script(shipped: dict[str, Catalog], language: str,
                                                         block: tuple[int, int]) -> None:
    # Hindi in Devanagari, Tamil in Tamil script: an English copy or a romanized
    # translation pasted into the wrong catalog fails here.
    wrong = []
    for msg in shipped[language]:
        if not msg.id:
            continue
        words = string.Formatter().parse(_ids(msg)[0])
        if not any(c.isalpha() for literal, *_rest in words for c in literal):
            continue   # "{doctor} — {visit}.": nothing to translate
        for text in _strings(msg):
            if text and not any(block[0] <= ord(c) <= block[1] for c in text):
                wrong.append(text)
    assert not wrong, f"{language} strings without {language} script: {wrong}"
