"""Judging in any serial order (``--order any``) and retried attempts, on hand-written traces."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from aethel.batchfile import batch_to_json
from aethel.model import ATOMIC, Batch, Transaction
from aethel.operations import Deposit, Read, Transfer, Withdraw
from aethel.trace import write_jsonl
from harness.campaign.config import CampaignConfig
from harness.campaign.shards import Failure
from harness.campaign.shrink import counterexample_doc, judged_oracle
from harness.checks import (
    ANY,
    ATOMICITY,
    BATCH,
    EQUIVALENCE,
    ISOLATION,
    ORDER,
    SERIALIZABILITY,
    VALUES,
    Verdict,
    check_all,
    derive_facts,
    serial_oracle,
)
from harness.checks.anomalies import (
    ABORTED_WRITE,
    DIRTY,
    FINAL_BALANCE,
    FUTURE,
    G2,
    INTEGRITY,
    NON_LINEARIZABLE,
    OUTCOME,
    REPORTED_OUTCOME,
    STALE,
)
from harness.checks.builder import TraceBuilder
from harness.checks.orders import NOT_BATCH_ORDER
from harness.checks.verdict import NOT_JUDGED, PASS
from harness.cli import main

SHORT = "InsufficientFundsError: insufficient funds: a has 30, withdrawal needs 200"
RETRY = "SQLSTATE 40001: could not serialize access due to concurrent update"
REORDERED = Batch({"a": 100}, (Transaction("t1", (Withdraw("a", 120),)),
                               Transaction("t2", (Deposit("a", 50),)),
                               Transaction("t3", (Withdraw("a", 200),))))
"""In batch order t1 aborts (a has 100); after t2's deposit it commits."""
SKEW = Batch({"a": 10, "b": 10}, (Transaction("t1", (Read("a"), Read("b"), Deposit("a", 1))),
                                  Transaction("t2", (Read("a"), Read("b"), Deposit("b", 1)))))
"""Each reads both accounts and writes one: on one snapshot, each misses the other's write."""
DEPOSITS = Batch({"a": 100}, (Transaction("t1", (Deposit("a", 10),)),
                              Transaction("t2", (Deposit("a", 20),))))


def judged(batch: Batch, events, order: str, final=None) -> dict[str, Verdict]:
    facts = derive_facts(batch, events, final)
    return {v.property: v for v in check_all(facts, order=order)}


def statuses(verdicts: dict[str, Verdict]) -> dict[str, str]:
    return {prop: v.status for prop, v in verdicts.items()}


def reordered(versions: bool = True) -> TraceBuilder:
    """REORDERED run as t2, t1, t3: serializable, not in batch order."""
    def v(name: str) -> str | None:
        return name if versions else None
    return (TraceBuilder()
            .start("t2").read("t2", "a", 100, v("init")).write("t2", "a", 150, v("init"))
            .commit("t2")
            .start("t1").read("t1", "a", 150, v("t2")).write("t1", "a", 30, v("t2"))
            .commit("t1")
            .start("t3").read("t3", "a", 30, v("t1")).abort("t3", SHORT))


def test_a_serializable_run_in_another_order_passes_in_any_order():
    verdicts = judged(REORDERED, reordered().events, ANY, {"a": 30})
    assert {p: s for p, s in statuses(verdicts).items() if p != ORDER} == dict.fromkeys(
        set(verdicts) - {ORDER}, PASS)
    equivalence = verdicts[EQUIVALENCE]
    assert equivalence.witness == ("t2", "t1", "t3")
    assert "in the witness order t2, t1, t3 (found by strict serializability)" in \
        equivalence.explanation


def test_the_same_run_fails_in_batch_order():
    verdicts = judged(REORDERED, reordered().events, BATCH, {"a": 30})
    assert any(v.message.startswith("t1 commits in the trace, but serial execution aborts it")
               for v in verdicts[EQUIVALENCE].violations)
    assert not verdicts[ORDER].ok
    assert FUTURE in verdicts[ISOLATION].anomalies()


def test_dependency_order_is_not_judged_in_any_order():
    order = judged(REORDERED, reordered().events, ANY)[ORDER]
    assert order.status == NOT_JUDGED
    assert order.explanation == f"not judged: {NOT_BATCH_ORDER}"


