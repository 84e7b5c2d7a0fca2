"""harness.campaign.strategies: generated batches reach every shape and boundary an executor can get
wrong, and each shrinks to its smallest case (derandomized, so the examples never change)."""

from __future__ import annotations

from itertools import product

import pytest
from hypothesis import HealthCheck, Phase, find, given, settings

from aethel.model import ATOMIC, MAX_AMOUNT, Batch, Transaction
from aethel.operations import Call, Deposit, Operation, Read, Sleep, Spin, Transfer
from harness.campaign.strategies import (
    ASSIGN_FUNCTION,
    CAMPAIGN_OPS,
    SHARED_OPS,
    batches,
)
from harness.checks import serial_oracle

pytestmark = pytest.mark.slow  # Hypothesis searches for each shape: minutes, run by `tox -e slow`

SEARCH = settings(database=None, derandomize=True, max_examples=1000, deadline=None,
                  suppress_health_check=list(HealthCheck))
SMALL = {"max_transactions": 4, "max_accounts": 3}
"""Batches small enough for quick searches and shrinks, large enough for every case."""


def minimal(predicate, **params) -> Batch:
    """The smallest batch of ``batches(**SMALL, **params)`` satisfying ``predicate``."""
    return find(batches(**{**SMALL, **params}), predicate, settings=SEARCH)


def examples(count: int, **params) -> list[Batch]:
    """The first ``count`` batches of ``batches(**params)``."""
    seen: list[Batch] = []

    @settings(SEARCH, max_examples=count, phases=[Phase.generate])
    @given(batches(**params))
    def collect(batch: Batch) -> None:
        seen.append(batch)

    collect()
    return seen


def kind(op: Operation) -> str:
    """The operation's kind, naming a blind write ``assign``."""
    if isinstance(op, Call) and op.function == ASSIGN_FUNCTION:
        return "assign"
    return op.kind


def accounts(op: Operation) -> set[str]:
    return set(op.reads) | set(op.writes)


def shared_pairs(tx: Transaction) -> set[tuple[str, str]]:
    """The kinds of every two operations of ``tx``, in order, that share an account."""
    return {(kind(first), kind(then)) for i, first in enumerate(tx.ops)
            for then in tx.ops[i + 1:] if accounts(first) & accounts(then)}


def amounts(batch: Batch) -> list[int]:
    return [op.amount for tx in batch.transactions for op in tx.ops if hasattr(op, "amount")]


def is_cost_only(tx: Transaction) -> bool:
    return bool(tx.ops) and all(isinstance(op, Spin | Sleep) for op in tx.ops)


def has_shape(tx: Transaction) -> bool:
    """Whether ``tx`` has a shape an executor can get wrong (including a read, among its
    extra reads, of an account it writes)."""
    used = set().union(*map(accounts, tx.ops))
    return (not tx.ops or is_cost_only(tx) or bool(shared_pairs(tx) - {("read", "read")})
            or any(isinstance(op, Transfer) and op.src == op.dst for op in tx.ops)
            or bool((tx.reads | tx.writes) - used))


def conflict(a: Transaction, b: Transaction) -> bool:
    return bool(a.writes & b.accounts or b.writes & a.accounts)


def forward(batch: Batch, tx: Transaction) -> bool:
    """Whether ``tx`` runs after a transaction later in the batch."""
    return bool(tx.after) and batch.ids.index(tx.after[0]) > batch.ids.index(tx.id)


# Shapes


def test_every_ordered_pair_of_operations_shares_an_account_within_a_transaction():
    seen = set().union(*(shared_pairs(tx) for batch in examples(500, ops=CAMPAIGN_OPS)
                         for tx in batch.transactions))
    assert set(product(SHARED_OPS, repeat=2)) <= seen


@pytest.mark.parametrize(("first", "then"), [("deposit", "withdraw"), ("transfer", "read"),
                                             ("assign", "assign"), ("read", "deposit")])
def test_two_operations_on_one_account_shrink_to_one_transaction_of_two(first, then):
    batch = minimal(lambda b: any((first, then) in shared_pairs(tx) for tx in b.transactions),
                    ops=CAMPAIGN_OPS)
    [tx] = batch.transactions
    assert [kind(op) for op in tx.ops] == [first, then]
    assert set(amounts(batch)) <= {1}


