"""The flow engine refuses wrong definitions when the class is created, and refuses
undeclared or guarded-off transitions at runtime with FlowError."""

from __future__ import annotations

import pytest

from flows.engine import MISSED, Flow, FlowDefinitionError, FlowError, FlowRegistry, State
from flows.runtime import SHIPPED_FLOWS


def test_unknown_target_state_fails_at_class_creation() -> None:
    with pytest.raises(FlowDefinitionError, match="unknown state 'nowhere'"):
        class Bad(Flow):
            name = "bad"
            a = State(initial=True)
            a.to("nowhere")

            async def ask_a(self, turn): ...
            async def on_a(self, turn, answer): ...


def test_state_of_another_flow_is_an_unknown_target() -> None:
    class Other(Flow):
        name = "other"
        x = State(initial=True)

        async def ask_x(self, turn): ...
        async def on_x(self, turn, answer): ...

    with pytest.raises(FlowDefinitionError, match="unknown state"):
        class Bad(Flow):
            name = "bad"
            a = State(initial=True)
            a.to(Other.x)

            async def ask_a(self, turn): ...
            async def on_a(self, turn, answer): ...


def test_unreachable_state_fails() -> None:
    with pytest.raises(FlowDefinitionError, match=r"unreachable states \['island'\]"):
        class Bad(Flow):
            name = "bad"
            a = State(initial=True)
            island = State(final=True)

            async def ask_a(self, turn): ...
            async def on_a(self, turn, answer): ...


def test_missing_handler_fails() -> None:
    with pytest.raises(FlowDefinitionError, match=r"state b has no on_b\(\)"):
        class Bad(Flow):
            name = "bad"
            a = State(initial=True)
            b = State()
            a.to(b)

            async def ask_a(self, turn): ...
            async def on_a(self, turn, answer): ...
            async def ask_b(self, turn): ...


def test_missing_guard_method_fails() -> None:
    with pytest.raises(FlowDefinitionError, match="guard 'is_ready' is not a method"):
        class Bad(Flow):
            name = "bad"
            a = State(initial=True)
            b = State(final=True)
            a.to(b, cond="is_ready")

            async def ask_a(self, turn): ...
            async def on_a(self, turn, answer): ...


def test_initial_state_count_and_name_are_checked() -> None:
    with pytest.raises(FlowDefinitionError, match="exactly one initial state, has 2"):
        class TwoStarts(Flow):
            name = "two"
            a = State(initial=True)
            b = State(initial=True)
    with pytest.raises(FlowDefinitionError, match="needs a `name`"):
        class Nameless(Flow):
            a = State(initial=True)
    with pytest.raises(FlowDefinitionError, match="final state"):
        State(final=True).to("x")


def test_duplicate_flow_names_are_refused() -> None:
    with pytest.raises(FlowDefinitionError, match="two flows named book"):
        FlowRegistry([SHIPPED_FLOWS[3], SHIPPED_FLOWS[3]])


class Gate(Flow):
    name = "gate"
    closed = State(initial=True)
    open = State()
    gone = State(final=True)
    closed.to(open, cond="has_key")
    open.to(gone)

    def has_key(self, turn) -> bool:
        return bool(turn.data.get("key"))

    async def ask_closed(self, turn): ...
    async def on_closed(self, turn, answer): return MISSED
    async def ask_open(self, turn): ...
    async def on_open(self, turn, answer): return None


class _FakeTurn:
    """Only the `data` attribute a guard reads (not a stand-in for our code's behaviour)."""

    def __init__(self, data: dict) -> None:
        self.data = data


def test_runtime_transitions_are_checked() -> None:
    gate = Gate()
    assert Gate.initial_state == "closed" and set(Gate.states) == {"closed", "open", "gone"}
    gate.check_transition(_FakeTurn({"key": 1}), "closed", "open")
    with pytest.raises(FlowError, match="guard has_key refused"):
        gate.check_transition(_FakeTurn({}), "closed", "open")
    with pytest.raises(FlowError, match="no transition closed -> gone"):
        gate.check_transition(_FakeTurn({"key": 1}), "closed", "gone")
    with pytest.raises(FlowError, match="unknown flow"):
        FlowRegistry([Gate]).get("nope")


def test_shipped_flows_are_well_formed() -> None:
    registry = FlowRegistry(SHIPPED_FLOWS)
    for cls in SHIPPED_FLOWS:
        flow = registry.get(cls.name)
        assert flow.initial_state in flow.states


def test_slot_picking_flows_must_declare_its_edges() -> None:
    from flows.picking import SlotPicking

    with pytest.raises(FlowDefinitionError, match=r"SlotPicking needs taken -> \['date'\]"):
        class Bad(SlotPicking):
            name = "bad"
            after_slot = "done"
            after_taken = "done"
            date = State(initial=True)
            slot = State()
            taken = State()
            done = State(final=True)
            date.to(slot)
            slot.to(done, taken)
            taken.to(done)