def test_without_versions_the_values_verdict_gives_the_order():
    verdicts = judged(REORDERED, reordered(versions=False).events, ANY, {"a": 30})
    assert verdicts[EQUIVALENCE].status == PASS
    assert verdicts[EQUIVALENCE].witness == ("t2", "t1", "t3")
    assert "(found by linearizability (values))" in verdicts[EQUIVALENCE].explanation


def test_an_aborted_transaction_is_placed_after_the_version_it_read():
    reason = SHORT.replace("30", "150")
    events = (TraceBuilder()
              .start("t2").read("t2", "a", 100).write("t2", "a", 150).commit("t2")
              .start("t3", 1).start("t1").read("t3", "a", 150, "t2", 1)
              .read("t1", "a", 150, "t2").write("t1", "a", 30, "t2").commit("t1")
              .abort("t3", reason, 1)).events
    equivalence = judged(REORDERED, events, ANY, {"a": 30})[EQUIVALENCE]
    assert equivalence.status == PASS and equivalence.witness == ("t2", "t3", "t1")


def test_the_witness_order_makes_room_for_what_an_aborted_transaction_read():
    batch = Batch({"x": 0, "y": 0}, (
        Transaction("t1", (Deposit("y", 5),)), Transaction("t2", (Deposit("x", 5),)),
        Transaction("t3", (Read("x"), Read("y"), Withdraw("x", 3)))))
    reason = "InsufficientFundsError: insufficient funds: x has 0, withdrawal needs 3"
    events = (TraceBuilder()
              .start("t3", 2).start("t1").start("t2", 1).read("t3", "x", 0, worker=2)
              .read("t2", "x", 0, worker=1).write("t2", "x", 5, worker=1).commit("t2", 1)
              .read("t1", "y", 0).write("t1", "y", 5).commit("t1")
              .read("t3", "y", 5, "t1", 2).abort("t3", reason, 2)).events
    verdicts = judged(batch, events, ANY, {"x": 5, "y": 5})
    assert verdicts[SERIALIZABILITY].witness == ("t2", "t1")
    assert verdicts[EQUIVALENCE].status == PASS
    assert verdicts[EQUIVALENCE].witness == ("t1", "t3", "t2")


def test_an_aborted_transaction_follows_what_committed_before_it_started():
    """t3 starts after t2 and t1 committed, yet reads a@init and fails on it: it rolled back
    on its own, so its read and its outcome are noted against the witness order, not
    failed."""
    events = reordered().events
    too_little = SHORT.replace("30", "100")
    stale = [e._replace(value=100, version="init") if e.txn == "t3" and e.kind == "READ"
             else e for e in events]
    stale = [e._replace(reason=too_little) if e.txn == "t3" and e.kind == "ABORT" else e
             for e in stale]
    verdicts = judged(REORDERED, stale, ANY)
    equivalence, isolation = verdicts[EQUIVALENCE], verdicts[ISOLATION]
    assert equivalence.status == PASS and isolation.status == PASS
    assert equivalence.witness == ("t2", "t1", "t3")
    assert (f"t3 rolled back on its own ({too_little}), but serial execution in the witness "
            f"order aborts it ({SHORT})") in equivalence.explanation
    assert "2 of 3 reads saw the version of the last preceding committed writer" in \
        isolation.explanation
    assert "t3 rolled back on its own after reading a@init (a@t1 in the witness order)" in \
        isolation.explanation


def skew() -> TraceBuilder:
    """SKEW with both transactions on one snapshot."""
    return (TraceBuilder()
            .start("t1").start("t2", 1)
            .read("t1", "a", 10).read("t1", "b", 10)
            .read("t2", "a", 10, worker=1).read("t2", "b", 10, worker=1)
            .write("t1", "a", 11).write("t2", "b", 11, worker=1)
            .commit("t1").commit("t2", 1))


@pytest.mark.parametrize("order", [BATCH, ANY])
def test_write_skew_fails_in_either_order(order):
    verdicts = judged(SKEW, skew().events, order, {"a": 11, "b": 11})
    assert G2 in verdicts[SERIALIZABILITY].anomalies()
    assert NON_LINEARIZABLE in verdicts[VALUES].anomalies()


