"""Atomicity on hand-written traces."""

from __future__ import annotations

from aethel.model import ATOMIC, Batch, Transaction
from aethel.operations import Call, Deposit, Transfer
from harness.checks import Observed, check_atomicity, derive_facts, serial_oracle
from harness.checks.anomalies import KEPT_WRITE
from harness.checks.builder import TraceBuilder

ACCOUNTS = {"alice": 100, "bob": 50}
BATCH = Batch(ACCOUNTS, (Transaction("t1", (Transfer("alice", "bob", 30),)),
                         Transaction("t2", (Deposit("bob", 5), Call("aethel.examples:fail")))),
              ATOMIC)
FAILED = "RuntimeError: user operation failed"


def trace() -> TraceBuilder:
    return (TraceBuilder()
            .start("t1").read("t1", "alice", 100).read("t1", "bob", 50)
            .write("t1", "alice", 70).write("t1", "bob", 80).commit("t1")
            .start("t2").read("t2", "bob", 80, "t1").abort("t2", FAILED))


def test_failed_atomic_batch_restored_every_balance():
    verdict = check_atomicity(derive_facts(BATCH, trace().events, dict(ACCOUNTS)))
    assert verdict.ok
    assert verdict.explanation == ("the atomic batch failed at t2 and all 2 accounts hold "
                                   "their initial balances")


def test_partial_rollback_names_the_account_and_its_writer():
    verdict = check_atomicity(derive_facts(BATCH, trace().events, {"alice": 100, "bob": 80}))
    assert not verdict.ok and verdict.count == 1
    assert verdict.counterexample.txns == ("t2", "t1")
    assert verdict.counterexample.accounts == ("bob",)
    assert verdict.counterexample.message == (
        "bob is 80 after the atomic batch failed at t2, but was 50 initially, last installed "
        "by t1")


def test_rollback_is_unchecked_without_a_final_state():
    verdict = check_atomicity(derive_facts(BATCH, trace().events))
    assert verdict.ok and not verdict.applicable
    assert "the rollback is not checked: no final state was given" in verdict.explanation
    assert verdict.lines()[0].startswith("N/A  atomicity: ")


def test_serial_failure_counts_even_if_the_trace_shows_none():
    events = (TraceBuilder()
              .start("t1").read("t1", "alice", 100).read("t1", "bob", 50)
              .write("t1", "alice", 70).write("t1", "bob", 80).commit("t1")
              .start("t2").read("t2", "bob", 80, "t1").write("t2", "bob", 85, "t1")
              .commit("t2").events)
    verdict = check_atomicity(derive_facts(BATCH, events), serial_oracle(BATCH))
    assert {v.accounts for v in verdict.violations} == {("alice",), ("bob",)}


def test_an_aborted_transaction_left_a_write():
    batch = BATCH.with_mode("independent")
    events = trace().events
    events.insert(-1, events[-1]._replace(kind="WRITE", account="bob", value=85,
                                          replaced="t1", reason=None))
    verdict = check_atomicity(derive_facts(batch, events))
    assert verdict.counterexample.anomaly == "aborted write"
    assert verdict.counterexample.txns == ("t2",) and verdict.counterexample.accounts == ("bob",)
    assert verdict.counterexample.message == (
        f"t2 aborted ({FAILED}), but the trace shows its install of bob=85")
    assert check_atomicity(derive_facts(batch, trace().events)).ok


def test_a_stopped_atomic_batch_that_kept_its_writes():
    stopped = "a timeout (batch exceeded its 0.05 s timeout)"
    observed = Observed(trace().events[:-1], {"alice": 70, "bob": 80}, stopped=stopped)
    verdict = check_atomicity(derive_facts(BATCH, observed))
    assert verdict.anomalies() == {KEPT_WRITE} and verdict.count == 2
    assert verdict.counterexample.message == (
        f"the executor reported {stopped}, but its final balances keep t1's write to alice: "
        "70 instead of 100")
