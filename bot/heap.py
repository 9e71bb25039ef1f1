"""Keep the garbage collector's full passes short in long-running processes.

A process that has started holds tens of thousands of long-lived objects (modules,
SQLAlchemy mappers, compiled statements, CLDR data). CPython's full collection walks all
of them every time the young objects surviving into the old generation add up, which in
the worker took ~0.2 s every ~10 s of a reminder wave: a stall in which no send left and
the next ones went out bunched. `gc.freeze()` after start-up moves them out of the
collector's sight (they are still freed by reference counting when dropped).
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Collect once, then exempt everything alive now from later collections. Call it
    once a process has finished starting (not in tests, which start many apps)."""
    gc.collect()
    gc.freeze()
