"""The declarative flow engine: states as class attributes, transitions and guards on
the class, definitions checked when the class is created (i.e. at import).

A flow looks like this::

    class Cancel(Flow):
        name = "cancel"
        confirm = State(initial=True)
        done = State(final=True)
        confirm.to(done, cond="is_cancellable")

        async def ask_confirm(self, turn: Turn) -> None: ...          # prompt on entry
        async def on_confirm(self, turn: Turn, answer: Answer) -> Handled: ...
        def is_cancellable(self, turn: Turn) -> bool: ...

Every non-final state needs `ask_<state>` (what to show on entry) and `on_<state>`
(what to do with an answer). Handlers move with `await turn.go(self, "done")`, which
is allowed only along declared transitions whose guard holds; anything else raises
`FlowError`. A handler returns `MISSED` when it did not understand the answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Final

if TYPE_CHECKING:
    from flows.turn import Answer, Turn


class FlowError(Exception):
    """Every runtime error of the engine (undeclared transition, failed guard, unknown
    flow or state in a saved session)."""


class FlowDefinitionError(FlowError, TypeError):
    """A flow class is wrongly defined; raised while the class is created (at import)."""


class _Missed:
    """The sentinel a handler returns when it did not understand the answer."""

    _instance: ClassVar[_Missed | None] = None

    def __repr__(self) -> str:
        return "MISSED"


MISSED: Final = _Missed()
Handled = _Missed | None


@dataclass(eq=False)
class Transition:
    source: State
    target: State | str
    cond: str | None = None


@dataclass(eq=False)
class State:
    """One state of a flow; `name` is the attribute name it is bound to."""

    initial: bool = False
    final: bool = False
    name: str = ""
    owner: type | None = None
    transitions: list[Transition] = field(default_factory=list)

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.owner = owner

    def to(self, *targets: State | str, cond: str | None = None) -> State:
        """Declare transitions from this state to each target (a State or its name),
        allowed only when the guard method named `cond` returns True."""
        if self.final:
            raise FlowDefinitionError(f"final state {self.name or '?'} cannot have transitions")
        for target in targets:
            self.transitions.append(Transition(self, target, cond))
        return self


class Flow:
    """Base of every flow; subclasses declare `name` and their States."""

    name: ClassVar[str] = ""
    states: ClassVar[dict[str, State]] = {}
    initial_state: ClassVar[str] = ""
    edges: ClassVar[dict[str, dict[str, str | None]]] = {}   # source -> {target: guard}

    def __init_subclass__(cls, abstract: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if abstract:
            return
        if not cls.name:
            raise FlowDefinitionError(f"{cls.__qualname__} needs a `name`")
        states = {n: v for n, v in vars(cls).items() if isinstance(v, State)}
        if not states:
            raise FlowDefinitionError(f"flow {cls.name} declares no states")
        initials = [s for s in states.values() if s.initial]
        if len(initials) != 1:
            raise FlowDefinitionError(f"flow {cls.name} needs exactly one initial state, has {len(initials)}")
        edges: dict[str, dict[str, str | None]] = {n: {} for n in states}
        for state in states.values():
            for tr in state.transitions:
                target = tr.target if isinstance(tr.target, str) else tr.target.name
                if target not in states or (isinstance(tr.target, State) and tr.target is not states[target]):
                    raise FlowDefinitionError(f"flow {cls.name}: {state.name} -> unknown state {target!r}")
                if tr.cond is not None and not callable(getattr(cls, tr.cond, None)):
                    raise FlowDefinitionError(f"flow {cls.name}: guard {tr.cond!r} is not a method")
                edges[state.name][target] = tr.cond
        reachable = _reachable(initials[0].name, edges)
        unreachable = sorted(set(states) - reachable)
        if unreachable:
            raise FlowDefinitionError(f"flow {cls.name}: unreachable states {unreachable}")
        for state in states.values():
            if state.final:
                continue
            for prefix in ("ask_", "on_"):
                if not callable(getattr(cls, prefix + state.name, None)):
                    raise FlowDefinitionError(f"flow {cls.name}: state {state.name} has no {prefix}{state.name}()")
        cls.states = states
        cls.initial_state = initials[0].name
        cls.edges = edges

    # -- runtime helpers used by the Turn ---------------------------------------------
    def check_transition(self, turn: Turn, source: str, target: str) -> None:
        """Raise FlowError unless source -> target is declared and its guard holds."""
        if source not in self.edges or target not in self.edges[source]:
            raise FlowError(f"flow {self.name}: no transition {source} -> {target}")
        guard = self.edges[source][target]
        if guard is not None and not getattr(self, guard)(turn):
            raise FlowError(f"flow {self.name}: guard {guard} refused {source} -> {target}")

    async def ask(self, turn: Turn, state: str) -> None:
        """Show the prompt of `state` (or nothing for a final state)."""
        if state not in self.states:
            raise FlowError(f"flow {self.name}: unknown state {state!r}")
        if not self.states[state].final:
            await getattr(self, "ask_" + state)(turn)

    async def handle(self, turn: Turn, state: str, answer: Answer) -> Handled:
        if state not in self.states or self.states[state].final:
            raise FlowError(f"flow {self.name}: cannot answer in state {state!r}")
        return await getattr(self, "on_" + state)(turn, answer)


def _reachable(start: str, edges: dict[str, dict[str, str | None]]) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for nxt in edges[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


class FlowRegistry:
    """Flows by name; built once by the runtime from the shipped flow classes."""

    def __init__(self, flows: Iterable[type[Flow]]) -> None:
        self._flows: dict[str, Flow] = {}
        for cls in flows:
            if cls.name in self._flows:
                raise FlowDefinitionError(f"two flows named {cls.name}")
            self._flows[cls.name] = cls()

    def get(self, name: str) -> Flow:
        try:
            return self._flows[name]
        except KeyError:
            raise FlowError(f"unknown flow {name!r}") from None
