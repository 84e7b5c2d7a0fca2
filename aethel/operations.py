"""Operations: the steps of a transaction, their declared accounts and their semantics.

Every operation declares the accounts it reads and writes and applies itself to an
:class:`Context` (an :class:`~aethel.context.ExecutionContext`), which enforces those
declarations. Cost-only
operations (``spin``, ``hash``, ``sleep``) touch no account; they model work for tests
and benchmarks: ``spin`` burns pure-Python CPU under the GIL, ``hash`` runs sha256,
which releases the GIL, and ``sleep`` waits.
"""

from __future__ import annotations

import hashlib
import importlib
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from aethel.allowed import check_allowed
from aethel.errors import (
    InsufficientFundsError,
    TransactionCancelled,
    TransactionFailure,
    UndeclaredAccessError,
)


class Context(Protocol):
    """What an operation applies itself to: the balances of its transaction's declared
    accounts."""

    def read(self, account: str) -> int: ...

    def write(self, account: str, value: int) -> None: ...


class Operation(Protocol):
    """What every operation provides."""

    kind: str

    @property
    def reads(self) -> tuple[str, ...]: ...

    @property
    def writes(self) -> tuple[str, ...]: ...

    def apply(self, ctx: Context, cancel: threading.Event | None) -> None: ...

    def cost_us(self) -> float: ...


class _CostOnly:
    """An operation that touches no account."""

    __slots__ = ()

    @property
    def reads(self) -> tuple[str, ...]:
        return ()

    @property
    def writes(self) -> tuple[str, ...]:
        return ()


class _UpdatesOne:
    """An operation that reads and writes ``self.account``."""

    __slots__ = ()

    @property
    def reads(self) -> tuple[str, ...]:
        return (self.account,)

    @property
    def writes(self) -> tuple[str, ...]:
        return (self.account,)


@dataclass(frozen=True, slots=True)
class Transfer:
    """Move ``amount`` from ``src`` to ``dst``; fails if ``src`` holds less."""

    src: str
    dst: str
    amount: int
    kind: str = field(default="transfer", init=False, repr=False)

    @property
    def reads(self) -> tuple[str, ...]:
        return (self.src, self.dst)

    @property
    def writes(self) -> tuple[str, ...]:
        return (self.src, self.dst)

    def apply(self, ctx: Context, cancel: threading.Event | None) -> None:
        balance = ctx.read(self.src)
        if balance < self.amount:
            raise InsufficientFundsError(
                f"insufficient funds: {self.src} has {balance}, transfer needs {self.amount}"
            )
        ctx.write(self.src, balance - self.amount)
        ctx.write(self.dst, ctx.read(self.dst) + self.amount)

    def cost_us(self) -> float:
        return 2.0


@dataclass(frozen=True, slots=True)
class Deposit(_UpdatesOne):
    """Add ``amount`` to ``account``; fails on overflow."""

    account: str
    amount: int
    kind: str = field(default="deposit", init=False, repr=False)

    def apply(self, ctx: Context, cancel: threading.Event | None) -> None:
        ctx.write(self.account, ctx.read(self.account) + self.amount)

    def cost_us(self) -> float:
        return 1.0


@dataclass(frozen=True, slots=True)
class Withdraw(_UpdatesOne):
    """Take ``amount`` from ``account``; fails if the balance is smaller."""

    account: str
    amount: int
    kind: str = field(default="withdraw", init=False, repr=False)

    def apply(self, ctx: Context, cancel: threading.Event | None) -> None:
        balance = ctx.read(self.account)
        if balance < self.amount:
            raise InsufficientFundsError(
                f"insufficient funds: {self.account} has {balance}, withdrawal needs {self.amount}"
            )
        ctx.write(self.account, balance - self.amount)

    def cost_us(self) -> float:
        return 1.0


