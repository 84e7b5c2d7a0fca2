"""Hypothesis strategies for batches, importable by users.

The number of transactions is drawn uniformly between the bounds (a plain list's length
would favour one- and two-transaction batches, in which no two transactions can race).
Most transactions are one operation on one or two accounts, some of them reading more
accounts, running costly work, failing or running ``after`` another transaction.

By default about a quarter of the transactions also take a shape an executor can get wrong
(``shapes``): two or three operations on a shared account (a read or a write after a write of
the same transaction, two transfers sharing a side), a transfer from an account to itself,
accounts declared in ``reads``/``writes`` but never used, an empty transaction, and one that
only does costly work (between conflicting ones, it must not order them). Amounts and
balances include 0 and 1; by default amounts also hit the balance of the paying account, one
less and one more (``boundaries``). With ``overflow``, amounts and balances also reach within
a few units of 2^63-1, on both sides of an overflow.

A guarded withdrawal (``guarded_withdraw``, in :data:`CAMPAIGN_OPS`) takes an amount from one
account of a pair unless the pair would keep less than its floor; two of them on the two
sides of a pair are write skew. Its floor is 0, or what the pair's initial balances keep
after the withdrawal (the guard passes with nothing to spare), or one more (it blocks by
one), so that guards passing and guards blocking are both common.

Everything shrinks towards fewer, simpler transactions on fewer accounts: one operation,
amounts of 1 between two distinct accounts holding at least 1 (so that a shrunk example
still moves money), floors of 0, no shape. Zero amounts, self-transfers, floors at the
pair's total and boundaries are generated, just not preferred: each is a later choice than
the preferred case, and draws at least as much (Hypothesis takes a shorter draw for a
simpler one).

>>> from hypothesis import given
>>> from harness.campaign.strategies import batches
>>> @given(batches(max_transactions=8, contention="high"))
... def test_my_executor(batch): ...
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from itertools import accumulate
from typing import TypeVar

from hypothesis import strategies as st
from hypothesis.internal.conjecture import providers
from hypothesis.internal.constants_ast import Constants

from aethel import examples
from aethel.model import ATOMIC, INDEPENDENT, MAX_AMOUNT, Batch, Transaction
from aethel.operations import (
    Call,
    Deposit,
    GuardedWithdraw,
    Operation,
    Read,
    Sleep,
    Spin,
    Transfer,
    Withdraw,
    object_name,
)

OPS = ("transfer", "deposit", "withdraw", "read")
"""The default operation mix."""
CAMPAIGN_OPS = (*OPS, "assign", "touch", "guarded_withdraw")
"""A wider mix: also blind writes, user code touching an account it did not declare (which a
correct executor aborts) and guarded withdrawals (which read two accounts and write one, the
stuff of write skew)."""
SHARED_OPS = ("transfer", "deposit", "withdraw", "read", "assign", "guarded_withdraw")
"""The operations that may share an account within a transaction (of those in the mix)."""
FAILING_FUNCTION = object_name(examples.fail)
ASSIGN_FUNCTION = object_name(examples.assign)
TOUCH_FUNCTION = object_name(examples.touch_undeclared)
COST_ONLY_US = 20
"""The work (spin µs) of a cost-only transaction when ``cost_us`` offers none."""

_PLAIN, _SHARED, _EMPTY, _COST_ONLY = "plain", "shared", "empty", "cost-only"
_EXTRA_READ, _EXTRA_WRITE = "extra read", "extra write"
_FORMS = ((20, _PLAIN), (4, _SHARED), (1, _EMPTY), (1, _COST_ONLY), (1, _EXTRA_READ),
          (1, _EXTRA_WRITE))
"""Transaction forms with their weights when ``shapes`` is on (an extra read or write is a
plain transaction that also declares an account it does not use)."""
_SMALL, _ZERO, _AT_BALANCE, _NEAR_MAX = "small", "zero", "at balance", "near max"
"""Kinds of amounts and balances."""
_FLOOR_ZERO, _FLOOR_AT_TOTAL, _FLOOR_ABOVE_TOTAL = "zero", "at total", "above total"
_FLOORS = ((3, _FLOOR_ZERO), (3, _FLOOR_AT_TOTAL), (2, _FLOOR_ABOVE_TOTAL))
"""Kinds of floors of a guarded withdrawal with their weights: 0, what the pair keeps after
the withdrawal (the guard passes with nothing to spare) and one more (the guard blocks by
one), the last two judged from the initial balances."""
_PAIRED = ("transfer", "guarded_withdraw")
"""Operation kinds on two accounts."""
_T = TypeVar("_T")


@dataclass(frozen=True)
class _Plan:
    """What the transactions of one batch are drawn from: its initial balances and the
    options of :func:`batches`."""

    balances: tuple[int, ...]
    ops: tuple[str, ...]
    contention: str
    explicit_deps: bool
    forward_deps: bool
    failing: bool
    overflow: bool
    shapes: bool
    boundaries: bool
    cost_us: tuple[int, ...]
    max_reads: int

    @property
    def n_accounts(self) -> int:
        return len(self.balances)

    @property
    def shared_ops(self) -> tuple[str, ...]:
        return tuple(kind for kind in self.ops if kind in SHARED_OPS)

    @property
    def forms(self) -> tuple[tuple[int, str], ...]:
        """The transaction forms with their weights."""
        if not self.shapes:
            return ((1, _PLAIN),)
        return tuple(choice for choice in _FORMS if choice[1] != _SHARED or self.shared_ops)

    @property
    def amount_kinds(self) -> tuple[tuple[int, str], ...]:
        """The kinds of amounts with their weights."""
        return ((8, _SMALL), (1, _ZERO), *([(2, _AT_BALANCE)] if self.boundaries else []),
                *([(2, _NEAR_MAX)] if self.overflow else []))


@dataclass(frozen=True)
class _TxDraw:
    """A drawn transaction before it gets its id: ``after`` is an offset back (forward if
    negative) to the transaction it runs after."""

    ops: tuple[Operation, ...]
    reads: frozenset[str]
    writes: frozenset[str]
    after: int | None


def account_name(i: int) -> str:
    """The name of generated account ``i``."""
    return f"acct{i}"


def _one_first(high: int) -> st.SearchStrategy[int]:
    """Integers from 0 to ``high`` that shrink towards 1, not 0 (0 is drawn about as often,
    just not preferred), so that a shrunk race still moves money the balances show."""
    return st.integers(0, high).map(lambda n: (n + 1) % (high + 1))


def _pick(draw: st.DrawFn, choices: tuple[tuple[int, _T], ...]) -> _T:
    """One of the ``(weight, value)`` choices, drawn in proportion to the weights; shrinks
    towards the first."""
    pick = draw(st.integers(0, sum(weight for weight, _ in choices) - 1))
    return choices[bisect_right(list(accumulate(weight for weight, _ in choices)), pick)][1]


@st.composite
def _balance(draw: st.DrawFn, max_balance: int, overflow: bool) -> int:
    """An initial balance up to ``max_balance``: preferably at least 1, sometimes 0; with
    ``overflow``, sometimes within 3 of 2^63-1."""
    kind = _pick(draw, ((8, _SMALL), (1, _ZERO), *([(1, _NEAR_MAX)] if overflow else [])))
    small = draw(st.integers(min(1, max_balance), max_balance))
    if kind == _SMALL:
        return small
    if kind == _ZERO:
        return 0
    return MAX_AMOUNT - draw(st.integers(0, 3))


def _draw_account(draw: st.DrawFn, plan: _Plan, count: int | None = None) -> int:
    """An account index below ``count`` (default: all accounts); under high contention,
    half of them 0, the hot account."""
    if plan.contention == "high" and draw(st.booleans()):
        return 0
    return draw(st.integers(0, (plan.n_accounts if count is None else count) - 1))


def _draw_other(draw: st.DrawFn, plan: _Plan, account: int) -> int:
    """The other side of a transfer or a guarded withdrawal: preferably the next account,
    any other, and with ``shapes`` sometimes ``account`` itself."""
    itself = plan.shapes and _pick(draw, ((9, False), (1, True)))
    n = plan.n_accounts
    other = (account + 1 + _draw_account(draw, plan, n - 1)) % n
    return account if itself else other


def _draw_amount(draw: st.DrawFn, plan: _Plan, source: int, target: int) -> int:
    """An amount paid from account ``source`` into ``target``: small and non-zero first,
    then 0; with ``boundaries``, the source's balance ±1; with ``overflow``, what takes the
    target's balance to within 3 of 2^63-1, either side."""
    kind = _pick(draw, plan.amount_kinds)
    small = draw(st.integers(1, 60))
    if kind == _SMALL:
        return small
    if kind == _ZERO:
        return 0
    if kind == _AT_BALANCE:
        return min(MAX_AMOUNT, max(0, plan.balances[source] + draw(st.integers(-1, 1))))
    room = MAX_AMOUNT - plan.balances[target]
    return min(MAX_AMOUNT, max(0, room + draw(st.integers(-3, 3))))


