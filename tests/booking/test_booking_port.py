"""BookingService implements flows.ports.BookingPort with the same signatures."""

from __future__ import annotations

import inspect

from bot.booking.service import BookingService
from flows.ports import BookingPort


def test_service_matches_port_exactly():
    port_methods = {n: f for n, f in inspect.getmembers(BookingPort, inspect.isfunction) if not n.startswith("_")}
    assert len(port_methods) >= 25
    for name, fn in port_methods.items():
        mine = getattr(BookingService, name)
        assert inspect.iscoroutinefunction(mine), name
        assert inspect.signature(mine) == inspect.signature(fn), name