def test_without_a_serial_order_equivalence_is_not_judged():
    verdicts = judged(SKEW, skew().events, ANY, {"a": 11, "b": 11})
    equivalence = verdicts[EQUIVALENCE]
    assert equivalence.status == NOT_JUDGED and equivalence.witness is None
    assert equivalence.explanation == \
        f"not judged: no serial order fits (see {SERIALIZABILITY})"
    isolation = verdicts[ISOLATION]
    assert isolation.ok and "no serial order fits" in isolation.explanation


def retried() -> TraceBuilder:
    """DEPOSITS at once: t2's first attempt read a@init and failed; its second read a@t1."""
    return (TraceBuilder()
            .start("t1").start("t2", 1)
            .read("t1", "a", 100).read("t2", "a", 100, worker=1)
            .write("t1", "a", 110).commit("t1").abort("t2", RETRY, 1)
            .start("t2", 1).read("t2", "a", 110, "t1", 1).write("t2", "a", 130, "t1", 1)
            .commit("t2", 1))


def test_a_retried_transaction_is_judged_by_its_last_attempt():
    events = retried().events
    facts = derive_facts(DEPOSITS, events, {"a": 130})
    t2 = facts.index["t2"]
    assert facts.committed[t2] and facts.starts[t2] == 2
    assert [r[4] for r in facts.reads if r[1] == t2] == ["t1"]
    assert [r[4] for r in facts.retried_reads] == ["init"]
    verdicts = {v.property: v for v in check_all(facts, order=ANY)}
    assert {p for p, v in verdicts.items() if v.status != PASS} == {ORDER}
    assert verdicts[EQUIVALENCE].witness == ("t1", "t2")


def test_retries_that_run_out_are_reported_by_serial_equivalence():
    events = retried().events[:7]
    events += TraceBuilder().start("t2", 1).read("t2", "a", 110, "t1", 1).abort(
        "t2", RETRY, 1).events
    events = [e._replace(ts=1000 * (i + 1)) for i, e in enumerate(events)]
    equivalence = judged(DEPOSITS, events, ANY, {"a": 110})[EQUIVALENCE]
    assert OUTCOME in equivalence.anomalies()
    assert f"t2 aborts in the trace ({RETRY}), but serial execution has it committed" in \
        [v.message for v in equivalence.violations]


def test_a_read_of_an_aborted_attempts_write_is_a_dirty_read():
    events = (TraceBuilder()
              .start("t1").read("t1", "a", 100).write("t1", "a", 110).abort("t1", RETRY)
              .start("t2", 1).read("t2", "a", 110, "t1", 1).write("t2", "a", 130, "t1", 1)
              .commit("t2", 1)
              .start("t1").read("t1", "a", 130, "t2").write("t1", "a", 140, "t2")
              .commit("t1")).events
    verdicts = judged(DEPOSITS, events, ANY)
    [dirty] = [v for v in verdicts[ISOLATION].violations if v.anomaly == DIRTY]
    assert dirty.message.startswith(f"t2 read a@t1, written by an attempt of t1 that aborted "
                                    f"({RETRY}) and was run again")
    assert ABORTED_WRITE in verdicts[ATOMICITY].anomalies()


def test_a_retry_needs_an_abort_before_it():
    events = (TraceBuilder().start("t1").read("t1", "a", 100).write("t1", "a", 110)
              .commit("t1").start("t1").commit("t1")
              .start("t2").read("t2", "a", 110, "t1").write("t2", "a", 130, "t1")
              .start("t2").commit("t2")).events
    messages = [v.message for v in judged(DEPOSITS, events, ANY)[ISOLATION].violations
                if v.anomaly == INTEGRITY]
    assert any(m.startswith("t1 starts again at") and "after it committed" in m
               for m in messages)
    assert any(m.startswith("t2 starts again at") and "has not ended" in m for m in messages)


