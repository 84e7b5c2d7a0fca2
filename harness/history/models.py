"""The models a history can be checked against; :func:`make_model` builds one by name."""

from __future__ import annotations

import bisect
import itertools
import math
import operator
from collections.abc import Callable, Hashable
from dataclasses import replace
from typing import Any

from harness.history.formats import HistoryError
from harness.history.model import Input, Model, freeze, show
from harness.history.operations import Operation

_UNSET: Any = object()


class Register(Model):
    """A read/write register. A read of nil matches any state (as in Knossos); the
    initial value is nil unless given (Jepsen's etcd histories start at nil)."""

    name = "register"
    functions = frozenset({"read", "write"})
    readonly = frozenset({"read"})

    def __init__(self, init: Any = None) -> None:
        self.initial = freeze(init)

    def init(self) -> Hashable:
        return self.initial

    def step(self, state: Hashable, input: Input, output: str) -> tuple[bool, Hashable]:
        f, value = input
        if f == "read":
            return value is None or freeze(value) == state, state
        return True, freeze(value)

    def partition(self, ops: list[Operation]) -> list[list[Operation]]:
        """One register per ``key`` (Jepsen's independent registers); a history without
        keys is one register."""
        return by_key(ops)

    def describe_state(self, state: Hashable) -> str:
        return f"the register holds {show(state)}"

    def refusal(self, state: Hashable, input: Input, output: str) -> str:
        return f"it read {show(input.value)} but {self.describe_state(state)}"


class CasRegister(Register):
    """A register with compare-and-set ``cas [old new]``, which succeeds only when the
    state equals ``old``. Under ``fail="assert"`` a failed cas stays, as the claim that
    the state was not ``old`` when it took place (Porcupine's etcd model)."""

    name = "cas-register"
    functions = frozenset({"read", "write", "cas"})
    asserting = frozenset({"cas"})

    def invalid(self, op: Operation) -> str | None:
        if op.f == "cas" and not (isinstance(op.value, list | tuple) and len(op.value) == 2):
            return f"a cas value must be [old new], got {show(op.value)}"
        return None

    def step(self, state: Hashable, input: Input, output: str) -> tuple[bool, Hashable]:
        if input.f != "cas":
            return super().step(state, input, output)
        old, new = input.value
        if output == "fail":
            return freeze(old) != state, state
        return freeze(old) == state, freeze(new)

    def refusal(self, state: Hashable, input: Input, output: str) -> str:
        if input.f != "cas":
            return super().refusal(state, input, output)
        old = show(input.value[0])
        if output == "fail":
            return f"it failed, yet the register held {old}, so it would have succeeded"
        return f"it expects {old} but {self.describe_state(state)}"


