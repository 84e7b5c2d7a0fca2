"""Hypothesis strategies for batches, importable by users.

The number of transactions is drawn uniformly between the bounds (a plain list's length
would favour one- and two-transaction batches, in which no two transactions can race). Each
transaction is drawn as a tuple of small integers and mapped to a
:class:`~aethel.model.Transaction`; lists of such tuples shrink towards fewer, simpler
transactions on fewer accounts, so a failing batch shrinks to a minimal one. Amounts
shrink towards 1 and transfers towards two distinct accounts, so that a shrunk example still
moves money (zero amounts and self-transfers are generated, just not preferred).

>>> from hypothesis import given
>>> from harness.strategies import batches
>>> @given(batches(max_transactions=8, contention="high"))
... def test_my_executor(batch): ...
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from hypothesis import strategies as st

from aethel.model import ATOMIC, INDEPENDENT, Batch, Transaction
from aethel.operations import MAX_AMOUNT, Call, Deposit, Read, Sleep, Spin, Transfer, Withdraw

OPS = ("transfer", "deposit", "withdraw", "read")
"""The default operation mix."""
CAMPAIGN_OPS = (*OPS, "assign", "touch")
"""A wider mix: also blind writes and user code touching an account it did not declare
(which a correct executor aborts)."""
FAILING_FUNCTION = "aethel.examples:fail"
ASSIGN_FUNCTION = "aethel.examples:assign"
TOUCH_FUNCTION = "aethel.examples:touch_undeclared"


@dataclass(frozen=True)
class _TxDraw:
    kind: int
    a: int
    b: int
    amount: int
    extra_reads: list[int]
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
             forward_deps: bool, failing: bool, overflow: bool, cost_us: tuple[int, ...],
             max_reads: int) -> st.SearchStrategy:
    amount = st.one_of(st.integers(1, 60), st.just(0))
    if overflow:
        amount = st.one_of(amount, st.just(MAX_AMOUNT))
    after = st.none()
    if explicit_deps:
        after = after | st.integers(1, 4)
        if forward_deps:
            after = after | st.integers(-4, -1)
    return st.builds(
        _TxDraw,
        kind=st.integers(0, len(ops) - 1),
        a=_account(n_accounts, contention),
        b=_account(n_accounts, contention),
        amount=amount,
        extra_reads=st.lists(_account(n_accounts, contention), max_size=max_reads),
        after=after,
        cost=st.sampled_from(cost_us) if cost_us else st.just(0),
        fails=st.integers(0, 4).map(lambda x: x == 4) if failing else st.just(False),
    )


def _transaction(i: int, d: _TxDraw, ops: tuple[str, ...], n_accounts: int, size: int
                 ) -> Transaction:
    a, b = account_name(d.a), account_name((d.a + 1 + d.b) % n_accounts)
    kind = ops[d.kind]
    steps: list = []
    if kind == "transfer":
        steps.append(Transfer(a, b, d.amount))
    elif kind == "deposit":
        steps.append(Deposit(a, d.amount))
    elif kind == "withdraw":
        steps.append(Withdraw(a, d.amount))
    elif kind == "assign":
        steps.append(Call(ASSIGN_FUNCTION, (), (a,), (("account", a), ("value", d.amount))))
    elif kind == "touch":
        steps.append(Call(TOUCH_FUNCTION, (), (), (("account", a),)))
    else:
        steps.append(Read(a))
    steps.extend(Read(r) for r in sorted({account_name(r) for r in d.extra_reads}))
    if d.cost:
        steps.append(Spin(us=d.cost) if d.cost > 0 else Sleep(-d.cost / 1000))
    if d.fails:
        steps.append(Call(FAILING_FUNCTION))
    dep = i - d.after if d.after is not None else -1
    return Transaction(f"t{i}", tuple(steps), after=(f"t{dep}",) if 0 <= dep < size else ())


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
            cost_us: tuple[int, ...] = (), max_balance: int = 100, max_reads: int = 1
            ) -> Batch:
    """Random valid batches.

    ``contention``: ``"low"`` (uniform accounts) or ``"high"`` (half the accesses hit one
    hot account). ``ops``: the operation mix, from ``transfer``, ``deposit``, ``withdraw``,
    ``read``, ``assign`` (a blind write) and ``touch`` (an undeclared access).
    ``explicit_deps``: some transactions run ``after`` one of the four before them;
    ``forward_deps``: or after one of the four after them, which moves the serial order
    (an ``after`` that would close a cycle is dropped).
    ``failing``: about one transaction in five ends with an operation that raises.
    ``overflow``: amounts of 2^63-1 appear. ``cost_us``: per-transaction work to choose
    from (positive: spin µs; negative: sleep of that many µs). ``max_reads``: extra accounts
    each transaction reads.
    """
    n_accounts = draw(st.integers(2, max_accounts))
    balances = draw(st.lists(st.integers(0, max_balance), min_size=n_accounts,
                             max_size=n_accounts))
    size = draw(st.integers(min_transactions, max_transactions))
    draws = draw(st.lists(
        _tx_draw(n_accounts, ops, contention, explicit_deps, forward_deps, failing, overflow,
                 cost_us, max_reads),
        min_size=size, max_size=size))
    mode = draw(st.sampled_from(modes))
    txs = [_transaction(i, d, ops, n_accounts, size) for i, d in enumerate(draws)]
    return Batch({account_name(i): v for i, v in enumerate(balances)},
                 tuple(_without_cycles(txs) if forward_deps else txs), mode)