@dataclass(frozen=True, slots=True)
class GuardedWithdraw:
    """Take ``amount`` from ``account`` only if ``account`` and ``other`` together keep at
    least ``floor``; otherwise do nothing.

    Reads both accounts and writes only ``account``: two guarded withdrawals from the two
    sides of one pair are the classic write skew (Adya's G2-item). The guard is
    ``balance(account) + balance(other) - amount >= floor``, computed exactly (an
    ``other`` equal to ``account`` is counted once). A blocked withdrawal never fails; one
    the guard lets through fails like :class:`Withdraw` if ``account`` holds less than
    ``amount``.
    """

    account: str
    other: str
    amount: int
    floor: int
    kind: str = field(default="guarded_withdraw", init=False, repr=False)

    @property
    def reads(self) -> tuple[str, ...]:
        return (self.account, self.other)

    @property
    def writes(self) -> tuple[str, ...]:
        return (self.account,)

    def apply(self, ctx: Context, cancel: threading.Event | None) -> None:
        balance = ctx.read(self.account)
        total = balance if self.other == self.account else balance + ctx.read(self.other)
        if total - self.amount < self.floor:
            return
        if balance < self.amount:
            raise InsufficientFundsError(
                f"insufficient funds: {self.account} has {balance}, withdrawal needs {self.amount}"
            )
        ctx.write(self.account, balance - self.amount)

    def cost_us(self) -> float:
        return 2.0


@dataclass(frozen=True, slots=True)
class Read:
    """Read ``account`` (recorded in the trace with the version observed)."""

    account: str
    kind: str = field(default="read", init=False, repr=False)

    @property
    def reads(self) -> tuple[str, ...]:
        return (self.account,)

    @property
    def writes(self) -> tuple[str, ...]:
        return ()

    def apply(self, ctx: Context, cancel: threading.Event | None) -> None:
        ctx.read(self.account)

    def cost_us(self) -> float:
        return 1.0


_CANCEL_CHECK_EVERY = 2048


@dataclass(frozen=True, slots=True)
class Spin(_CostOnly):
    """Pure-Python CPU work that holds the GIL.

    Exactly one of ``us`` (CPU microseconds of this thread, measured with
    ``time.thread_time_ns`` so that time spent waiting for the GIL does not count)
    or ``iterations`` (a fixed loop count) is set.
    """

    us: int | None = None
    iterations: int | None = None
    kind: str = field(default="spin", init=False, repr=False)

    def apply(self, ctx: Context, cancel: threading.Event | None) -> None:
        if self.iterations is not None:
            _spin_iterations(self.iterations, cancel)
        else:
            _spin_cpu_time(self.us or 0, cancel)

    def cost_us(self) -> float:
        if self.iterations is not None:
            return self.iterations * 0.05
        return float(self.us or 0)


def _spin_iterations(iterations: int, cancel: threading.Event | None) -> None:
    acc = 0
    done = 0
    while done < iterations:
        step = min(_CANCEL_CHECK_EVERY, iterations - done)
        for i in range(step):
            acc = (acc + i * i) & 0xFFFF
        done += step
        if cancel is not None and cancel.is_set():
            raise TransactionCancelled("cancelled while spinning")


def _spin_cpu_time(us: int, cancel: threading.Event | None) -> None:
    deadline = time.thread_time_ns() + us * 1000
    acc = 0
    while time.thread_time_ns() < deadline:
        for i in range(64):
            acc = (acc + i * i) & 0xFFFF
        if cancel is not None and cancel.is_set():
            raise TransactionCancelled("cancelled while spinning")


_ZEROS = bytes(1 << 20)


@dataclass(frozen=True, slots=True)
class Hash(_CostOnly):
    """sha256 over ``nbytes`` bytes; hashlib releases the GIL on buffers over 2 KiB."""

    nbytes: int
    kind: str = field(default="hash", init=False, repr=False)

    def apply(self, ctx: Context, cancel: threading.Event | None) -> None:
        digest = hashlib.sha256()
        view = memoryview(_ZEROS)
        remaining = self.nbytes
        while remaining > 0:
            step = min(remaining, len(_ZEROS))
            digest.update(view[:step])
            remaining -= step
            if cancel is not None and cancel.is_set():
                raise TransactionCancelled("cancelled while hashing")

    def cost_us(self) -> float:
        return self.nbytes / 1000.0