class KeyValue(Model):
    """String values by key: ``get``, ``put`` and ``append`` (which concatenates). Every key
    starts as the empty string (or the given one); a get of nil reads the empty string. A
    key comes from the event's ``:key``, else the value is Jepsen's ``[key value]`` pair.
    Checked key by key."""

    name = "kv"
    functions = frozenset({"get", "put", "append"})
    readonly = frozenset({"get"})

    def __init__(self, init: Any = "") -> None:
        if not isinstance(init, str):
            raise HistoryError(f"the kv model's initial value must be a string, got "
                               f"{show(init)}", "--init")
        self.initial = init

    def init(self) -> Hashable:
        return self.initial

    def invalid(self, op: Operation) -> str | None:
        value = op.value
        if op.key is None:
            if not (isinstance(value, list | tuple) and len(value) == 2):
                return f"a kv operation needs a :key or a [key value] value, got {show(value)}"
            value = value[1]
        if not (value is None or isinstance(value, str)):
            return f"a kv value must be a string, got {show(value)}"
        return None

    def partition(self, ops: list[Operation]) -> list[list[Operation]]:
        """One partition per key; keys that Python equates but EDN does not (``1``,
        ``1.0`` and ``true``) stay apart."""
        return by_key([op if op.key is not None else
                       replace(op, key=freeze(op.value[0]), value=op.value[1]) for op in ops])

    def pruner(self, ops: list[Operation]) -> Callable[[Hashable, int], int | None]:
        """A get still to take effect reads, when it does, the current state or the value
        of a put still to take effect, followed by the pieces of appends still to take
        effect, each used once; all of them called before the get returned (else they
        take effect after it) and returned after the call of every put that returned
        before the get was called (else that put comes between them and the get). A state
        from which some get cannot read its value that way is hopeless: the get is
        named."""
        longest = max((op.ret - op.call for op in ops if op.ret != math.inf), default=0)
        by_call = sorted(range(len(ops)), key=lambda j: ops[j].call)
        calls = [ops[j].call for j in by_call]
        unfinished = [j for j, op in enumerate(ops) if op.ret == math.inf]
        puts = sorted((op.ret, op.call) for op in ops if op.f == "put" and op.status == "ok")
        put_rets = [ret for ret, _ in puts]
        latest = list(itertools.accumulate((call for _, call in puts), max))
        gets = []
        for i, op in enumerate(ops):
            if op.f != "get" or op.status != "ok":
                continue
            read = op.value or ""
            done = bisect.bisect_left(put_rets, op.call)
            after = latest[done - 1] if done else -math.inf
            near = by_call[bisect.bisect_left(calls, after - longest):
                           bisect.bisect_right(calls, op.ret)]
            before = sorted({j for j in near if ops[j].ret >= after}
                            | {j for j in unfinished if ops[j].call <= op.ret})
            resets = [(1 << j, read[len(ops[j].value or ""):]) for j in before
                      if ops[j].f == "put" and read.startswith(ops[j].value or "")]
            pieces = [(1 << j, ops[j].value) for j in before if ops[j].f == "append"
                      and ops[j].value and ops[j].value in read]
            needs = sum(bit for bit, _ in resets + pieces)
            explained = any(_composed(rest, [p for _, p in pieces]) for _, rest in resets)
            gets.append((i, 1 << i, read, resets, pieces, needs, explained))
        # From the k-th get on, each is explained by a put and appends of which none has
        # taken effect while the lowest index among them is below settled[k] (-1: some
        # get is not explained that way).
        first = [(g[5] & -g[5]).bit_length() - 1 if g[5] else math.inf for g in gets]
        lowest = list(itertools.accumulate(reversed(first), min))[::-1]
        alone = list(itertools.accumulate((g[6] for g in reversed(gets)), operator.and_))[::-1]
        settled = [low if both else -1 for low, both in zip(lowest, alone, strict=True)]
        indices = [g[0] for g in gets]

        def hopeless(state: Hashable, linearized: int) -> int | None:
            low, top = (~linearized & (linearized + 1)).bit_length() - 1, linearized.bit_length()
            for k in range(bisect.bisect_left(indices, low), len(gets)):
                if settled[k] >= top:
                    break
                i, bit, read, resets, pieces, needs, explained = gets[k]
                if linearized & bit or explained and not linearized & needs:
                    continue
                left = [p for b, p in pieces if not linearized & b]
                if not (read.startswith(state) and _composed(read[len(state):], left)
                        or any(not linearized & b and _composed(rest, left)
                               for b, rest in resets)):
                    return i
            return None

        return hopeless

    def step(self, state: Hashable, input: Input, output: str) -> tuple[bool, Hashable]:
        f, value = input
        if f == "get":
            return (value or "") == state, state
        if f == "put":
            return True, value or ""
        return True, state + (value or "")

    def describe_state(self, state: Hashable) -> str:
        return f"the key holds {show(state)}"

    def refusal(self, state: Hashable, input: Input, output: str) -> str:
        return f"it read {show(input.value or '')} but {self.describe_state(state)}"


class Mutex(Model):
    """A lock: ``acquire`` only when free, ``release`` only when held. Starts free."""

    name = "mutex"
    functions = frozenset({"acquire", "release"})

    def __init__(self, init: Any = False) -> None:
        if not isinstance(init, bool):
            raise HistoryError(f"the mutex model's initial value must be true (held) or "
                               f"false (free), got {show(init)}", "--init")
        self.initial = init

    def init(self) -> Hashable:
        return self.initial

    def step(self, state: Hashable, input: Input, output: str) -> tuple[bool, Hashable]:
        return (input.f == "acquire") != state, input.f == "acquire"

    def describe_state(self, state: Hashable) -> str:
        return "the lock is held" if state else "the lock is free"

    def refusal(self, state: Hashable, input: Input, output: str) -> str:
        return "the lock is already held" if state else "the lock is not held"


