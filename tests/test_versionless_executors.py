"""Executors that record no versions: what is judged without them, and what is not.

A trace records versions on all its READ and WRITE events or on none. Without them the
version-based properties (isolation's reads and installs, strict serializability) are not
judged and say so; every other checker judges as usual, so a bug visible in the values
read is still caught. A trace with versions on some events but not all is a trace
integrity violation naming the first event without one.
"""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from aethel.model import ATOMIC, Batch, Transaction
from aethel.operations import Deposit, Transfer
from aethel.trace import parse_jsonl
from harness.campaign import CampaignConfig
from harness.campaign.protocol import normalize
from harness.campaign.runner import CampaignResult
from harness.campaign.shards import ShardResult
from harness.checks import (
    ATOMICITY,
    CONSERVATION,
    EQUIVALENCE,
    ISOLATION,
    ORDER,
    PROPERTIES,
    SERIALIZABILITY,
    VALUES,
    check_all,
    check_atomicity,
    check_conservation,
    check_equivalence,
    check_isolation,
    check_order,
    check_serializability,
    check_values,
    derive_facts,
    serial_oracle,
)
from harness.checks.anomalies import (
    ABORTED_WRITE,
    CREATED,
    EARLY_START,
    INTEGRITY,
    NON_LINEARIZABLE,
    UNDECLARED,
    WRITE_ORDER,
)
from harness.checks.builder import TraceBuilder
from harness.checks.verdict import FAIL, NOT_JUDGED, PASS, Verdict, worst_verdicts
from harness.cli import main
from harness.mutants import hunt, strategies
from harness.report.campaign import render_html, render_markdown
from harness.report.junit import junit_xml
from tests.versionless_executors import VersionlessIgnoresDependencies

NO_VERSIONS = "not judged: no versions recorded"
SOME_VERSIONS = "not judged: versions recorded on only some READ and WRITE events"
EXAMPLE = "docs/examples/transfers.json"

TRANSFERS = Batch({"a": 100, "b": 50, "c": 0}, (
    Transaction("t1", (Transfer("a", "b", 30),)),
    Transaction("t2", (Transfer("b", "c", 10),))))


def transfers(version: str | None = None, t2_reads_b: int = 80) -> TraceBuilder:
    """TRANSFERS run serially; every version is ``version`` (``None``: not recorded), and t2
    reads ``b`` = ``t2_reads_b`` (50 is the stale initial balance)."""
    v = version
    return (TraceBuilder()
            .start("t1").read("t1", "a", 100, v).read("t1", "b", 50, v)
            .write("t1", "a", 70, v).write("t1", "b", 80, v).commit("t1")
            .start("t2").read("t2", "b", t2_reads_b, v).read("t2", "c", 0, v)
            .write("t2", "b", t2_reads_b - 10, v).write("t2", "c", 10, v).commit("t2"))


def verdicts_of(batch: Batch, trace: TraceBuilder, final=None) -> dict[str, Verdict]:
    return {v.property: v for v in check_all(derive_facts(batch, trace.events, final))}