def _draw_floor(draw: st.DrawFn, plan: _Plan, account: int, other: int, amount: int) -> int:
    """The floor of a guarded withdrawal of ``amount`` from ``account`` beside ``other``:
    0 first, then the pair's initial total less ``amount`` (the guard passes exactly) or one
    more (it blocks by one), within [-(2^63-1), 2^63-1]."""
    kind = _pick(draw, _FLOORS)
    if kind == _FLOOR_ZERO:
        return 0
    kept = sum(plan.balances[i] for i in {account, other}) - amount
    return max(-MAX_AMOUNT, min(MAX_AMOUNT, kept + (kind == _FLOOR_ABOVE_TOTAL)))


def _draw_operation(draw: st.DrawFn, plan: _Plan, kind: str, account: int, other: int
                    ) -> Operation:
    """One operation of ``kind`` on ``account`` (a transfer: from ``account`` to ``other``;
    a guarded withdrawal: from ``account``, guarded by the pair with ``other``)."""
    a, b = account_name(account), account_name(other)
    if kind == "read":
        return Read(a)
    if kind == "touch":
        return Call(TOUCH_FUNCTION, (), (), (("account", a),))
    amount = _draw_amount(draw, plan, account, other if kind == "transfer" else account)
    if kind == "transfer":
        return Transfer(a, b, amount)
    if kind == "deposit":
        return Deposit(a, amount)
    if kind == "withdraw":
        return Withdraw(a, amount)
    if kind == "guarded_withdraw":
        return GuardedWithdraw(a, b, amount, _draw_floor(draw, plan, account, other, amount))
    return Call(ASSIGN_FUNCTION, (), (a,), (("account", a), ("value", amount)))