def test_read_after_write_within_a_transaction():
    batch = minimal(lambda b: any(
        isinstance(then, Read) and then.account in first.writes
        for tx in b.transactions for i, first in enumerate(tx.ops) for then in tx.ops[i + 1:]))
    assert [tx.ops for tx in batch.transactions] == [(Transfer("acct0", "acct1", 1),
                                                      Read("acct0"))]


def test_two_transfers_sharing_a_side_in_both_directions():
    def chained(b: Batch) -> bool:
        return any(isinstance(x, Transfer) and isinstance(y, Transfer) and x.dst == y.src
                   and x.src != x.dst and y.src != y.dst
                   for tx in b.transactions for i, x in enumerate(tx.ops) for y in tx.ops[i + 1:])

    [tx] = minimal(chained).transactions
    assert tx.ops == (Transfer("acct0", "acct1", 1), Transfer("acct1", "acct0", 1))


def test_transfer_from_an_account_to_itself():
    batch = minimal(lambda b: any(isinstance(op, Transfer) and op.src == op.dst
                                  for tx in b.transactions for op in tx.ops))
    assert [tx.ops for tx in batch.transactions] == [(Transfer("acct0", "acct0", 1),)]
    assert serial_oracle(batch).final_state == batch.accounts


def test_after_names_an_earlier_transaction():
    batch = minimal(lambda b: any(tx.after for tx in b.transactions))
    assert [tx.after for tx in batch.transactions] == [(), ("t0",)]


def test_after_names_a_later_transaction_with_forward_deps():
    batch = minimal(lambda b: any(forward(b, tx) for tx in b.transactions), forward_deps=True)
    assert [tx.after for tx in batch.transactions] == [("t1",), ()]
    assert serial_oracle(batch).order == ("t1", "t0")


def test_after_names_an_earlier_and_a_later_transaction_in_one_batch():
    """(With the default sizes: from the small ones, Hypothesis keeps a fourth transaction.)"""
    batch = minimal(lambda b: {forward(b, tx) for tx in b.transactions if tx.after}
                    == {True, False}, forward_deps=True, max_transactions=12, max_accounts=6)
    assert len(batch) == 3


def test_never_a_forward_after_without_forward_deps():
    assert not any(forward(batch, tx) for batch in examples(200) for tx in batch.transactions)


@pytest.mark.parametrize("side", ["reads", "writes"])
def test_accounts_declared_but_unused(side):
    def unused(tx: Transaction) -> set[str]:
        used = set().union(*(getattr(op, side) for op in tx.ops))
        return getattr(tx, side) - used

    [tx] = minimal(lambda b: any(unused(tx) for tx in b.transactions)).transactions
    assert len(tx.ops) <= 1 and len(unused(tx)) == 1


def test_empty_transaction():
    batch = minimal(lambda b: any(not tx.ops for tx in b.transactions))
    assert [tx.ops for tx in batch.transactions] == [()]


def test_cost_only_transaction_between_two_conflicting_ones():
    def between(b: Batch) -> bool:
        txs = b.transactions
        return any(is_cost_only(txs[j]) and conflict(txs[i], txs[k])
                   for i in range(len(txs)) for j in range(i + 1, len(txs))
                   for k in range(j + 1, len(txs)))

    batch = minimal(between)
    assert len(batch) == 3 and is_cost_only(batch.transactions[1])


# Boundaries


def test_zero_amount():
    batch = minimal(lambda b: 0 in amounts(b))
    assert amounts(batch) == [0] and len(batch) == 1


def test_zero_balance():
    assert sorted(minimal(lambda b: 0 in b.accounts.values()).accounts.values()) == [0, 1]


@pytest.mark.parametrize(("offset", "outcome"), [(-1, "committed"), (0, "committed"),
                                                 (1, "aborted")])
def test_amount_at_the_balance_plus_or_minus_one(offset, outcome):
    """A transfer of the source's initial balance, one less or one more (only that kind of
    amount exceeds 60, the largest small amount)."""
    def at_balance(op: Operation, balances: dict[str, int]) -> bool:
        return (isinstance(op, Transfer) and op.src != op.dst and op.amount > 60
                and op.amount == balances[op.src] + offset)

    batch = minimal(lambda b: any(at_balance(op, b.accounts) for tx in b.transactions
                                  for op in tx.ops))
    assert [len(tx.ops) for tx in batch.transactions] == [1]
    assert serial_oracle(batch).outcomes["t0"][0] == outcome
    if outcome == "aborted":
        assert "InsufficientFunds" in serial_oracle(batch).outcomes["t0"][1]


