"""Strict serializability on hand-written traces: witness orders and classified cycles."""

from __future__ import annotations

from aethel.model import Batch, Transaction
from aethel.operations import Call, Deposit, Read, Transfer
from harness.campaign.strategies import ASSIGN_FUNCTION as ASSIGN
from harness.checks import check_serializability, derive_facts
from harness.checks.builder import TraceBuilder

ACCOUNTS = {"alice": 100, "bob": 50}


def assign(account, value):
    return Call(ASSIGN, (), (account,), (("account", account), ("value", value)))


def cycle_of(batch, builder):
    verdict = check_serializability(derive_facts(batch, builder.events))
    assert not verdict.ok and verdict.count == 1 and verdict.witness is None
    return verdict.counterexample


def test_serial_transfers_have_their_commit_order_as_witness():
    batch = Batch(ACCOUNTS, (Transaction("t1", (Transfer("alice", "bob", 30),)),
                             Transaction("t2", (Transfer("bob", "alice", 5),))))
    trace = (TraceBuilder()
             .start("t1").read("t1", "alice", 100).read("t1", "bob", 50)
             .write("t1", "alice", 70).write("t1", "bob", 80).commit("t1")
             .start("t2").read("t2", "bob", 80, "t1").read("t2", "alice", 70, "t1")
             .write("t2", "bob", 75, "t1").write("t2", "alice", 75, "t1").commit("t2"))
    verdict = check_serializability(derive_facts(batch, trace.events))
    assert verdict.ok and verdict.witness == ("t1", "t2")
    assert "witness serial order t1, t2" in verdict.explanation


def test_a_reader_committing_after_the_next_writer_is_ordered_before_it():
    batch = Batch(ACCOUNTS, (Transaction("t1", (Read("alice"),)),
                             Transaction("t2", (Deposit("alice", 5),))))
    trace = (TraceBuilder()
             .start("t1").read("t1", "alice", 100)
             .start("t2").read("t2", "alice", 100).write("t2", "alice", 105).commit("t2")
             .commit("t1"))
    verdict = check_serializability(derive_facts(batch, trace.events))
    assert verdict.ok and verdict.witness == ("t1", "t2")


def test_g0_write_cycle():
    batch = Batch(ACCOUNTS, (Transaction("t1", (assign("alice", 1), assign("bob", 1))),
                             Transaction("t2", (assign("alice", 2), assign("bob", 2)))))
    trace = (TraceBuilder().start("t1").start("t2")
             .write("t1", "alice", 1).write("t2", "alice", 2, "t1")
             .write("t2", "bob", 2).write("t1", "bob", 1, "t2").commit("t1").commit("t2"))
    cycle = cycle_of(batch, trace)
    assert cycle.anomaly == "G0" and set(cycle.txns) == {"t1", "t2"}
    assert set(cycle.accounts) == {"alice", "bob"}
    assert any("t2 overwrote t1's write: its install of alice replaced alice@t1" in d
               for d in cycle.details)
    assert any("t1 overwrote t2's write: its install of bob replaced bob@t2" in d
               for d in cycle.details)


def test_g1c_circular_information_flow():
    batch = Batch(ACCOUNTS, (Transaction("t1", (Deposit("alice", 1), Read("bob"))),
                             Transaction("t2", (Deposit("bob", 1), Read("alice")))))
    trace = (TraceBuilder().start("t1").start("t2")
             .read("t1", "alice", 100).write("t1", "alice", 101)
             .read("t2", "alice", 101, "t1").read("t2", "bob", 50).write("t2", "bob", 51)
             .read("t1", "bob", 51, "t2").commit("t1").commit("t2"))
    cycle = cycle_of(batch, trace)
    assert cycle.anomaly == "G1c" and "circular information flow" in cycle.message
    assert any("t2 read alice@t1, the version t1 installed" in d for d in cycle.details)
    assert any("t1 read bob@t2, the version t2 installed" in d for d in cycle.details)


def test_g_single_lost_update():
    batch = Batch(ACCOUNTS, (Transaction("t1", (Deposit("alice", 5),)),
                             Transaction("t2", (Deposit("alice", 7),))))
    trace = (TraceBuilder()
             .start("t1").read("t1", "alice", 100).start("t2").read("t2", "alice", 100)
             .write("t1", "alice", 105).commit("t1")
             .write("t2", "alice", 107, "t1").commit("t2"))
    cycle = cycle_of(batch, trace)
    assert cycle.anomaly == "G-single" and cycle.accounts == ("alice",)
    assert "a lost update on alice" in cycle.message
    assert any("t2 read alice@init, but t1 installed the next version alice@t1" in d
               for d in cycle.details)


def test_g2_write_skew():
    batch = Batch(ACCOUNTS, (Transaction("t1", (Read("bob"), Deposit("alice", 1))),
                             Transaction("t2", (Read("alice"), Deposit("bob", 1)))))
    trace = (TraceBuilder().start("t1").start("t2")
             .read("t1", "bob", 50).read("t1", "alice", 100)
             .read("t2", "alice", 100).read("t2", "bob", 50)
             .write("t1", "alice", 101).commit("t1").write("t2", "bob", 51).commit("t2"))
    cycle = cycle_of(batch, trace)
    assert cycle.anomaly == "G2" and set(cycle.accounts) == {"alice", "bob"}
    assert sum("(rw)" in d for d in cycle.details) == 2


