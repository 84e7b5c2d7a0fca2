"""Isolation checker on hand-written traces: one passing trace, one failing per anomaly."""

from __future__ import annotations

from aethel.model import Batch, Transaction
from aethel.operations import Call, Deposit, Transfer, Withdraw
from aethel.trace import Event
from harness.campaign.strategies import ASSIGN_FUNCTION as ASSIGN
from harness.checks import check_isolation, derive_facts
from harness.checks.anomalies import (
    CLOCK,
    DIRTY,
    FUTURE,
    INTEGRITY,
    LOST_UPDATE,
    STALE,
    TRACE_INCONSISTENCY,
    UNDECLARED,
    WRITE_ORDER,
    WRONG_VALUE,
)
from harness.checks.builder import TraceBuilder

ACCOUNTS = {"alice": 100, "bob": 50, "carol": 0}
TRANSFERS = Batch(ACCOUNTS, (Transaction("t1", (Transfer("alice", "bob", 30),)),
                             Transaction("t2", (Transfer("bob", "carol", 10),))))
DEPOSITS = Batch(ACCOUNTS, (Transaction("t1", (Deposit("alice", 5),)),
                            Transaction("t2", (Deposit("alice", 7),))))
FINAL = {"alice": 70, "bob": 70, "carol": 10}
MINUTES = 180 * 1_000_000_000


def serial_transfers(worker: int = 0) -> TraceBuilder:
    """The trace of serial execution of TRANSFERS (t2 on ``worker``)."""
    return (TraceBuilder()
            .start("t1").read("t1", "alice", 100).read("t1", "bob", 50)
            .write("t1", "alice", 70).write("t1", "bob", 80).commit("t1")
            .start("t2", worker).read("t2", "bob", 80, "t1", worker)
            .read("t2", "carol", 0, worker=worker).write("t2", "bob", 70, "t1", worker)
            .write("t2", "carol", 10, worker=worker).commit("t2", worker))


def shifted(events, chosen, offset=MINUTES):
    """``events`` with every event ``chosen`` picks ``offset`` ns later, in time order (as a
    recorder returns them)."""
    return sorted((e._replace(ts=e.ts + offset) if chosen(e) else e for e in events),
                  key=lambda e: e.ts)


def only(verdict, anomaly):
    """The violations of one anomaly class (asserting there is at least one)."""
    assert not verdict.ok
    found = [v for v in verdict.violations if v.anomaly == anomaly]
    assert found, verdict.explanation
    return found


def test_serial_trace_holds():
    verdict = check_isolation(derive_facts(TRANSFERS, serial_transfers().events,
                                           {"alice": 70, "bob": 70, "carol": 10}))
    assert verdict.ok and verdict.count == 0
    assert "all 4 reads" in verdict.explanation and "all 4 installs" in verdict.explanation


def test_stale_read_names_reader_writer_and_account():
    trace = (TraceBuilder()
             .start("t1").read("t1", "alice", 100).read("t1", "bob", 50)
             .write("t1", "alice", 70).write("t1", "bob", 80).commit("t1")
             .start("t2").read("t2", "bob", 50).read("t2", "carol", 0)
             .write("t2", "bob", 40, "t1").write("t2", "carol", 10).commit("t2"))
    [stale] = only(check_isolation(derive_facts(TRANSFERS, trace.events)), STALE)
    assert stale.txns == ("t2", "t1") and stale.accounts == ("bob",)
    assert "t2 read bob@init" in stale.message and "had already installed bob@t1" in stale.message


def test_read_from_the_future():
    trace = (TraceBuilder()
             .start("t2").read("t2", "bob", 50).read("t2", "carol", 0)
             .write("t2", "bob", 40).write("t2", "carol", 10).commit("t2")
             .start("t1").read("t1", "alice", 100).read("t1", "bob", 40, "t2")
             .write("t1", "alice", 70).write("t1", "bob", 70, "t2").commit("t1"))
    [future] = only(check_isolation(derive_facts(TRANSFERS, trace.events)), FUTURE)
    assert future.txns == ("t1", "t2") and future.accounts == ("bob",)
    assert "t1 read bob@t2, but t2 does not precede t1" in future.message


def test_dirty_read_of_an_aborted_write():
    batch = Batch(ACCOUNTS, (Transaction("t1", (Deposit("alice", 5), Call("aethel.examples:fail"))),
                             Transaction("t2", (Withdraw("alice", 10),))))
    trace = (TraceBuilder()
             .start("t1").read("t1", "alice", 100).write("t1", "alice", 105).abort("t1")
             .start("t2").read("t2", "alice", 105, "t1").write("t2", "alice", 95, "t1")
             .commit("t2"))
    [dirty] = only(check_isolation(derive_facts(batch, trace.events)), DIRTY)
    assert dirty.txns == ("t2", "t1") and dirty.accounts == ("alice",)
    assert "t2 read alice@t1, written by t1, which aborted" in dirty.message


