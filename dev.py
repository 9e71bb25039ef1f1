#!/usr/bin/env python3
"""One-command bootstrap for a fresh machine that has only Python 3.11+.

    python3 dev.py run     # the bot on the embedded default (SQLite, embedded Redis, demo clinic, sandbox)
    python3 dev.py test    # the whole test suite (extra arguments go to pytest)

It creates `.venv/` on first use and reinstalls the project there whenever
`pyproject.toml` changes, then hands over to `python -m bot run` or `pytest`.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PYTHON = VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
STAMP = VENV / ".pyproject.sha256"


def ensure_environment() -> None:
    """Create the virtual environment and install the project into it when needed."""
    if sys.version_info < (3, 11):
        sys.exit(f"MyMedic needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    if not PYTHON.exists():
        print("Creating .venv …", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == digest:
        return
    print("Installing MyMedic and its dependencies into .venv …", flush=True)
    pip = [str(PYTHON), "-m", "pip", "--disable-pip-version-check", "install", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-e", f"{ROOT}[test]"], check=True, cwd=ROOT)
    STAMP.write_text(digest)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"run", "test"}:
        print(__doc__)
        return 2
    ensure_environment()
    command, rest = argv[0], argv[1:]
    if command == "run":
        args = [str(PYTHON), "-m", "bot", "run", *rest]
    else:
        args = [str(PYTHON), "-m", "pytest", *rest]
    os.chdir(ROOT)
    # Hand the terminal (and signals such as Ctrl-C) straight to the child.
    if os.name == "nt":
        return subprocess.call(args)
    os.execv(args[0], args)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