def invoke(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


# Reading traces without versions


def test_trace_lines_and_protocol_events_may_leave_out_versions():
    _, events = parse_jsonl([
        '{"event": "READ", "txn": "t1", "ts": 1, "account": "a", "value": 3}',
        '{"event": "WRITE", "txn": "t1", "ts": 2, "account": "a", "value": 4}'])
    assert [(e.version, e.replaced) for e in events] == [(None, None), (None, None)]
    _, _, trace = normalize({"final_states": {"a": 4}, "outcomes": {"t1": "committed"},
                             "execution_trace": [
                                 {"event": "READ", "txn": "t1", "account": "a", "value": 3},
                                 {"event": "WRITE", "txn": "t1", "account": "a", "value": 4}]})
    assert [(e.kind, e.version, e.replaced) for e in trace] == [("READ", None, None),
                                                                 ("WRITE", None, None)]


# Each checker without versions


def test_without_versions_only_the_version_based_properties_are_not_judged():
    verdicts = verdicts_of(TRANSFERS, transfers(), {"a": 70, "b": 70, "c": 10})
    statuses = {prop: verdict.status for prop, verdict in verdicts.items()}
    assert statuses == {EQUIVALENCE: PASS, ORDER: PASS, ISOLATION: NOT_JUDGED,
                        SERIALIZABILITY: NOT_JUDGED, CONSERVATION: PASS, ATOMICITY: PASS,
                        VALUES: PASS}
    for prop in (ISOLATION, SERIALIZABILITY):
        verdict = verdicts[prop]
        assert verdict.ok and not verdict.applicable
        assert verdict.explanation.startswith(NO_VERSIONS)
        assert verdict.lines()[0].startswith(f"N/A  {prop}: {NO_VERSIONS}")


def test_isolation_says_what_it_judged_without_versions():
    verdict = check_isolation(derive_facts(TRANSFERS, transfers().events))
    assert verdict.explanation == (
        f"{NO_VERSIONS}, so which version each READ saw and each install replaced is unknown "
        "(dirty, stale and future reads, wrong values, lost updates between installs: "
        "linearizability (values) judges the values read instead); judged without them: the "
        "trace is well-formed, no access is undeclared and the installs of each account are "
        "in serial order")


def test_isolation_still_fails_what_it_judges_without_versions():
    batch = Batch({"a": 100}, (Transaction("t1", (Deposit("a", 5),)),
                               Transaction("t2", (Deposit("a", 7),))))
    undeclared = (TraceBuilder().start("t1").read("t1", "a", 100, None)
                  .read("t1", "z", 0, None).write("t1", "a", 105, None).commit("t1"))
    out_of_order = (TraceBuilder().start("t2").read("t2", "a", 100, None)
                    .write("t2", "a", 107, None).commit("t2").start("t1")
                    .read("t1", "a", 107, None).write("t1", "a", 112, None).commit("t1"))
    twice = (TraceBuilder().start("t1").start("t1").read("t1", "a", 100, None)
             .write("t1", "a", 105, None).commit("t1"))
    for trace, anomaly in ((undeclared, UNDECLARED), (out_of_order, WRITE_ORDER),
                           (twice, INTEGRITY)):
        verdict = check_isolation(derive_facts(batch, trace.events))
        assert verdict.status == FAIL and anomaly in verdict.anomalies(), verdict.explanation
        assert NO_VERSIONS in verdict.explanation


def test_a_stale_read_without_versions_is_left_to_the_values():
    facts = derive_facts(TRANSFERS, transfers(t2_reads_b=50).events)
    assert check_isolation(facts).status == NOT_JUDGED
    assert check_serializability(facts).status == NOT_JUDGED
    values = check_values(facts)
    assert values.anomalies() == {NON_LINEARIZABLE}
    assert values.counterexample.message.startswith("t2 read b=50, but no order consistent "
                                                    "with real time lets it")


def test_strict_serializability_names_the_values_verdict_and_gives_no_witness():
    verdict = check_serializability(derive_facts(TRANSFERS, transfers().events))
    assert verdict.witness is None
    assert verdict.explanation == (
        f"{NO_VERSIONS}, so the serialization graph has no ww, wr or rw edge: {VALUES} "
        "judges the values read and installed against real-time order instead")


def test_order_conservation_atomicity_and_equivalence_judge_without_versions():
    early = (TraceBuilder().start("t1").start("t2").read("t1", "a", 100, None)
             .read("t1", "b", 50, None).write("t1", "a", 70, None).write("t1", "b", 80, None)
             .commit("t1").read("t2", "b", 80, None).read("t2", "c", 0, None)
             .write("t2", "b", 70, None).write("t2", "c", 10, None).commit("t2"))
    assert check_order(derive_facts(TRANSFERS, early.events)).anomalies() == {EARLY_START}
    created = transfers()
    created.events[3] = created.events[3]._replace(value=90)
    assert CREATED in check_conservation(derive_facts(TRANSFERS, created.events)).anomalies()
    aborted = (TraceBuilder().start("t1").read("t1", "a", 100, None)
               .write("t1", "a", 70, None).abort("t1"))
    batch = Batch({"a": 100, "b": 50}, (Transaction("t1", (Transfer("a", "b", 30),)),))
    assert check_atomicity(derive_facts(batch, aborted.events)).anomalies() == {ABORTED_WRITE}
    facts = derive_facts(TRANSFERS, transfers().events, {"a": 70, "b": 70, "c": 11})
    assert not check_equivalence(facts, serial_oracle(TRANSFERS)).ok


def test_a_failed_atomic_batch_without_versions_is_judged_as_with_them():
    batch = Batch({"a": 10, "b": 0}, (Transaction("t1", (Transfer("a", "b", 5),)),
                                      Transaction("t2", (Transfer("a", "b", 50),))), ATOMIC)
    trace = (TraceBuilder().start("t1").read("t1", "a", 10, None).read("t1", "b", 0, None)
             .write("t1", "a", 5, None).write("t1", "b", 5, None).commit("t1")
             .start("t2").read("t2", "a", 5, None).read("t2", "b", 5, None)
             .abort("t2", "InsufficientFundsError: a has 5, needs 50"))
    verdicts = verdicts_of(batch, trace, {"a": 10, "b": 0})
    assert verdicts[ATOMICITY].status == PASS and verdicts[CONSERVATION].status == PASS
    assert verdicts[ISOLATION].status == NOT_JUDGED


# Versions on some events but not all


@pytest.mark.parametrize(("position", "named"), [
    (7, "t2's READ of b at +7.0 µs (event 8 in time order) has no 'version'"),
    (10, "t2's WRITE of c at +10.0 µs (event 11 in time order) has no 'replaced'"),
])
def test_versions_on_some_events_are_a_trace_integrity_violation(position, named):
    trace = transfers("init", t2_reads_b=50)  # a stale read, if the versions were used
    event = trace.events[position]
    trace.events[position] = event._replace(version=None, replaced=None)
    verdicts = verdicts_of(TRANSFERS, trace)
    isolation = verdicts[ISOLATION]
    assert isolation.anomalies() == {INTEGRITY} and isolation.count == 1
    assert isolation.counterexample.message.startswith(named)
    assert "while 7 of the trace's 8 READ and WRITE events record their version: a trace " \
        "records versions on all its READ and WRITE events or on none" in \
        isolation.counterexample.message
    assert SOME_VERSIONS in isolation.explanation
    assert verdicts[SERIALIZABILITY].status == NOT_JUDGED
    assert verdicts[SERIALIZABILITY].explanation.startswith(
        f"{SOME_VERSIONS} (see isolation: trace integrity), so the serialization graph")
    assert verdicts[VALUES].anomalies() == {NON_LINEARIZABLE}


def test_aethel_check_reads_traces_without_versions(tmp_path):
    trace, out = tmp_path / "trace.jsonl", tmp_path / "result.json"
    assert invoke("run", EXAMPLE, "--backend", "thread", "--trace", trace,
                  "--out", out).exit_code == 0
    header, *lines = trace.read_text().splitlines()
    events = [json.loads(line) for line in lines]
    bare = [{k: v for k, v in e.items() if k not in ("version", "replaced")} for e in events]
    versionless = tmp_path / "versionless.jsonl"
    versionless.write_text("\n".join([header, *map(json.dumps, bare)]) + "\n")
    result = invoke("check", versionless, "--batch", EXAMPLE, "--result", out)
    assert result.exit_code == 0, result.output
    assert f"N/A  isolation: {NO_VERSIONS}" in result.output
    assert "not judged: isolation, strict serializability" in result.output
    assert result.output.count("PASS ") == 5
    first = next(i for i, e in enumerate(events) if e["event"] == "READ")
    events[first] = bare[first]
    some = tmp_path / "some.jsonl"
    some.write_text("\n".join([header, *map(json.dumps, events)]) + "\n")
    result = invoke("check", some, "--batch", EXAMPLE, "--result", out)
    assert result.exit_code == 1, result.output
    read = events[first]
    assert f"trace integrity: {read['txn']}'s READ of {read['account']} at" in result.output
    assert f"(event {first + 1} in time order) has no 'version'" in result.output
    assert "VIOLATED: isolation" in result.output and "Traceback" not in result.output


# Campaigns through the executor protocol


def verify(tmp_path, executor: str, examples: int = 40):
    result = CliRunner().invoke(main, [
        "verify", "--executor", executor, "--backends", "thread", "--examples", str(examples),
        "--jobs", "1", "--report", str(tmp_path)])
    folder = next(tmp_path.glob("*/summary.json")).parent
    return result, json.loads((folder / "summary.json").read_text()), \
        (folder / "summary.md").read_text()


@pytest.fixture
def importable(monkeypatch):
    """The campaign's job processes import the test module's executors too."""
    monkeypatch.setenv("PYTHONPATH", ".")


def test_a_versionless_executor_passes_with_the_version_properties_not_judged(
        tmp_path, importable):
    result, summary, markdown = verify(tmp_path, "tests.versionless_executors:Versionless")
    assert result.exit_code == 0, result.output
    props = summary["properties"]
    for prop in (ISOLATION, SERIALIZABILITY):
        # a batch whose trace has no READ or WRITE event has no version to miss: it passes
        passed, unjudged = props[prop]["passed"], props[prop]["not_judged"]
        assert props[prop]["failed"] == 0 and unjudged > passed and passed + unjudged == 40
        assert props[prop]["not_judged_reason"].startswith(NO_VERSIONS)
        assert re.search(rf"{prop} +not judged +{passed} +0 +{unjudged}\n", result.output)
        assert f"not judged: {prop} ({unjudged} of 40 examples): {NO_VERSIONS}" \
            in result.output
        assert f"| {prop} | {passed} | 0 | {unjudged} | ⚠️ not judged |" in markdown
        assert f"- {prop} ({unjudged} of 40 examples): {NO_VERSIONS}" in markdown
    for prop in (EQUIVALENCE, ORDER, CONSERVATION, ATOMICITY, VALUES):
        assert props[prop] == {"passed": 40, "failed": 0, "not_judged": 0,
                               "not_judged_reason": None}
        assert f"| {prop} | 40 | 0 | 0 | ✅ pass |" in markdown
    assert markdown.startswith("# Aethel verification: NO VIOLATION (not judged: isolation, "
                               "strict serializability)")


def test_a_versionless_mutant_is_still_caught(tmp_path, importable):
    result, summary, _ = verify(tmp_path,
                                "tests.versionless_executors:VersionlessIgnoresDependencies")
    assert result.exit_code == 1, result.output
    counterexample = summary["counterexample"]
    assert counterexample["kind"] == "violation" and counterexample["failed_properties"]
    assert SERIALIZABILITY not in counterexample["failed_properties"]


def test_the_values_verdict_alone_catches_a_versionless_mutant():
    executor = VersionlessIgnoresDependencies("thread", 2)
    try:
        found = hunt(executor, strategies.conflicting(), 40,
                     lambda verdicts: not next(v for v in verdicts if v.property == VALUES).ok)
    finally:
        executor.close()
    assert found.found
    assert found.verdict(VALUES).anomalies() == {NON_LINEARIZABLE}
    assert found.verdict(ISOLATION).status != PASS
    assert found.verdict(SERIALIZABILITY).status == NOT_JUDGED


def test_versions_on_some_events_fail_the_example_naming_the_event(tmp_path, importable):
    result, summary, _ = verify(tmp_path, "tests.versionless_executors:SomeVersions", 20)
    assert result.exit_code == 1, result.output
    counterexample = summary["counterexample"]
    assert counterexample["kind"] == "violation"
    assert counterexample["failed_properties"] == [ISOLATION]
    isolation = next(v for v in counterexample["verdicts"] if v["property"] == ISOLATION)
    assert isolation["counterexample"]["anomaly"] == INTEGRITY
    message = isolation["counterexample"]["message"]
    assert "in time order) has no 'version', while" in message
    assert "a trace records versions on all its READ and WRITE events or on none" in message


# Counting and reporting "not judged"


def verdict(prop: str, status: str, why: str = "") -> Verdict:
    return Verdict(prop, status != FAIL, why, applicable=status != NOT_JUDGED)


def test_an_example_counts_its_worst_verdict_per_property():
    runs = [[verdict(ISOLATION, PASS), verdict(VALUES, NOT_JUDGED, "budget")],
            [verdict(ISOLATION, NOT_JUDGED, "first"), verdict(VALUES, FAIL)],
            [verdict(ISOLATION, NOT_JUDGED, "second"), verdict(VALUES, PASS)]]
    worst = worst_verdicts(runs)
    assert worst[ISOLATION].status == NOT_JUDGED and worst[ISOLATION].explanation == "first"
    assert worst[VALUES].status == FAIL


def test_not_judged_is_never_a_pass_in_the_reports():
    result = CampaignResult(CampaignConfig())
    for index, reason in enumerate(("not judged: first", "not judged: later")):
        result.add(ShardResult(index, examples=2, passed={p: 2 for p in PROPERTIES
                                                          if p != ISOLATION},
                               not_judged={ISOLATION: 2}, reasons={ISOLATION: reason}))
    assert result.not_judged == {ISOLATION: 4}
    summary = {**result.to_json(), "seconds": 1.0, "throughput_examples_per_s": 4.0}
    assert summary["properties"][ISOLATION] == {
        "passed": 0, "failed": 0, "not_judged": 4, "not_judged_reason": "not judged: first"}
    markdown = render_markdown(summary)
    assert "| isolation | 0 | 0 | 4 | ⚠️ not judged |" in markdown
    assert "- isolation (4 of 4 examples): not judged: first" in markdown
    assert "NO VIOLATION (not judged: isolation)" in markdown
    assert "isolation (4 of 4 examples): not judged: first" in render_html(summary)
    xml = junit_xml(summary)
    assert 'skipped="1"' in xml
    assert '<skipped message="isolation (4 of 4 examples): not judged: first"' in xml


def test_a_summary_without_not_judged_counts_still_renders():
    result = CampaignResult(CampaignConfig())
    result.add(ShardResult(0, examples=1, passed={p: 1 for p in PROPERTIES}))
    summary = {**result.to_json(), "seconds": 1.0, "throughput_examples_per_s": 1.0}
    for counts in summary["properties"].values():
        del counts["not_judged"], counts["not_judged_reason"]
    markdown = render_markdown(summary)
    assert markdown.startswith("# Aethel verification: PASSED")
    assert "| isolation | 1 | 0 | 0 | ✅ pass |" in markdown and "Not judged" not in markdown

