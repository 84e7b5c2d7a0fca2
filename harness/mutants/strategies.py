"""Hypothesis strategies for the mutant hunts, built on :func:`harness.campaign.strategies.batches`.

Some bug classes need shapes that these strategies build themselves, so that a hunt does not
depend on how often the generic strategy draws them: blind writes (a write-write conflict
without a read), user code touching an account it did not declare, several operations of one
transaction on one account, credits that overflow 2^63-1, debits of exactly the balance,
``after`` naming a later transaction. Wide batches and chains of writers of hot accounts
come from :mod:`harness.campaign.strategies` (a campaign's race shards draw them too).
"""

from __future__ import annotations

from hypothesis import strategies as st

from aethel.model import ATOMIC, INDEPENDENT, MAX_AMOUNT, Batch, Transaction
from aethel.operations import (
    Call,
    Deposit,
    Operation,
    Sleep,
    Transfer,
    Withdraw,
)
from harness.campaign.strategies import ASSIGN_FUNCTION as ASSIGN
from harness.campaign.strategies import TOUCH_FUNCTION as TOUCH
from harness.campaign.strategies import batches
from harness.campaign.timeouts import with_slow_transaction


def conflicting() -> st.SearchStrategy[Batch]:
    """Up to 12 transactions, half of the accesses on one hot account, some failing."""
    return batches(max_transactions=12, contention="high")


def failing_atomic() -> st.SearchStrategy[Batch]:
    """Atomic batches with conflicts and failing transactions."""
    return batches(max_transactions=12, contention="high", modes=(ATOMIC,))


def timing_out() -> st.SearchStrategy[Batch]:
    """Timeout examples (:mod:`harness.campaign.timeouts`): conflicting transactions, atomic, behind
    a slow one that outlasts the executor's timeout."""
    return batches(max_transactions=8, contention="high").map(with_slow_transaction)


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


def forward_afters() -> st.SearchStrategy[Batch]:
    """Conflicting transactions, some running ``after`` a later one of the batch."""
    return batches(max_transactions=12, contention="high", forward_deps=True)


def _on_account(account: str, accounts: list[str]) -> st.SearchStrategy[Operation]:
    """An operation that writes ``account``: a deposit, a withdrawal, or a transfer from or
    to it (possibly to itself)."""
    amount = st.integers(0, 60)
    other = st.sampled_from(accounts)
    return st.one_of(st.builds(Deposit, st.just(account), amount),
                     st.builds(Withdraw, st.just(account), amount),
                     st.builds(Transfer, st.just(account), other, amount),
                     st.builds(Transfer, other, st.just(account), amount))


@st.composite
def own_writes(draw: st.DrawFn) -> Batch:
    """Generated transactions plus 1–3 whose two or three operations all write one account,
    so that an operation reads the account after the transaction wrote it."""
    base = draw(batches(max_transactions=8, contention="high"))
    accounts = sorted(base.accounts)
    extra = []
    for k in range(draw(st.integers(1, 3))):
        account = draw(st.sampled_from(accounts))
        ops = draw(st.lists(_on_account(account, accounts), min_size=2, max_size=3))
        extra.append((draw(st.integers(0, len(base))), Transaction(f"s{k}", tuple(ops))))
    return _inserted(base, extra)


@st.composite
def overflowing(draw: st.DrawFn) -> Batch:
    """Generated transactions plus 1–3 deposits within 100 of 2^63-1, which overflow an
    account holding more than the difference (a second one on an account always does)."""
    base = draw(batches(max_transactions=8, contention="high", overflow=True))
    accounts = sorted(base.accounts)
    draws = draw(st.lists(st.tuples(st.integers(0, len(base)), st.sampled_from(accounts),
                                    st.integers(0, 100)), min_size=1, max_size=3))
    return _inserted(base, [(position, Transaction(f"o{k}", (
        Deposit(account, MAX_AMOUNT - below),))) for k, (position, account, below) in
        enumerate(draws)])


@st.composite
def exact_debits(draw: st.DrawFn) -> Batch:
    """Generated transactions behind 1–3 withdrawals or transfers of exactly the initial
    balance of their (distinct) paying accounts."""
    base = draw(batches(max_transactions=8, contention="high"))
    accounts = sorted(base.accounts)
    payers = draw(st.lists(st.sampled_from(accounts), min_size=1, max_size=3, unique=True))
    front = []
    for k, payer in enumerate(payers):
        amount = base.accounts[payer]
        payee = draw(st.none() | st.sampled_from([a for a in accounts if a != payer]))
        op = Withdraw(payer, amount) if payee is None else Transfer(payer, payee, amount)
        front.append((k, Transaction(f"e{k}", (op,))))
    return _inserted(base, front)