def test_an_atomic_batch_that_failed_is_judged_in_the_order_it_ran():
    batch = Batch({"a": 100, "b": 0}, (Transaction("t1", (Transfer("a", "b", 30),)),
                                       Transaction("t2", (Withdraw("b", 50),)),
                                       Transaction("t3", (Deposit("a", 1),))), ATOMIC)
    reason = "InsufficientFundsError: insufficient funds: b has 30, withdrawal needs 50"
    events = (TraceBuilder().start("t1").read("t1", "a", 100).read("t1", "b", 0)
              .write("t1", "a", 70).write("t1", "b", 30).commit("t1")
              .start("t2").read("t2", "b", 30, "t1").abort("t2", reason)).events
    final = {"a": 100, "b": 0}
    outcomes = {"t1": ("rolled_back", None), "t2": ("aborted", reason),
                "t3": ("skipped", None)}
    facts = derive_facts(batch, events, final, outcomes)
    verdicts = {v.property: v for v in check_all(facts, order=ANY)}
    assert {p for p, v in verdicts.items() if v.status != PASS} == {ORDER}


def test_the_oracle_runs_in_an_order_given():
    oracle = serial_oracle(REORDERED, ["t2", "t1", "t3"])
    assert oracle.order == ("t2", "t1", "t3") and oracle.final_state == {"a": 30}
    assert oracle.outcomes["t1"] == ("committed", None)
    with pytest.raises(ValueError, match="each of the batch's 3 transactions once"):
        serial_oracle(REORDERED, ["t2", "t1"])


def test_check_all_keeps_batch_order_by_default():
    facts = derive_facts(REORDERED, reordered().events, {"a": 30})
    assert [v.to_json() for v in check_all(facts)] == \
        [v.to_json() for v in check_all(facts, order=BATCH)]
    with pytest.raises(ValueError, match="order must be one of batch, any"):
        check_all(facts, order="some")


def test_aethel_check_takes_the_order(tmp_path):
    batch_file, trace_file = tmp_path / "batch.json", tmp_path / "trace.jsonl"
    batch_file.write_text(json.dumps(batch_to_json(REORDERED)))
    write_jsonl(reordered().events, trace_file)
    runner = CliRunner()
    base = ["check", str(trace_file), "--batch", str(batch_file)]
    strict = runner.invoke(main, base)
    assert strict.exit_code == 1, strict.output
    anyway = runner.invoke(main, [*base, "--order", "any"])
    assert anyway.exit_code == 0, anyway.output
    assert "judged in any serial order" in anyway.output
    assert "in the witness order t2, t1, t3 (found by strict serializability)" in anyway.output
    assert f"N/A  {ORDER}: not judged: {NOT_BATCH_ORDER}" in anyway.output


def test_a_counterexample_records_the_order_and_replay_checks_it(tmp_path):
    config = CampaignConfig(order=ANY)
    failure = Failure(batch_to_json(DEPOSITS), "thread", 2, [], [], 2)
    doc = counterexample_doc(config, 0, failure, failure, 0.0, None)
    assert doc["order"] == ANY
    path = tmp_path / "counterexample.json"
    path.write_text(json.dumps({**doc, "order": "sometimes"}))
    result = CliRunner().invoke(main, ["replay", str(path)])
    assert result.exit_code == 2
    assert "order: must be one of batch, any, got 'sometimes'" in result.output


FUNDS = Batch({"a": 10}, (Transaction("t1", (Deposit("a", 100),)),
                          Transaction("t2", (Withdraw("a", 50),))))
"""t1 deposits 100 into a; t2 withdraws 50, which a has only after t1."""
TOO_LITTLE = "InsufficientFundsError: insufficient funds: a has 10, withdrawal needs 50"
FUNDS_FINAL = {"a": 110}
FUNDS_OUTCOMES = {"t1": ("committed", None), "t2": ("aborted", TOO_LITTLE)}


def rolled_back_reader(reason: str = TOO_LITTLE) -> TraceBuilder:
    """t2 starts after t1 committed a@t1, but reads a@init (10), as a database may show a
    transaction it later rolls back, and rolls back on its own: ``reason``."""
    return (TraceBuilder()
            .start("t1").read("t1", "a", 10).write("t1", "a", 110).commit("t1")
            .start("t2", 1).read("t2", "a", 10, worker=1).abort("t2", reason, 1))


def judged_funds(events, order: str, final=FUNDS_FINAL, outcomes=FUNDS_OUTCOMES
                 ) -> dict[str, Verdict]:
    facts = derive_facts(FUNDS, events, final, outcomes)
    return {v.property: v for v in check_all(facts, order=order)}