def _draw_operations(draw: st.DrawFn, plan: _Plan, kinds: tuple[str, ...], count: int
                     ) -> list[Operation]:
    """``count`` operations of ``kinds``. Each after the first acts on an account an
    earlier one touched (a transfer or a guarded withdrawal on either side), so that they
    share an account."""
    touched = [_draw_account(draw, plan)]
    ops = []
    for i in range(count):
        kind = draw(st.sampled_from(kinds))
        account = draw(st.sampled_from(touched))
        other = account
        if kind in _PAIRED:
            other = _draw_other(draw, plan, account)
            if other not in touched:
                touched.append(other)
            if i > 0 and draw(st.booleans()):
                account, other = other, account
        ops.append(_draw_operation(draw, plan, kind, account, other))
    return ops


def _cost_op(us: int) -> Operation:
    """Work of ``us`` µs: spinning if positive, sleeping ``-us`` µs if negative."""
    return Spin(us=us) if us >= 0 else Sleep(-us / 1000)


def _draw_body(draw: st.DrawFn, plan: _Plan, form: str) -> list[Operation]:
    """The operations of a transaction of ``form``: one, two or three sharing an account
    (then maybe reads of more accounts, costly work and an operation that raises), none, or
    only costly work. Every form draws a plain body first, so that plain is the simplest."""
    if form == _SHARED:
        ops = _draw_operations(draw, plan, plan.shared_ops, draw(st.integers(2, 3)))
    else:
        ops = _draw_operations(draw, plan, plan.ops, 1)
    reads = {_draw_account(draw, plan) for _ in range(draw(st.integers(0, plan.max_reads)))}
    ops.extend(Read(account_name(r)) for r in sorted(reads))
    cost = draw(st.sampled_from(plan.cost_us)) if plan.cost_us else 0
    if cost:
        ops.append(_cost_op(cost))
    if plan.failing and draw(st.integers(0, 4)) == 4:
        ops.append(Call(FAILING_FUNCTION))
    if form == _EMPTY:
        return []
    if form == _COST_ONLY:
        return [_cost_op(draw(st.sampled_from(
            tuple(us for us in plan.cost_us if us) or (COST_ONLY_US,))))]
    return ops


_BACKWARD = st.none() | st.integers(1, 4)
_EITHER_WAY = _BACKWARD | st.integers(-4, -1)


