"""Hypothesis strategies for the mutant hunts, built on :func:`harness.strategies.batches`.

Two bug classes need operations the generic strategy does not produce: blind writes (a
write-write conflict without a read) and user code touching an account it did not declare.
"""

from __future__ import annotations

from hypothesis import strategies as st

from aethel.model import ATOMIC, INDEPENDENT, Batch, Transaction
from aethel.operations import Call, Read, Sleep
from harness.strategies import ASSIGN_FUNCTION as ASSIGN
from harness.strategies import TOUCH_FUNCTION as TOUCH
from harness.strategies import batches
from harness.timeouts import with_slow_transaction


def conflicting() -> st.SearchStrategy[Batch]:
    """Up to 12 transactions, half of the accesses on one hot account, some failing."""
    return batches(max_transactions=12, contention="high")


def failing_atomic() -> st.SearchStrategy[Batch]:
    """Atomic batches with conflicts and failing transactions."""
    return batches(max_transactions=12, contention="high", modes=(ATOMIC,))


def timing_out() -> st.SearchStrategy[Batch]:
    """Timeout examples (:mod:`harness.timeouts`): conflicting transactions, atomic, behind
    a slow one that outlasts the executor's timeout."""
    return batches(max_transactions=8, contention="high").map(with_slow_transaction)


@st.composite
def read_heavy(draw: st.DrawFn) -> Batch:
    """20–40 independent transactions, each reading 6–12 of 40 accounts: workers spend most
    of their time recording READ events, concurrently."""
    accounts = [f"acct{i}" for i in range(40)]
    txs = [Transaction(f"t{k}", tuple(Read(a) for a in draw(st.lists(
        st.sampled_from(accounts), min_size=6, max_size=12, unique=True))))
        for k in range(draw(st.integers(20, 40)))]
    return Batch(dict.fromkeys(accounts, 100), tuple(txs))


def _inserted(base: Batch, extra: list[tuple[int, Transaction]]) -> Batch:
    txs = list(base.transactions)
    for position, tx in extra:
        txs.insert(min(position, len(txs)), tx)
    return Batch(base.accounts, tuple(txs), base.mode)


@st.composite
def blind_writes(draw: st.DrawFn) -> Batch:
    """Generated transactions plus 2–6 blind writes, some delayed by a 2 ms sleep, so that
    an earlier write to an account can finish after a later one."""
    base = draw(batches(max_transactions=6, contention="high", failing=False,
                        modes=(INDEPENDENT,)))
    accounts = sorted(base.accounts)
    draws = draw(st.lists(st.tuples(st.integers(0, len(base)), st.sampled_from(accounts),
                                    st.integers(0, 100), st.booleans()), min_size=2, max_size=6))
    extra = []
    for k, (position, account, value, slow) in enumerate(draws):
        write = Call(ASSIGN, (), (account,), (("account", account), ("value", value)))
        extra.append((position, Transaction(f"w{k}", ((Sleep(2.0),) if slow else ()) + (write,))))
    return _inserted(base, extra)


@st.composite
def undeclared_touches(draw: st.DrawFn) -> Batch:
    """Generated transactions plus 1–3 whose user code touches an account it did not declare
    (a correct executor aborts them)."""
    base = draw(batches(max_transactions=8, contention="high"))
    accounts = sorted(base.accounts)
    draws = draw(st.lists(st.tuples(st.integers(0, len(base)), st.sampled_from(accounts)),
                          min_size=1, max_size=3))
    return _inserted(base, [(position, Transaction(f"u{k}", (
        Call(TOUCH, args=(("account", account),)),))) for k, (position, account) in
        enumerate(draws)])