def test_g_single_realtime_stale_read_after_commit():
    batch = Batch(ACCOUNTS, (Transaction("t1", (Transfer("alice", "bob", 30),)),
                             Transaction("t2", (Read("alice"),))))
    trace = (TraceBuilder()
             .start("t1").read("t1", "alice", 100).read("t1", "bob", 50)
             .write("t1", "alice", 70).write("t1", "bob", 80).commit("t1")
             .start("t2").read("t2", "alice", 100).commit("t2"))
    cycle = cycle_of(batch, trace)
    assert cycle.anomaly == "G-single-realtime" and cycle.txns in (("t1", "t2"), ("t2", "t1"))
    assert "no serial order respects it" in cycle.message
    assert any("t2 read alice@init, but t1 installed the next version alice@t1" in d
               for d in cycle.details)
    assert any("t1 committed at +5.0 µs, before t2 started at +6.0 µs" in d
               for d in cycle.details)


def test_g0_realtime():
    batch = Batch(ACCOUNTS, (Transaction("t1", (assign("alice", 1),)),
                             Transaction("t2", (assign("alice", 2),))))
    trace = (TraceBuilder().start("t1").write("t1", "alice", 1, "t2").commit("t1")
             .start("t2").write("t2", "alice", 2).commit("t2"))
    cycle = cycle_of(batch, trace)
    assert cycle.anomaly == "G0-realtime" and cycle.accounts == ("alice",)


def test_g1c_realtime_read_of_a_later_transaction():
    batch = Batch(ACCOUNTS, (Transaction("t1", (Read("alice"),)),
                             Transaction("t2", (assign("alice", 7),))))
    trace = (TraceBuilder().start("t1").read("t1", "alice", 7, "t2").commit("t1")
             .start("t2").write("t2", "alice", 7).commit("t2"))
    cycle = cycle_of(batch, trace)
    assert cycle.anomaly == "G1c-realtime"
    assert any("t1 read alice@t2, the version t2 installed" in d for d in cycle.details)


def test_g2_realtime():
    batch = Batch(ACCOUNTS, (Transaction("t1", (Read("alice"),)),
                             Transaction("t2", (Read("bob"), assign("alice", 1))),
                             Transaction("t3", (assign("bob", 1),))))
    trace = (TraceBuilder().start("t2").read("t2", "bob", 50)
             .start("t3").write("t3", "bob", 1).commit("t3")
             .start("t1").read("t1", "alice", 100).commit("t1")
             .write("t2", "alice", 1).commit("t2"))
    cycle = cycle_of(batch, trace)
    assert cycle.anomaly == "G2-realtime" and set(cycle.txns) == {"t1", "t2", "t3"}
    assert sum("(rw)" in d for d in cycle.details) == 2
    assert any("t3 committed at +4.0 µs, before t1 started at +5.0 µs" in d
               for d in cycle.details)


MINUTES = 180 * 1_000_000_000
NO_REAL_TIME = ("real-time order not checked: the timestamps are not on one clock (see "
                "isolation: clock problem)")


def test_no_real_time_order_from_timestamps_on_two_clocks():
    batch = Batch(ACCOUNTS, (Transaction("t1", (Transfer("alice", "bob", 30),)),
                             Transaction("t2", (Read("bob"),))))
    trace = (TraceBuilder()
             .start("t1").read("t1", "alice", 100).read("t1", "bob", 50)
             .write("t1", "alice", 70).write("t1", "bob", 80).commit("t1")
             .start("t2", 1).read("t2", "bob", 80, "t1", 1).commit("t2", 1))
    events = sorted((e._replace(ts=e.ts - MINUTES) if e.worker == 1 else e
                     for e in trace.events), key=lambda e: e.ts)
    verdict = check_serializability(derive_facts(batch, events))
    assert verdict.ok and verdict.witness == ("t1", "t2")
    assert verdict.explanation == ("no cycle among 2 committed transactions (0 ww, 1 wr and 0 "
                                   "rw edges); witness serial order t1, t2; " + NO_REAL_TIME)


def test_data_cycles_are_still_found_when_the_timestamps_are_not_on_one_clock():
    batch = Batch(ACCOUNTS, (Transaction("t1", (Deposit("alice", 5),)),
                             Transaction("t2", (Deposit("alice", 7),))))
    trace = (TraceBuilder()
             .start("t1").read("t1", "alice", 100).start("t2").read("t2", "alice", 100)
             .write("t1", "alice", 105).commit("t1")
             .write("t2", "alice", 107, "t1").commit("t2"))
    trace.events[2] = trace.events[2]._replace(ts=MINUTES)  # t2's START, after its READ
    facts = derive_facts(batch, trace.events)
    assert not facts.one_clock
    verdict = check_serializability(facts)
    assert not verdict.ok and verdict.count == 1
    assert verdict.counterexample.anomaly == "G-single"
    assert "a lost update on alice" in verdict.counterexample.message
    assert verdict.explanation.endswith("; " + NO_REAL_TIME)
