"""What a model of a concurrent object is, and how its values are written in plain words.

A model is a plain object: :meth:`Model.init` gives the first state, :meth:`Model.step`
says whether an operation may take effect in a state and what state follows, and
:meth:`Model.partition` splits a history into independent sub-histories (P-compositionality).
States must be hashable: the search remembers the ``(linearized set, state)`` pairs it saw.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, NamedTuple

from harness.history.operations import Operation


class Input(NamedTuple):
    """What an operation asks: its function and its value (an ``:ok`` operation's value is
    the one it completed with, so a read carries what it read)."""

    f: str
    value: Any


class Model:
    """Base of the models. ``output`` is how the operation ended: ``"ok"``, ``"fail"`` (kept
    only under ``fail="assert"`` for the functions in :attr:`asserting`) or ``"info"``
    (it may have taken effect, or not: the search may leave it out)."""

    name = ""
    functions: frozenset[str] = frozenset()
    """The operations' ``f`` the model knows."""
    readonly: frozenset[str] = frozenset()
    """Functions that never change the state: an ``:info`` one is left out of the search."""
    asserting: frozenset[str] = frozenset()
    """Functions whose ``:fail`` says something about the state (kept under
    ``fail="assert"``)."""

    def init(self) -> Hashable:
        """The state before any operation."""
        raise NotImplementedError

    def step(self, state: Hashable, input: Input, output: str) -> tuple[bool, Hashable]:
        """Whether the operation may take effect in ``state``, and the state after it."""
        raise NotImplementedError

    def invalid(self, op: Operation) -> str | None:
        """Why ``op``'s value does not fit the model (None: it fits)."""
        return None

    def partition(self, ops: list[Operation]) -> list[list[Operation]]:
        """Independent sub-histories, each checked alone (default: the whole history)."""
        return [ops] if ops else []

    def pruner(self, ops: list[Operation]) -> Callable[[Hashable, int], int | None] | None:
        """A test the search applies to each new state, given with the bitset of the
        operations of ``ops`` that took effect (bit ``i`` for ``ops[i]``): the index of an
        operation that can then no longer take effect, whatever the order of the others
        (the search backtracks at once), or None. It must never name one wrongly. None
        (the default): no test."""
        return None

    def describe_state(self, state: Hashable) -> str:
        """The state in plain words."""
        return f"the state is {show(state)}"

    def refusal(self, state: Hashable, input: Input, output: str) -> str:
        """Why :meth:`step` refuses the operation in ``state``, in plain words."""
        return f"it cannot take effect when {self.describe_state(state)}"


def freeze(value: Any) -> Hashable:
    """``value`` made hashable: lists become tuples, maps sorted tuples of pairs."""
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted(((freeze(k), freeze(v)) for k, v in value.items()), key=repr))
    return value


def show(value: Any) -> str:
    """``value`` written the way Jepsen writes it (``nil``, ``[1 2]``, ``{"a" 1}``)."""
    if value is None:
        return "nil"
    if value is True or value is False:
        return str(value).lower()
    if isinstance(value, list | tuple):
        return "[" + " ".join(show(v) for v in value) + "]"
    if isinstance(value, frozenset | set):
        return "#{" + " ".join(sorted(show(v) for v in value)) + "}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{show(k)} {show(v)}" for k, v in value.items()) + "}"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


def describe(op: Operation) -> str:
    """An operation in a few words: ``process 3 cas [1 4] (ok, lines 7-9)``."""
    where = f"line {op.call_line}" if op.ret_line is None else \
        f"lines {op.call_line}-{op.ret_line}"
    key = "" if op.key is None else f" key {show(op.key)}"
    value = "" if op.value is None and op.f not in ("read", "get") else f" {show(op.value)}"
    return f"process {op.process}{key} {op.f}{value} ({op.status}, {where})"
