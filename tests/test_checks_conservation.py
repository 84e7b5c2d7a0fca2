"""Conservation on hand-written traces."""

from __future__ import annotations

from aethel.model import ATOMIC, Batch, Transaction
from aethel.operations import Call, Deposit, Transfer, Withdraw
from harness.checks import check_conservation, derive_facts
from harness.checks.builder import TraceBuilder

ACCOUNTS = {"alice": 100, "bob": 50}
BATCH = Batch(ACCOUNTS, (Transaction("t1", (Transfer("alice", "bob", 30),)),
                         Transaction("t2", (Deposit("bob", 5),)),
                         Transaction("t3", (Withdraw("alice", 20),))))


def trace(bob_after_t1: int = 80) -> TraceBuilder:
    return (TraceBuilder()
            .start("t1").read("t1", "alice", 100).read("t1", "bob", 50)
            .write("t1", "alice", 70).write("t1", "bob", bob_after_t1).commit("t1")
            .start("t2").read("t2", "bob", bob_after_t1, "t1")
            .write("t2", "bob", bob_after_t1 + 5, "t1").commit("t2")
            .start("t3").read("t3", "alice", 70, "t1").write("t3", "alice", 50, "t1")
            .commit("t3"))


def test_transfers_deposits_and_withdrawals_add_up():
    verdict = check_conservation(derive_facts(BATCH, trace().events, {"alice": 50, "bob": 85}))
    assert verdict.ok
    assert "3 committed transactions" in verdict.explanation
    assert "the balances sum to 135 as expected" in verdict.explanation


def test_a_transfer_that_creates_money_is_named():
    verdict = check_conservation(derive_facts(BATCH, trace(bob_after_t1=90).events))
    assert not verdict.ok
    per_tx = [v for v in verdict.violations if v.txns]
    assert [v.txns for v in per_tx] == [("t1",)]
    assert per_tx[0].accounts == ("alice", "bob")
    assert "t1 changed the sum of the balances it installed by +10, but its operations change "\
        "it by +0" == per_tx[0].message
    assert any("the balances sum to 145 at the end, but 135 was expected" in v.message
               for v in verdict.violations)


def test_final_sum_off():
    verdict = check_conservation(derive_facts(BATCH, trace().events, {"alice": 50, "bob": 80}))
    assert verdict.count == 1
    assert verdict.counterexample.message == (
        "the balances sum to 130 at the end, but 135 was expected (initially 150; deposits "
        "minus withdrawals of committed transactions: -15)")


def test_negative_balances():
    verdict = check_conservation(derive_facts(BATCH, trace().events, {"alice": -5, "bob": 140}))
    assert any(v.anomaly == "negative balance" and v.accounts == ("alice",) and
               v.message == "alice ends at -5" for v in verdict.violations)


def test_failed_atomic_batch_must_keep_the_initial_sum():
    batch = Batch(ACCOUNTS, (*BATCH.transactions,
                             Transaction("t4", (Call("aethel.examples:fail"),))), ATOMIC)
    events = trace().start("t4").abort("t4").events
    assert check_conservation(derive_facts(batch, events, dict(ACCOUNTS))).ok
    verdict = check_conservation(derive_facts(batch, events, {"alice": 50, "bob": 85}))
    assert "the atomic batch failed, so nothing may change" in verdict.counterexample.message


def test_user_code_in_a_committed_transaction_leaves_the_sum_unchecked():
    fee = Call("aethel.examples:apply_fee", ("alice",), ("alice", "bob"),
               (("collector", "bob"), ("payer", "alice"), ("percent", 10)))
    batch = Batch(ACCOUNTS, (Transaction("t1", (fee,)),))
    events = (TraceBuilder().start("t1").read("t1", "alice", 100).read("t1", "bob", 50)
              .write("t1", "alice", 90).write("t1", "bob", 70).commit("t1").events)
    verdict = check_conservation(derive_facts(batch, events, {"alice": 90, "bob": 70}))
    assert verdict.ok
    assert "the final sum is not checked: committed transactions t1 run user-defined" in \
        verdict.explanation


def test_values_that_are_not_integers_are_not_summed():
    """An executor's events and final state may hold anything: a value that is not an int
    leaves its transaction's change and the final sum unchecked, and is never negative."""
    events = [e._replace(value="80") if e.kind == "WRITE" and e.txn == "t1" and
              e.account == "bob" else e for e in trace().events]
    verdict = check_conservation(derive_facts(BATCH, events, {"alice": 50, "bob": "85"}))
    assert verdict.ok
    assert "2 committed transactions changed the total exactly" in verdict.explanation
    assert "the final sum is not checked: a final balance is not an integer" in \
        verdict.explanation
