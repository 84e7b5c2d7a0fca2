"""Conservation's less common paths: negative values in the trace, and guarded withdrawals
whose change is learned by replaying them on the values they read."""

from __future__ import annotations

from aethel.model import Batch, Transaction
from aethel.operations import Deposit, GuardedWithdraw
from harness.checks import check_conservation, derive_facts
from harness.checks.builder import TraceBuilder

ACCOUNTS = {"alice": 100, "bob": 50}


def test_negative_values_read_and_installed_are_each_named_reads_first():
    batch = Batch(ACCOUNTS, (Transaction("t1", (Deposit("alice", 1),)),
                             Transaction("t2", (Deposit("bob", 1),))))
    trace = (TraceBuilder().start("t1").read("t1", "alice", 100).write("t1", "alice", -3)
             .commit("t1").start("t2").read("t2", "bob", -7).write("t2", "bob", 51)
             .commit("t2"))
    verdict = check_conservation(derive_facts(batch, trace.events))
    negative = [v.message for v in verdict.violations if v.anomaly == "negative balance"]
    assert negative[:2] == ["t2 read bob=-7", "t1 installed alice=-3"]


def _guarded(alice_read: int, alice_after: int) -> TraceBuilder:
    return (TraceBuilder().start("g").read("g", "alice", alice_read)
            .read("g", "bob", 50).write("g", "alice", alice_after).commit("g"))


def test_a_guarded_withdrawal_is_judged_on_the_values_it_read():
    batch = Batch(ACCOUNTS, (Transaction("g", (GuardedWithdraw("alice", "bob", 30, 100),)),))
    passed = check_conservation(derive_facts(batch, _guarded(100, 70).events))
    assert passed.ok and "the balances sum to 120 as expected" in passed.explanation
    # on these values the guard passes, so installing the old balance created 30
    kept = check_conservation(derive_facts(batch, _guarded(100, 100).events))
    assert [v.txns for v in kept.violations if v.txns] == [("g",)]
    # on these values the guard blocks: nothing may change
    blocked = check_conservation(derive_facts(batch, _guarded(60, 30).events,
                                              {"alice": 30, "bob": 50}))
    assert not blocked.ok and any("by -30, but its operations change it by +0" in v.message
                                  for v in blocked.violations)


def test_a_guarded_withdrawal_without_the_values_it_read_leaves_the_sum_unchecked():
    batch = Batch(ACCOUNTS, (Transaction("g", (GuardedWithdraw("alice", "bob", 30, 100),)),))
    trace = TraceBuilder().start("g").write("g", "alice", 70).commit("g")
    verdict = check_conservation(derive_facts(batch, trace.events))
    assert verdict.ok and "the final sum is not checked" in verdict.explanation