@dataclass(frozen=True, slots=True)
class Sleep(_CostOnly):
    """Wait ``ms`` milliseconds without using the CPU."""

    ms: float
    kind: str = field(default="sleep", init=False, repr=False)

    def apply(self, ctx: Context, cancel: threading.Event | None) -> None:
        if cancel is None:
            time.sleep(self.ms / 1000.0)
        elif cancel.wait(self.ms / 1000.0):
            raise TransactionCancelled("cancelled while sleeping")

    def cost_us(self) -> float:
        return self.ms * 1000.0


_FUNCTIONS: dict[str, Any] = {}


def load_object(name: str) -> Any:
    """Import the object ``module:attr`` names (``attr`` may be dotted: ``Class.method``)."""
    module_name, _, attr = name.partition(":")
    target = importlib.import_module(module_name)
    for part in attr.split("."):
        target = getattr(target, part)
    return target


def object_name(obj: Any) -> str:
    """The ``module:attr`` name :func:`load_object` imports ``obj`` by."""
    return f"{obj.__module__}:{obj.__qualname__}"


def resolve_function(name: str) -> Any:
    """Import ``module:function`` (cached per process) if its module is allowed
    (:mod:`aethel.allowed`); otherwise raise :class:`~aethel.errors.InputError`."""
    check_allowed(name, "call")
    fn = _FUNCTIONS.get(name)
    if fn is None:
        fn = load_object(name)
        if not callable(fn):
            raise TypeError(f"{name} is not callable")
        _FUNCTIONS[name] = fn
    return fn


@dataclass(frozen=True, slots=True)
class Call:
    """A user-defined operation: ``function(view, **args)`` with ``function`` = ``module:name``.

    The function receives an :class:`AccountView` of only ``reads`` and ``writes``;
    any other account raises :class:`UndeclaredAccessError`. An exception aborts the
    transaction.
    """

    function: str
    call_reads: tuple[str, ...] = ()
    call_writes: tuple[str, ...] = ()
    args: tuple[tuple[str, Any], ...] = ()
    kind: str = field(default="call", init=False, repr=False)

    @property
    def reads(self) -> tuple[str, ...]:
        return self.call_reads

    @property
    def writes(self) -> tuple[str, ...]:
        return self.call_writes

    def apply(self, ctx: Context, cancel: threading.Event | None) -> None:
        fn = resolve_function(self.function)
        view = AccountView(ctx, frozenset(self.call_reads) | frozenset(self.call_writes),
                           frozenset(self.call_writes))
        fn(view, **dict(self.args))

    def cost_us(self) -> float:
        return 1.0


class AccountView:
    """The accounts a user-defined operation declared, and nothing else."""

    __slots__ = ("_ctx", "_readable", "_writable")

    def __init__(self, ctx: Context, readable: frozenset[str], writable: frozenset[str]):
        self._ctx = ctx
        self._readable = readable
        self._writable = writable

    def __getitem__(self, account: str) -> int:
        if account not in self._readable:
            raise UndeclaredAccessError(f"read of undeclared account {account!r}")
        return self._ctx.read(account)

    def __setitem__(self, account: str, value: int) -> None:
        if account not in self._writable:
            raise UndeclaredAccessError(f"write to undeclared account {account!r}")
        if isinstance(value, bool) or not isinstance(value, int):
            raise TransactionFailure(f"balance of {account} must be an integer, got {value!r}")
        self._ctx.write(account, value)

    def __contains__(self, account: object) -> bool:
        return account in self._readable

    def __iter__(self):
        return iter(sorted(self._readable))

    def __len__(self) -> int:
        return len(self._readable)