def test_dirty_read_before_the_writer_committed():
    trace = (TraceBuilder()
             .start("t1").read("t1", "alice", 100).write("t1", "alice", 105)
             .start("t2").read("t2", "alice", 105, "t1")
             .commit("t1").write("t2", "alice", 112, "t1").commit("t2"))
    [dirty] = only(check_isolation(derive_facts(DEPOSITS, trace.events)), DIRTY)
    assert dirty.txns == ("t2", "t1") and "t1 committed at" in dirty.message


def test_lost_update_install_over_a_version_not_read():
    trace = (TraceBuilder()
             .start("t1").read("t1", "alice", 100).start("t2").read("t2", "alice", 100)
             .write("t1", "alice", 105).commit("t1")
             .write("t2", "alice", 107, "t1").commit("t2"))
    verdict = check_isolation(derive_facts(DEPOSITS, trace.events))
    [lost] = only(verdict, LOST_UPDATE)
    assert lost.txns == ("t2", "t1") and lost.accounts == ("alice",)
    assert "t2 read alice@init but its install replaced alice@t1" in lost.message
    assert only(verdict, STALE)[0].txns == ("t2", "t1")
    assert TRACE_INCONSISTENCY not in verdict.anomalies()


def test_lost_update_version_overwritten_behind_the_trace():
    trace = (TraceBuilder()
             .start("t1").read("t1", "alice", 100).write("t1", "alice", 105).commit("t1")
             .start("t2").read("t2", "alice", 100).write("t2", "alice", 107).commit("t2"))
    lost = only(check_isolation(derive_facts(DEPOSITS, trace.events)), LOST_UPDATE)
    assert any(v.txns == ("t2", "t1") and "the last recorded install had left alice@t1"
               in v.message for v in lost)


def test_lost_update_in_the_final_state():
    facts = derive_facts(TRANSFERS, serial_transfers().events,
                         {"alice": 100, "bob": 70, "carol": 10})
    [lost] = only(check_isolation(facts), LOST_UPDATE)
    assert lost.accounts == ("alice",) and lost.txns == ("t1",)
    assert "alice is 100 at the end, but the last recorded install, by t1, left 70" in lost.message


def test_write_order():
    batch = Batch(ACCOUNTS, tuple(
        Transaction(t, (Call(ASSIGN, (), ("alice",), (("account", "alice"), ("value", v))),))
        for t, v in (("t1", 1), ("t2", 2))))
    trace = (TraceBuilder()
             .start("t2").write("t2", "alice", 2).commit("t2")
             .start("t1").write("t1", "alice", 1, "t2").commit("t1"))
    [order] = only(check_isolation(derive_facts(batch, trace.events)), WRITE_ORDER)
    assert order.txns == ("t1", "t2") and order.accounts == ("alice",)
    assert "t1 installed alice after t2 did, but t1 precedes t2" in order.message


def test_undeclared_read_and_write():
    batch = Batch(ACCOUNTS, (Transaction("t1", (Deposit("alice", 5),)),))
    trace = (TraceBuilder().start("t1").read("t1", "alice", 100).read("t1", "bob", 50)
             .write("t1", "alice", 105).write("t1", "bob", 51).commit("t1"))
    undeclared = only(check_isolation(derive_facts(batch, trace.events)), UNDECLARED)
    assert [(v.txns, v.accounts) for v in undeclared] == [(("t1",), ("bob",))] * 2
    assert "t1 read bob, which it did not declare" in undeclared[0].message
    assert "t1 wrote bob, which it did not declare as a write" in undeclared[1].message


def test_wrong_value():
    trace = serial_transfers().events
    trace[7] = trace[7]._replace(value=81)  # t2 read bob=81@t1, but t1 installed 80
    [wrong] = only(check_isolation(derive_facts(TRANSFERS, trace)), WRONG_VALUE)
    assert wrong.txns == ("t2", "t1") and "bob=81@t1, but t1 installed bob=80" in wrong.message


def integrity_messages(events):
    verdict = check_isolation(derive_facts(TRANSFERS, events))
    return [v.message for v in only(verdict, INTEGRITY)]


def test_integrity_missing_start_and_end():
    events = [e for e in serial_transfers().events
              if not (e.txn == "t1" and e.kind == "START") and
              not (e.txn == "t2" and e.kind == "COMMIT")]
    messages = integrity_messages(events)
    assert "t1 has events but no START" in messages
    assert "t2 has events but no COMMIT or ABORT" in messages


def test_integrity_duplicate_end_and_unknown_transaction():
    events = serial_transfers().commit("t1").start("t9").events
    messages = integrity_messages(events)
    assert "t1 has 2 COMMIT/ABORT events" in messages
    assert any("names transaction 't9', which is not in the batch" in m for m in messages)


def test_integrity_event_outside_its_transaction():
    events = serial_transfers().read("t1", "carol", 0).events
    assert any("t1's READ of carol" in m and "outside its START…end" in m
               for m in integrity_messages(events))


def test_integrity_worker_clock_going_back():
    events = serial_transfers().events
    events[3] = events[3]._replace(ts=10)  # t1's first WRITE, before its START at 1000 ns
    assert any("worker 0 of process 1 goes back in time: WRITE of t1" in m
               for m in integrity_messages(events))


