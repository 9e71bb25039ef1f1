"""CLI commands for message templates and translation catalogs.

    python -m bot templates-export [--out FILE]   Graph API template-creation JSON
    python -m bot templates-check FILE            compare the clinic's approved list with ours
    python -m bot i18n-extract                    refresh locales/messages.pot and the .po files
    python -m bot i18n-compile                    compile the catalogs into var/locale now
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bot.cli import EXTRA_ARGUMENTS, command
from bot.config import PROJECT_ROOT, Settings
from bot.i18n import LOCALES_DIR, SUPPORTED_LANGUAGES, ensure_compiled
from bot.message_templates import EXAMPLE_FIELDS, load_registry

BABEL_CFG = PROJECT_ROOT / "babel.cfg"


def extract_catalog(output: Path, root: Path = PROJECT_ROOT) -> None:
    """Run `pybabel extract` with babel.cfg over the project into `output`.

    The input is the project root because babel.cfg patterns (`flows/**.py`, …) are matched
    relative to it; hidden directories such as `.venv` are skipped by Babel itself.
    """
    from babel.messages.frontend import CommandLineInterface

    CommandLineInterface().run([
        "pybabel", "-q", "extract", "-F", str(root / "babel.cfg"), "-o", str(output),
        "--no-location", "--sort-output", "--project", "MyMedic", "--version", "1",
        "--copyright-holder", "MyMedic", str(root),
    ])


def update_catalogs(pot: Path, locales_dir: Path = LOCALES_DIR) -> None:
    """Merge `pot` into every shipped language's messages.po (creating missing ones).

    Fuzzy matching is off: a guessed translation must never reach a patient unreviewed.
    """
    from babel.messages.frontend import CommandLineInterface

    for language in SUPPORTED_LANGUAGES:
        po = locales_dir / language / "LC_MESSAGES" / "messages.po"
        action = "update" if po.exists() else "init"
        args = ["pybabel", "-q", action, "-i", str(pot), "-d", str(locales_dir), "-l", language]
        if action == "update":
            args += ["--no-fuzzy-matching", "--ignore-obsolete"]
        CommandLineInterface().run(args)


@command("templates-export", "print Graph API template-creation JSON for submission to Meta")
def cmd_templates_export(_settings: Settings, args: argparse.Namespace) -> int:
    payload = load_registry().export_graph(EXAMPLE_FIELDS)
    text = json.dumps(payload, ensure_ascii=False, indent=2) + "\n"
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


@command("templates-check", "check the clinic's approved WhatsApp templates (Graph API JSON) against ours")
def cmd_templates_check(_settings: Settings, args: argparse.Namespace) -> int:
    response = json.loads(Path(args.file).read_text(encoding="utf-8"))
    problems = load_registry().check_approved(response)
    for problem in problems:
        print(problem)
    if not problems:
        print("all templates approved and matching")
    return 1 if problems else 0


@command("i18n-extract", "extract messages into locales/messages.pot and update the .po files")
def cmd_i18n_extract(_settings: Settings, _args: argparse.Namespace) -> int:
    pot = LOCALES_DIR / "messages.pot"
    extract_catalog(pot)
    update_catalogs(pot)
    return 0


@command("i18n-compile", "compile the translation catalogs into var/locale")
def cmd_i18n_compile(settings: Settings, _args: argparse.Namespace) -> int:
    print(ensure_compiled(settings.var_dir))
    return 0


def _export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", help="write the JSON to this file instead of stdout")


def _check_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="a saved GET /{waba_id}/message_templates response (JSON)")


EXTRA_ARGUMENTS["templates-export"] = _export_arguments
EXTRA_ARGUMENTS["templates-check"] = _check_arguments