def _draw_after(draw: st.DrawFn, plan: _Plan) -> int | None:
    """The offset to the transaction one runs after: none, one of the four before it, or
    with ``forward_deps`` one of the four after it (negative)."""
    if not plan.explicit_deps:
        return None
    return draw(_EITHER_WAY if plan.forward_deps else _BACKWARD)


@st.composite
def _tx_draw(draw: st.DrawFn, plan: _Plan) -> _TxDraw:
    """One transaction, without its id."""
    form = _pick(draw, plan.forms)
    ops = _draw_body(draw, plan, form)
    extra: frozenset[str] = frozenset()
    if form in (_EXTRA_READ, _EXTRA_WRITE):
        extra = frozenset({account_name(_draw_account(draw, plan))})
    return _TxDraw(tuple(ops), extra if form == _EXTRA_READ else frozenset(),
                   extra if form == _EXTRA_WRITE else frozenset(), _draw_after(draw, plan))


def _transaction(i: int, d: _TxDraw, size: int) -> Transaction:
    """Transaction ``t{i}`` of a batch of ``size``; an ``after`` outside the batch is
    dropped."""
    dep = i - d.after if d.after is not None else -1
    return Transaction(f"t{i}", d.ops, d.reads, d.writes,
                       after=(f"t{dep}",) if 0 <= dep < size else ())


def _without_cycles(txs: list[Transaction]) -> list[Transaction]:
    """Drop every ``after`` that would close a cycle (each transaction names at most one)."""
    pred: dict[str, str] = {}
    kept = []
    for tx in txs:
        if tx.after:
            node: str | None = tx.after[0]
            while node is not None and node != tx.id:
                node = pred.get(node)
            if node is None:
                pred[tx.id] = tx.after[0]
            else:
                tx = replace(tx, after=())
        kept.append(tx)
    return kept


@st.composite
def batches(draw: st.DrawFn, min_transactions: int = 1, max_transactions: int = 12,
            max_accounts: int = 6, contention: str = "low", ops: tuple[str, ...] = OPS,
            explicit_deps: bool = True, forward_deps: bool = False, failing: bool = True,
            overflow: bool = False, modes: tuple[str, ...] = (INDEPENDENT, ATOMIC),
            cost_us: tuple[int, ...] = (), max_balance: int = 100, max_reads: int = 1,
            shapes: bool = True, boundaries: bool = True) -> Batch:
    """Random valid batches.

    ``contention``: ``"low"`` (uniform accounts) or ``"high"`` (half the accesses hit one
    hot account). ``ops``: the operation mix, from ``transfer``, ``deposit``, ``withdraw``,
    ``read``, ``guarded_withdraw`` (a withdrawal guarded by the total of two accounts),
    ``assign`` (a blind write) and ``touch`` (an undeclared access).
    ``explicit_deps``: some transactions run ``after`` one of the four before them;
    ``forward_deps``: or after one of the four after them, which moves the serial order
    (an ``after`` that would close a cycle is dropped).
    ``failing``: about one transaction in five ends with an operation that raises.
    ``overflow``: amounts and balances within a few units of 2^63-1, so that some deposits
    and transfers reach it exactly and some overflow. ``cost_us``: per-transaction work to
    choose from (positive: spin µs; negative: sleep of that many µs). ``max_reads``: extra
    accounts each transaction reads. ``shapes``: transactions using an account several
    times, self-transfers, unused declarations, empty and cost-only transactions.
    ``boundaries``: amounts at the paying account's initial balance and ±1.
    """
    n_accounts = draw(st.integers(2, max_accounts))
    balances = draw(st.lists(_balance(max_balance, overflow),
                             min_size=n_accounts, max_size=n_accounts))
    plan = _Plan(tuple(balances), ops, contention, explicit_deps, forward_deps, failing,
                 overflow, shapes, boundaries, cost_us, max_reads)
    size = draw(st.integers(min_transactions, max_transactions))
    draws = draw(st.lists(_tx_draw(plan), min_size=size, max_size=size))
    mode = draw(st.sampled_from(modes))
    txs = [_transaction(i, d, size) for i, d in enumerate(draws)]
    return Batch({account_name(i): v for i, v in enumerate(balances)},
                 tuple(_without_cycles(txs) if forward_deps else txs), mode)


