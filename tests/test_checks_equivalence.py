"""Serial equivalence and the serial oracle on hand-written traces."""

from __future__ import annotations

from aethel.model import ATOMIC, Batch, Transaction
from aethel.operations import Deposit, Transfer, Withdraw
from harness.checks import check_equivalence, derive_facts, serial_oracle
from harness.checks.builder import TraceBuilder

ACCOUNTS = {"alice": 100, "bob": 50, "carol": 0}
BATCH = Batch(ACCOUNTS, (Transaction("t1", (Transfer("alice", "bob", 30),)),
                         Transaction("t2", (Withdraw("carol", 5),)),
                         Transaction("t3", (Transfer("bob", "carol", 10),))))
INSUFFICIENT = "InsufficientFundsError: insufficient funds: carol has 0, withdrawal needs 5"


def serial_trace() -> TraceBuilder:
    return (TraceBuilder()
            .start("t1").read("t1", "alice", 100).read("t1", "bob", 50)
            .write("t1", "alice", 70).write("t1", "bob", 80).commit("t1")
            .start("t2").read("t2", "carol", 0).abort("t2", INSUFFICIENT)
            .start("t3").read("t3", "bob", 80, "t1").read("t3", "carol", 0)
            .write("t3", "bob", 70, "t1").write("t3", "carol", 10).commit("t3"))


def test_oracle_runs_the_batch_serially():
    oracle = serial_oracle(BATCH)
    assert oracle.final_state == {"alice": 70, "bob": 70, "carol": 10}
    assert oracle.outcomes == {"t1": ("committed", None), "t2": ("aborted", INSUFFICIENT),
                               "t3": ("committed", None)}
    assert oracle.last_writer == {"alice": "t1", "bob": "t3", "carol": "t3"}


def test_oracle_follows_explicit_dependencies_and_atomic_mode():
    batch = Batch(ACCOUNTS, (Transaction("a", (Withdraw("bob", 60),), after=("b",)),
                             Transaction("b", (Withdraw("alice", 10),)),
                             Transaction("c", (Deposit("carol", 1),))), ATOMIC)
    oracle = serial_oracle(batch)
    assert oracle.order == ("b", "a", "c") and oracle.failed == "a"
    assert oracle.final_state == ACCOUNTS
    assert [oracle.outcomes[t][0] for t in "abc"] == ["aborted", "rolled_back", "skipped"]


def test_serial_trace_and_reported_outcomes_hold():
    outcomes = {"t1": ("committed", None), "t2": ("aborted", INSUFFICIENT),
                "t3": ("committed", None)}
    facts = derive_facts(BATCH, serial_trace().events, {"alice": 70, "bob": 70, "carol": 10},
                         outcomes)
    verdict = check_equivalence(facts, serial_oracle(BATCH))
    assert verdict.ok and "final balances of 3 accounts" in verdict.explanation


def test_final_balance_differs():
    facts = derive_facts(BATCH, serial_trace().events, {"alice": 70, "bob": 80, "carol": 10})
    verdict = check_equivalence(facts, serial_oracle(BATCH))
    assert not verdict.ok and verdict.count == 1
    assert verdict.counterexample.accounts == ("bob",)
    assert ("bob is 80 in the executor's final state but 70 after serial execution (last "
            "written serially by t3, last installed in the trace by t3)"
            in verdict.counterexample.message)


def test_outcome_differs_in_the_trace():
    trace = serial_trace().events
    trace[8] = trace[8]._replace(reason="RuntimeError: other")
    verdict = check_equivalence(derive_facts(BATCH, trace), serial_oracle(BATCH))
    assert verdict.counterexample.txns == ("t2",)
    assert "t2 aborts in the trace (RuntimeError: other), but serial execution aborts it "\
        f"({INSUFFICIENT})" == verdict.counterexample.message


def test_reported_outcome_differs():
    outcomes = {"t1": ("committed", None), "t2": ("committed", None),
                "t3": ("committed", None)}
    facts = derive_facts(BATCH, serial_trace().events, outcomes=outcomes)
    verdict = check_equivalence(facts, serial_oracle(BATCH))
    assert [v.anomaly for v in verdict.violations] == ["reported outcome"]
    assert verdict.counterexample.message.startswith(
        "the executor reported t2 as committed, but serial execution aborts it")


def test_failed_atomic_batch_rolled_back_holds_and_skipped_may_have_run():
    batch = BATCH.with_mode(ATOMIC)
    trace = (TraceBuilder()
             .start("t1").read("t1", "alice", 100).read("t1", "bob", 50)
             .write("t1", "alice", 70).write("t1", "bob", 80).commit("t1")
             .start("t2").start("t3").read("t2", "carol", 0).abort("t2", INSUFFICIENT)
             .read("t3", "bob", 80, "t1").read("t3", "carol", 0)
             .abort("t3", "skipped: atomic batch aborted by t2"))
    facts = derive_facts(batch, trace.events, dict(ACCOUNTS))
    verdict = check_equivalence(facts, serial_oracle(batch))
    assert verdict.ok, verdict.explanation


def test_a_transaction_missing_from_the_trace():
    events = [e for e in serial_trace().events if e.txn != "t3"]
    verdict = check_equivalence(derive_facts(BATCH, events), serial_oracle(BATCH))
    assert any(v.message == "t3 has no events in the trace, but serial execution has it "
               "committed" for v in verdict.violations)


def test_failed_atomic_batch_needs_the_earlier_transactions_committed():
    batch = BATCH.with_mode(ATOMIC)
    trace = (TraceBuilder().start("t1").read("t1", "alice", 100).abort("t1", "RuntimeError: x")
             .start("t2").read("t2", "carol", 0).abort("t2", INSUFFICIENT))
    verdict = check_equivalence(derive_facts(batch, trace.events), serial_oracle(batch))
    assert verdict.counterexample.txns == ("t1",)
    assert "serial execution commits it before the atomic batch rolls back" in \
        verdict.counterexample.message
    assert "balances not compared" not in verdict.explanation


def test_the_trace_replay_follows_the_installs_when_the_timestamps_are_not_on_one_clock():
    minutes = 180 * 1_000_000_000
    events = sorted((e._replace(ts=e.ts - minutes) if e.txn == "t3" else e
                     for e in serial_trace().events), key=lambda e: e.ts)
    facts = derive_facts(BATCH, events)
    assert not facts.one_clock and facts.final_source == "trace"
    assert facts.final_state == {"alice": 70, "bob": 70, "carol": 10}
    assert check_equivalence(facts, serial_oracle(BATCH)).ok
