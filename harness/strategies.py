"""Hypothesis strategies for batches, importable by users.

Each transaction is drawn as a tuple of small integers and mapped to a
:class:`~aethel.model.Transaction`; lists of such tuples shrink towards fewer, simpler
transactions on fewer accounts, so a failing batch shrinks to a minimal one.

>>> from hypothesis import given
>>> from harness.strategies import batches
>>> @given(batches(max_transactions=8, contention="high"))
... def test_my_executor(batch): ...
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

from aethel.model import ATOMIC, INDEPENDENT, Batch, Transaction
from aethel.operations import MAX_AMOUNT, Call, Deposit, Read, Sleep, Spin, Transfer, Withdraw

OPS = ("transfer", "deposit", "withdraw", "read")
FAILING_FUNCTION = "aethel.examples:fail"


@dataclass(frozen=True)
class _TxDraw:
    kind: int
    a: int
    b: int
    amount: int
    extra_read: int | None
    after: int | None
    cost: int
    fails: bool


def account_name(i: int) -> str:
    """The name of generated account ``i``."""
    return f"acct{i}"


def _account(n: int, contention: str) -> st.SearchStrategy[int]:
    uniform = st.integers(0, n - 1)
    if contention == "high":
        return st.one_of(st.just(0), uniform)
    return uniform


def _tx_draw(n_accounts: int, ops: tuple[str, ...], contention: str, explicit_deps: bool,
             failing: bool, overflow: bool, cost_us: tuple[int, ...]) -> st.SearchStrategy:
    amount = st.integers(0, 60)
    if overflow:
        amount = st.one_of(amount, st.just(MAX_AMOUNT))
    return st.builds(
        _TxDraw,
        kind=st.integers(0, len(ops) - 1),
        a=_account(n_accounts, contention),
        b=_account(n_accounts, contention),
        amount=amount,
        extra_read=st.none() | _account(n_accounts, contention),
        after=st.none() | st.integers(1, 4) if explicit_deps else st.none(),
        cost=st.sampled_from(cost_us) if cost_us else st.just(0),
        fails=st.booleans() if failing else st.just(False),
    )


def _transaction(i: int, d: _TxDraw, ops: tuple[str, ...]) -> Transaction:
    a, b = account_name(d.a), account_name(d.b)
    kind = ops[d.kind]
    steps: list = []
    if kind == "transfer":
        steps.append(Transfer(a, b, d.amount))
    elif kind == "deposit":
        steps.append(Deposit(a, d.amount))
    elif kind == "withdraw":
        steps.append(Withdraw(a, d.amount))
    else:
        steps.append(Read(a))
    if d.cost:
        steps.append(Spin(us=d.cost) if d.cost > 0 else Sleep(-d.cost / 1000))
    if d.fails:
        steps.append(Call(FAILING_FUNCTION))
    reads = frozenset() if d.extra_read is None else frozenset({account_name(d.extra_read)})
    after = (f"t{i - d.after}",) if d.after is not None and d.after <= i else ()
    return Transaction(f"t{i}", tuple(steps), reads=reads, after=after)


@st.composite
def batches(draw: st.DrawFn, min_transactions: int = 1, max_transactions: int = 12,
            max_accounts: int = 6, contention: str = "low", ops: tuple[str, ...] = OPS,
            explicit_deps: bool = True, failing: bool = True, overflow: bool = False,
            modes: tuple[str, ...] = (INDEPENDENT, ATOMIC), cost_us: tuple[int, ...] = (),
            max_balance: int = 100) -> Batch:
    """Random valid batches.

    ``contention``: ``"low"`` (uniform accounts) or ``"high"`` (half the accesses hit one
    hot account). ``ops``: the operation mix. ``failing``: some transactions end with an
    operation that raises. ``overflow``: amounts of 2^63-1 appear. ``cost_us``: per-transaction
    work to choose from (positive: spin µs; negative: sleep of that many µs).
    """
    n_accounts = draw(st.integers(2, max_accounts))
    balances = draw(st.lists(st.integers(0, max_balance), min_size=n_accounts,
                             max_size=n_accounts))
    draws = draw(st.lists(
        _tx_draw(n_accounts, ops, contention, explicit_deps, failing, overflow, cost_us),
        min_size=min_transactions, max_size=max_transactions))
    mode = draw(st.sampled_from(modes))
    return Batch({account_name(i): v for i, v in enumerate(balances)},
                 tuple(_transaction(i, d, ops) for i, d in enumerate(draws)), mode)