def test_integrity_missing_read_and_install_of_a_committed_transaction():
    events = [e for e in serial_transfers().events
              if not (e.txn == "t2" and e.account in ("carol",))]
    messages = integrity_messages(events)
    assert "t2 committed, but the trace has no READ of carol, which its transfer reads" in messages
    assert ("t2 committed, but the trace has no install of carol, which its transfer writes"
            in messages)


def test_event_kinds_are_recognised():
    events = [*serial_transfers().events, Event("PAUSE", "t1", 99_000, 0, 1)]
    assert any("unknown kind 'PAUSE'" in m for m in integrity_messages(events))


def test_trace_inconsistency_a_read_recorded_with_a_version_its_value_contradicts():
    events = serial_transfers().events
    events[7] = events[7]._replace(version="init")  # t2 read bob=80, recorded as bob@init
    verdict = check_isolation(derive_facts(TRANSFERS, events, FINAL))
    assert verdict.anomalies() == {TRACE_INCONSISTENCY} and verdict.count == 1
    assert verdict.counterexample.txns == ("t2", "t1")
    assert verdict.counterexample.message == (
        "t2's READ of bob names version init (bob was 50 initially), but the value it read, "
        "bob=80, is that of version t1 (t1 installed bob=80 and is the last committed writer "
        "of bob before t2 in serial order): the executor recorded the wrong version; the data "
        "is right")


def test_trace_inconsistency_of_a_read_that_should_see_the_initial_balance():
    events = serial_transfers().events
    events[8] = events[8]._replace(version="t2")  # t2 read carol=0, recorded as its own write
    [found] = check_isolation(derive_facts(TRANSFERS, events, FINAL)).violations
    assert found.anomaly == TRACE_INCONSISTENCY and found.txns == ("t2",)
    assert ("names version t2 (t2 installed carol=10), but the value it read, carol=0, is that "
            "of version init (carol was 0 initially and no committed transaction writes carol "
            "before t2 in serial order)") in found.message


def test_a_read_of_an_aborted_version_is_a_dirty_read_even_with_the_expected_value():
    batch = Batch(ACCOUNTS, (Transaction("t1", (Deposit("alice", 5), Call("aethel.examples:fail"))),
                             Transaction("t2", (Withdraw("alice", 10),))))
    trace = (TraceBuilder()
             .start("t1").read("t1", "alice", 100).abort("t1")
             .start("t2").read("t2", "alice", 100, "t1").write("t2", "alice", 90, "t1")
             .commit("t2"))
    verdict = check_isolation(derive_facts(batch, trace.events))
    assert DIRTY in verdict.anomalies() and TRACE_INCONSISTENCY not in verdict.anomalies()


def test_clock_problem_an_event_before_its_own_start():
    events = shifted(serial_transfers(worker=1).events,
                     lambda e: e.txn == "t2" and e.kind in ("START", "READ"))
    verdict = check_isolation(derive_facts(TRANSFERS, events, FINAL))
    [clock] = only(verdict, CLOCK)
    assert verdict.anomalies() == {CLOCK} and clock.txns == ("t2",)
    assert clock.message == (
        "t2's WRITE of bob (process 1, worker 1) and 2 other events of t2 are timestamped up to "
        "180.0 s before t2's own START (process 1, worker 1), while the run's transactions ran "
        "for 5.0 µs in all: on one clock no event precedes its transaction's START")
    assert verdict.explanation.endswith(
        "; real-time checks were skipped because of the clock problem: whether a version was "
        "read before its writer committed, events after their transaction's end, and the order "
        "of installs")


def test_clock_problem_one_worker_minutes_behind_is_no_dirty_read():
    events = shifted(serial_transfers(worker=1).events, lambda e: e.worker == 1, -MINUTES)
    verdict = check_isolation(derive_facts(TRANSFERS, events, FINAL))
    assert verdict.anomalies() == {CLOCK} and verdict.count == 2
    gap, read = verdict.violations
    assert gap.message == (
        "no transaction runs for 180.0 s (from t2's COMMIT to t1's START), while the run's "
        "transactions ran for 10.0 µs in all: the 6 events of worker 1 of process 1 lie 180.0 s "
        "before the 6 events of worker 0 of process 1, so their timestamps are not on one clock")
    assert gap.txns == ("t2", "t1")
    assert read.message.startswith("t2 read bob@t1 (process 1, worker 1) 180.0 s before t1 "
                                   "started (process 1, worker 0)")


def test_a_read_shortly_before_its_writer_started_is_a_dirty_read_not_a_clock_problem():
    trace = (TraceBuilder()
             .start("t2").read("t2", "alice", 105, "t1")
             .start("t1").read("t1", "alice", 100).write("t1", "alice", 105).commit("t1")
             .write("t2", "alice", 112, "t1").commit("t2"))
    verdict = check_isolation(derive_facts(DEPOSITS, trace.events))
    assert DIRTY in verdict.anomalies() and CLOCK not in verdict.anomalies()