@pytest.mark.parametrize(("kind", "excesses"), [(Deposit, {0}), (Deposit, {1}), (Deposit, {2}),
                                               (Deposit, {3}), (Transfer, {0}),
                                               (Transfer, {1, 2, 3})])
def test_result_at_max_amount_or_overflowing_it_by_one_to_three(kind, excesses):
    """A deposit, or a transfer its source can afford, that takes its target from the
    initial balance to exactly 2^63-1, or 1-3 past it."""
    def reaches(op: Operation, balances: dict[str, int]) -> bool:
        if not isinstance(op, kind):
            return False
        if isinstance(op, Transfer) and (op.src == op.dst or balances[op.src] < op.amount):
            return False
        target = op.dst if isinstance(op, Transfer) else op.account
        return balances[target] + op.amount - MAX_AMOUNT in excesses

    batch = minimal(lambda b: any(reaches(op, b.accounts) for tx in b.transactions
                                  for op in tx.ops), overflow=True)
    assert [len(tx.ops) for tx in batch.transactions] == [1]
    status, reason = serial_oracle(batch).outcomes["t0"]
    if excesses != {0}:
        assert status == "aborted" and reason.startswith("AmountOverflowError")
    else:
        assert status == "committed"
        assert MAX_AMOUNT in serial_oracle(batch).final_state.values()


def test_balances_near_max_amount_only_with_overflow():
    assert minimal(lambda b: max(b.accounts.values()) >= MAX_AMOUNT - 3, overflow=True)
    for batch in examples(200, contention="high"):
        assert max(*batch.accounts.values(), *amounts(batch)) < 2**62


@pytest.mark.parametrize(("where", "size"), [("first", 2), ("middle", 3), ("last", 2)])
def test_atomic_batch_failing_first_in_the_middle_or_last(where, size):
    def fails(b: Batch) -> bool:
        oracle = serial_oracle(b)
        if oracle.failed is None or len(b) < 2:
            return False
        position = oracle.order.index(oracle.failed)
        return {"first": position == 0, "last": position == len(b) - 1,
                "middle": 0 < position < len(b) - 1}[where]

    assert len(minimal(fails, modes=(ATOMIC,))) == size


# Shrinking and the mix


def test_a_lost_update_shrinks_to_amounts_of_one():
    def two_deposits(b: Batch) -> bool:
        deposited = [op.account for tx in b.transactions for op in tx.ops
                     if isinstance(op, Deposit)]
        return len(b) >= 2 and len(deposited) > len(set(deposited))

    batch = minimal(two_deposits)
    assert [tx.ops for tx in batch.transactions] == [(Deposit("acct0", 1),)] * 2


def test_a_transfer_shrinks_to_one_unit_between_two_accounts_holding_one():
    batch = minimal(lambda b: any(isinstance(op, Transfer) for tx in b.transactions
                                  for op in tx.ops))
    assert batch.accounts == {"acct0": 1, "acct1": 1}
    assert [tx.ops for tx in batch.transactions] == [(Transfer("acct0", "acct1", 1),)]


def test_most_transactions_are_plain_and_a_sizeable_fraction_has_a_shape():
    txs = [tx for batch in examples(300) for tx in batch.transactions]
    assert 0.15 <= sum(map(has_shape, txs)) / len(txs) <= 0.4


def test_shapes_and_boundaries_can_be_turned_off():
    """Then a transaction is one operation, plus reads of other accounts, work and a failing
    call, as before the shapes existed."""
    for batch in examples(200, contention="high", shapes=False, boundaries=False):
        for tx in batch.transactions:
            first, *rest = tx.ops
            assert all(isinstance(op, Read | Spin | Call) and kind(op) != "assign"
                       for op in rest)
            assert not (isinstance(first, Transfer) and first.src == first.dst)
            assert tx.accounts == set().union(*map(accounts, tx.ops))
        assert all(amount <= 60 for amount in amounts(batch))