@st.composite
def wide_reads(draw: st.DrawFn, min_transactions: int = 20, max_transactions: int = 40,
               max_accounts: int = 40, max_reads: int = 12) -> Batch:
    """Batches whose transactions can all run at once, for as long as possible: 20–40
    transactions each read 6–12 of up to 40 shared accounts (readers never conflict), and
    some also deposit into an account of their own. Every worker records events, reads
    snapshots and hands back results at the same time as the others, which is what a race in
    shared bookkeeping (a trace, a cache, a counter) needs; a campaign's race shards draw
    these. Shrinks towards fewer transactions, fewer reads, no deposits and balances of 1."""
    size = draw(st.integers(min(min_transactions, max_transactions), max_transactions))
    n_accounts = draw(st.integers(min(12, max_accounts), max_accounts))
    shared = [account_name(i) for i in range(n_accounts)]
    reads_each = st.lists(st.sampled_from(shared), min_size=min(6, n_accounts, max_reads),
                          max_size=min(max_reads, n_accounts), unique=True)
    txs = []
    own: dict[str, int] = {}
    for k in range(size):
        ops: list[Operation] = [Read(a) for a in draw(reads_each)]
        if draw(st.booleans()):
            own[f"own{k}"] = draw(_one_first(100))
            ops.append(Deposit(f"own{k}", draw(st.integers(1, 100))))
        txs.append(Transaction(f"t{k}", tuple(ops)))
    balances = draw(st.lists(_one_first(100), min_size=n_accounts, max_size=n_accounts))
    return Batch({**dict(zip(shared, balances, strict=True)), **own}, tuple(txs),
                 draw(st.sampled_from((INDEPENDENT, ATOMIC))))


@st.composite
def hot_chains(draw: st.DrawFn, min_length: int = 10, max_length: int = 24) -> Batch:
    """A few generated transactions followed by two interleaved chains of 10–24
    one-operation updates (deposits, withdrawals, self-transfers) of two hot accounts: each
    install releases the next update of its account while the other chain keeps another
    worker busy, which is what a race between an install and the next dispatch needs. The
    updates' amounts shrink towards 1."""
    base = draw(batches(max_transactions=6, contention="high", modes=(INDEPENDENT,)))
    size = draw(st.integers(min(min_length, max_length), max_length))
    amount = _one_first(60)
    chains = [[Transaction(f"{hot}-{k}", (op,)) for k, op in enumerate(draw(st.lists(
        st.one_of(st.builds(Deposit, st.just(hot), amount),
                  st.builds(Withdraw, st.just(hot), amount),
                  st.builds(Transfer, st.just(hot), st.just(hot), amount)),
        min_size=size, max_size=size)))] for hot in sorted(base.accounts)[:2]]
    return Batch(base.accounts, (*base.transactions, *(tx for pair in zip(*chains, strict=True)
                                                       for tx in pair)), base.mode)


def race_batches(max_transactions: int | None = None) -> st.SearchStrategy[Batch]:
    """The batches of a campaign's race shards: :func:`wide_reads` or :func:`hot_chains`
    (``max_transactions`` bounds the wide batches and the chains, for shrinking)."""
    if max_transactions is None:
        return st.one_of(wide_reads(), hot_chains())
    return st.one_of(wide_reads(max_transactions=max_transactions),
                     hot_chains(max_length=max(1, (max_transactions - 6) // 2)))


_LOCAL_CONSTANTS_LOCK = threading.Lock()
_local_constants_off = 0
_mined_local_constants: Callable[[], Constants] | None = None


@contextmanager
def without_local_constants() -> Iterator[None]:
    """Draw batches as if no module were local. Hypothesis otherwise mixes literals mined
    from the source of modules that are not installed into some of its draws, so the same
    seed would give other batches in an editable checkout than in a wheel install, or beside
    a user's executor module. Safe for threads drawing at the same time."""
    global _local_constants_off, _mined_local_constants
    with _LOCAL_CONSTANTS_LOCK:
        if _local_constants_off == 0:
            _mined_local_constants = providers._get_local_constants
            empty = Constants()
            providers._get_local_constants = lambda: empty
            providers.CONSTANTS_CACHE.cache.clear()
        _local_constants_off += 1
    try:
        yield
    finally:
        with _LOCAL_CONSTANTS_LOCK:
            _local_constants_off -= 1
            if _local_constants_off == 0:
                assert _mined_local_constants is not None
                providers._get_local_constants = _mined_local_constants
                providers.CONSTANTS_CACHE.cache.clear()