def test_a_rolled_back_readers_reads_and_outcome_are_not_held_to_the_witness_order():
    """A database promises a serial order of its committed transactions only: t2's stale
    read and its outcome (serial execution after t1 would commit it) are noted, not failed."""
    verdicts = judged_funds(rolled_back_reader().events, ANY)
    assert {p: v.status for p, v in verdicts.items() if v.status != PASS} == {ORDER: NOT_JUDGED}
    isolation, equivalence = verdicts[ISOLATION], verdicts[EQUIVALENCE]
    assert ("t2 rolled back on its own after reading a@init (a@t1 in the witness order); a "
            "database promises a serial order of committed transactions only, so its reads "
            "are not judged against it") in isolation.explanation
    assert equivalence.witness == ("t1", "t2")
    assert (f"t2 rolled back on its own ({TOO_LITTLE}), but serial execution in the witness "
            "order commits it; a database promises a serial order of committed transactions "
            "only, so its outcome is not compared and it contributes no writes") in \
        equivalence.explanation


def test_the_same_rolled_back_reader_fails_in_batch_order():
    """Aethel's engine promises every transaction serial order: nothing changes."""
    verdicts = judged_funds(rolled_back_reader().events, BATCH)
    assert STALE in verdicts[ISOLATION].anomalies()
    assert {OUTCOME, REPORTED_OUTCOME, FINAL_BALANCE} <= verdicts[EQUIVALENCE].anomalies()
    assert "rolled back on its own" not in verdicts[ISOLATION].explanation


def test_an_abort_its_reads_do_not_explain_is_still_judged():
    """t2 read a@t1 (110) but aborted saying a has 10: not an operation failing on what it
    read, so serial execution still judges its outcome."""
    events = (TraceBuilder()
              .start("t1").read("t1", "a", 10).write("t1", "a", 110).commit("t1")
              .start("t2", 1).read("t2", "a", 110, "t1", 1).abort("t2", TOO_LITTLE, 1)).events
    verdicts = judged_funds(events, ANY)
    assert verdicts[EQUIVALENCE].anomalies() == {OUTCOME, REPORTED_OUTCOME, FINAL_BALANCE}
    assert "rolled back on its own" not in verdicts[EQUIVALENCE].explanation


def test_a_rolled_back_readers_dirty_read_and_kept_write_still_fail():
    """What needs no serial order is judged as always: t2 read t1's write before t1
    committed, and its own write stayed."""
    reason = "InsufficientFundsError: insufficient funds: a has 110, withdrawal needs 500"
    batch = Batch({"a": 10}, (Transaction("t1", (Deposit("a", 100),)),
                              Transaction("t2", (Deposit("a", 1), Withdraw("a", 500)))))
    events = (TraceBuilder()
              .start("t1").read("t1", "a", 10).write("t1", "a", 110)
              .start("t2", 1).read("t2", "a", 110, "t1", 1).write("t2", "a", 111, "t1", 1)
              .commit("t1").abort("t2", reason.replace("110", "111"), 1)).events
    facts = derive_facts(batch, events, {"a": 111})
    verdicts = {v.property: v for v in check_all(facts, order=ANY)}
    assert DIRTY in verdicts[ISOLATION].anomalies()
    assert ABORTED_WRITE in verdicts[ATOMICITY].anomalies()
    assert FINAL_BALANCE in verdicts[EQUIVALENCE].anomalies()


def test_the_oracle_runs_a_rolled_back_transaction_for_its_outcome_only():
    oracle = serial_oracle(FUNDS, ["t1", "t2"], rolled_back=["t2"])
    assert oracle.outcomes["t2"] == ("committed", None)
    assert oracle.final_state == FUNDS_FINAL and oracle.last_writer == {"a": "t1"}


def test_a_report_shows_the_oracle_that_serial_equivalence_compared_with():
    """The counterexample's oracle under --order any is the witness-order run in which the
    rolled-back reader contributes no writes, as serial equivalence compared it."""
    events = rolled_back_reader().events
    verdicts = [v.to_json() for v in judged_funds(events, ANY).values()]
    shown = judged_oracle(ANY, FUNDS, verdicts, serial_oracle(FUNDS), events, FUNDS_FINAL,
                          FUNDS_OUTCOMES)
    assert shown is not None and shown.order == ("t1", "t2")
    assert shown.final_state == FUNDS_FINAL