class Bank(Model):
    """Jepsen's bank workload: ``read`` returns every account's balance as a map;
    ``transfer`` moves ``{from, to, amount}``. One object (not partitioned). The initial
    balances are the given map; when none is given, those of the ``:ok`` read that
    completed first, as if no transfer took effect before it."""

    name = "bank"
    functions = frozenset({"read", "transfer"})
    readonly = frozenset({"read"})

    def __init__(self, init: Any = None) -> None:
        if init is not None and not (isinstance(init, dict) and all(map(_number, init.values()))):
            raise HistoryError(f"the bank's initial balances must map accounts to numbers, "
                               f"got {show(init)}", "--init")
        self.initial = None if init is None else freeze(init)

    def init(self) -> Hashable:
        return self.initial

    def invalid(self, op: Operation) -> str | None:
        value = op.value
        if op.f == "transfer":
            if not (isinstance(value, dict) and {"from", "to", "amount"} <= value.keys()
                    and _number(value["amount"])):
                return f"a transfer value must be {{from, to, amount}}, got {show(value)}"
            return None
        if value is not None and not (isinstance(value, dict)
                                      and all(map(_number, value.values()))):
            return f"a read value must map accounts to balances, got {show(value)}"
        return None

    def partition(self, ops: list[Operation]) -> list[list[Operation]]:
        """The whole history; also fixes the initial balances when none were given."""
        if self.initial is None:
            reads = [op for op in ops if op.f == "read" and op.status == "ok"
                     and op.value is not None]
            first = min(reads, key=lambda op: op.ret, default=None)
            self.initial = freeze(first.value if first else {})
        return super().partition(ops)

    def step(self, state: Hashable, input: Input, output: str) -> tuple[bool, Hashable]:
        f, value = input
        if f == "read":
            return value is None or freeze(value) == state, state
        balances = dict(state)
        amount = value["amount"]
        balances[value["from"]] = balances.get(value["from"], 0) - amount
        balances[value["to"]] = balances.get(value["to"], 0) + amount
        return True, freeze(balances)

    def describe_state(self, state: Hashable) -> str:
        balances = dict(state)
        return f"the balances are {show(balances)} (total {show(sum(balances.values()))})"

    def refusal(self, state: Hashable, input: Input, output: str) -> str:
        read = input.value
        return (f"it read {show(read)} (total {show(sum(read.values()))}) but "
                f"{self.describe_state(state)}")


def _composed(text: str, pieces: list[str]) -> bool:
    """Whether ``text`` is a concatenation of ``pieces`` (non-empty; each any number of
    times: a necessary condition for each at most once, far cheaper to decide)."""
    reached, todo = {0}, [0]
    while todo:
        at = todo.pop()
        if at == len(text):
            return True
        for piece in pieces:
            if text.startswith(piece, at) and at + len(piece) not in reached:
                reached.add(at + len(piece))
                todo.append(at + len(piece))
    return False


def by_key(ops: list[Operation]) -> list[list[Operation]]:
    """``ops`` grouped by key, in order of first appearance; keys that Python equates but
    EDN does not (``1``, ``1.0`` and ``true``) stay apart."""
    keys: dict[Hashable, list[Operation]] = {}
    for op in ops:
        keys.setdefault(_identity(op.key), []).append(op)
    return list(keys.values())


def _identity(key: Any) -> Hashable:
    """``key`` made hashable with its type kept, maps and sets regardless of order."""
    if isinstance(key, list | tuple):
        return tuple, tuple(_identity(k) for k in key)
    if isinstance(key, dict):
        return dict, frozenset((_identity(k), _identity(v)) for k, v in key.items())
    if isinstance(key, set | frozenset):
        return frozenset, frozenset(_identity(k) for k in key)
    return type(key), key


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and \
        math.isfinite(value)


MODELS: dict[str, type[Model]] = {m.name: m for m in (Register, CasRegister, KeyValue, Mutex,
                                                      Bank)}


def make_model(name: str, init: Any = _UNSET) -> Model:
    """The model called ``name`` (see :data:`MODELS`), with initial value ``init`` when
    given."""
    if name not in MODELS:
        raise HistoryError(f"choose one of {', '.join(MODELS)}; got {name!r}", "--model")
    return MODELS[name]() if init is _UNSET else MODELS[name](init)
