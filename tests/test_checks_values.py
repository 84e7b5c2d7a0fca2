"""Linearizability from values on hand-written traces and on real executions."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from aethel.executor import ParallelExecutor
from aethel.model import Batch, Transaction
from aethel.operations import Deposit, Read, Transfer
from harness.campaign.strategies import batches
from harness.checks import (
    ISOLATION,
    PROPERTIES,
    SERIALIZABILITY,
    VALUES,
    Observed,
    check_all,
    check_values,
    derive_facts,
)
from harness.checks import values as values_module
from harness.checks.anomalies import NON_LINEARIZABLE
from harness.checks.builder import TraceBuilder
from harness.pytest_plugin import explain

ACCOUNTS = {"alice": 100, "bob": 50}
BATCH = Batch(ACCOUNTS, (Transaction("t1", (Transfer("alice", "bob", 30),)),
                         Transaction("t2", (Read("bob"),)),
                         Transaction("t3", (Deposit("bob", 5),))))


def t1(trace: TraceBuilder) -> TraceBuilder:
    """t1 moves 30 from alice to bob: alice 100 → 70, bob 50 → 80."""
    return (trace.start("t1").read("t1", "alice", 100).read("t1", "bob", 50)
            .write("t1", "alice", 70).write("t1", "bob", 80).commit("t1"))


def judge(trace: TraceBuilder, batch: Batch = BATCH):
    return check_values(derive_facts(batch, trace.events))


def violation(trace: TraceBuilder, batch: Batch = BATCH):
    verdict = judge(trace, batch)
    assert not verdict.ok and verdict.count == 1, verdict.explanation
    assert verdict.counterexample.anomaly == NON_LINEARIZABLE
    return verdict.counterexample


def test_the_verdict_is_registered_after_the_six_others():
    assert PROPERTIES[-1] == VALUES and len(PROPERTIES) == 7
    verdicts = check_all(derive_facts(BATCH, t1(TraceBuilder()).events))
    assert [v.property for v in verdicts] == list(PROPERTIES)


def test_a_correct_execution_fits_commit_order():
    trace = (t1(TraceBuilder()).start("t2").read("t2", "bob", 80, "t1").commit("t2")
             .start("t3").read("t3", "bob", 80, "t1").write("t3", "bob", 85, "t1").commit("t3"))
    verdict = judge(trace)
    assert verdict.ok and verdict.applicable
    assert verdict.explanation == ("the values read and installed by 3 committed "
                                   "transactions fit commit order, which is consistent with "
                                   "real time")


def test_a_stale_read_by_value_fails_whatever_version_it_names():
    trace = (t1(TraceBuilder()).start("t3").read("t3", "bob", 80, "t1")
             .write("t3", "bob", 85, "t1").commit("t3")
             .start("t2").read("t2", "bob", 80, "t3").commit("t2"))
    found = violation(trace)
    assert found.txns[0] == "t2" and found.accounts == ("bob",)
    assert found.message == (
        "t2 read bob=80, but no order consistent with real time lets it: in the longest "
        "order found (t1, t3), bob was 85 (installed by t3, which committed at +9.0 µs) when "
        "t2 had to take effect (t2 ran from +10.0 µs, committed at +12.0 µs)")
    assert "values there: alice=70, bob=85" in found.details


def test_a_read_of_a_value_never_written_fails():
    trace = t1(TraceBuilder()).start("t2").read("t2", "bob", 77, "t1").commit("t2")
    found = violation(trace)
    assert found.message.startswith(
        "t2 read bob=77 (a value no transaction installed in bob; initially 50), but no "
        "order consistent with real time lets it: in the longest order found (t1), bob was "
        "80 (installed by t1, which committed at +5.0 µs)")


def test_a_read_of_an_aborted_write_fails_and_an_abort_has_no_effect():
    dirty = (TraceBuilder().start("t1").start("t2").read("t1", "alice", 100)
             .read("t1", "bob", 50).read("t2", "bob", 80).commit("t2").abort("t1"))
    assert "t2 read bob=80 (a value no transaction installed in bob" in \
        violation(dirty).message
    clean = (TraceBuilder().start("t1").read("t1", "alice", 100).abort("t1")
             .start("t2").read("t2", "bob", 50).commit("t2"))
    assert judge(clean).ok


def test_real_time_order_is_respected():
    after = t1(TraceBuilder()).start("t2").read("t2", "bob", 50).commit("t2")
    found = violation(after)
    assert found.message == (
        "t2 read bob=50, but no order consistent with real time lets it: in the longest "
        "order found (t1), bob was 80 (installed by t1, which committed at +5.0 µs) when t2 "
        "had to take effect (t2 ran from +6.0 µs, committed at +8.0 µs)")
    overlapping = (TraceBuilder().start("t2").start("t1").read("t1", "alice", 100)
                   .read("t1", "bob", 50).write("t1", "alice", 70).write("t1", "bob", 80)
                   .commit("t1").read("t2", "bob", 50).commit("t2"))
    verdict = judge(overlapping)
    assert verdict.ok and "found by search" in verdict.explanation


@pytest.mark.parametrize("seen", [50, 80])
def test_concurrent_transactions_may_take_effect_in_either_order(seen):
    trace = (TraceBuilder().start("t1").start("t2").read("t1", "alice", 100)
             .read("t1", "bob", 50).write("t1", "alice", 70).read("t2", "bob", seen)
             .write("t1", "bob", 80).commit("t1").commit("t2"))
    assert judge(trace).ok


def test_wrong_versions_over_right_values_pass_here_and_fail_the_version_checks():
    trace = (TraceBuilder().start("t1").read("t1", "alice", 100).read("t1", "bob", 50)
             .write("t1", "alice", 70, "t3").write("t1", "bob", 80, "t3").commit("t1")
             .start("t3").read("t3", "bob", 80, "init").write("t3", "bob", 85, "init")
             .commit("t3")
             .start("t2").read("t2", "bob", 85, "t1").commit("t2"))
    verdicts = {v.property: v for v in check_all(derive_facts(BATCH, trace.events))}
    assert verdicts[VALUES].ok, verdicts[VALUES].explanation
    assert not verdicts[ISOLATION].ok
    assert not verdicts[SERIALIZABILITY].ok


def test_an_unfinished_transaction_may_have_taken_effect_or_not():
    took = (TraceBuilder().start("t1").read("t1", "alice", 100).write("t1", "alice", 70)
            .start("t2").read("t2", "alice", 70).commit("t2"))
    did_not = (TraceBuilder().start("t1").read("t1", "alice", 100).write("t1", "alice", 70)
               .start("t2").read("t2", "alice", 100).commit("t2"))
    assert judge(took).ok and judge(did_not).ok


def test_independent_components_are_judged_apart():
    batch = Batch({**ACCOUNTS, "carol": 10, "dave": 0},
                  (*BATCH.transactions, Transaction("u1", (Transfer("carol", "dave", 10),)),
                   Transaction("u2", (Read("dave"),))))
    trace = (t1(TraceBuilder()).start("u1").read("u1", "carol", 10).read("u1", "dave", 0)
             .write("u1", "carol", 0).write("u1", "dave", 10).commit("u1")
             .start("t2").read("t2", "bob", 80).commit("t2")
             .start("u2").read("u2", "dave", 0).commit("u2"))
    found = violation(trace, batch)
    assert found.txns == ("u2", "u1") and found.accounts == ("dave",)
    assert "values there: carol=0, dave=10" in found.details


def test_without_one_clock_real_time_is_not_used():
    late = t1(TraceBuilder()).start("t2").read("t2", "bob", 50).commit("t2").events
    shift = 180 * 10**9
    events = [e._replace(ts=e.ts + shift) if e.txn == "t2" else e for e in late]
    facts = derive_facts(BATCH, events)
    assert not facts.one_clock
    verdict = check_values(facts)
    assert verdict.ok
    assert "real-time order not checked: the timestamps are not on one clock" in \
        verdict.explanation


def test_a_search_over_its_budget_is_not_judged(monkeypatch):
    monkeypatch.setattr(values_module, "SEARCH_BUDGET", 0.0)
    verdict = judge(t1(TraceBuilder()).start("t2").read("t2", "bob", 50).commit("t2"))
    assert verdict.ok and not verdict.applicable
    assert verdict.explanation.startswith("not judged: the search exceeded its budget (0 s) "
                                          "on 1 component (the largest of 2 transactions)")


@pytest.fixture(scope="module", params=["thread", "process"])
def executor(request):
    with ParallelExecutor(request.param, 2) as running:
        yield running


def test_real_executions_are_linearizable_by_their_values(executor):
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(batch=batches(max_transactions=16, contention="high", cost_us=(0, 100)))
    def check(batch):
        result = executor.execute(batch)
        verdict = check_values(derive_facts(batch, Observed.from_result(result)))
        assert verdict.ok and verdict.applicable, explain(verdict)

    check()


@pytest.mark.parametrize("account", [None, 7])
def test_an_access_of_no_account_name_gets_verdicts_not_a_crash(account):
    """An executor's READ naming no account (or not a string) is judged: isolation reports
    the access, and the values search still runs over it."""
    trace = (TraceBuilder().start("t1").read("t1", "alice", 100).read("t1", account, 50)
             .write("t1", "alice", 70).write("t1", "bob", 80).commit("t1"))
    facts = derive_facts(BATCH, trace.events)
    verdicts = {v.property: v for v in check_all(facts)}
    assert not verdicts[ISOLATION].ok
    assert verdicts[VALUES].applicable
