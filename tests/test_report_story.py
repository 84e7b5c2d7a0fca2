"""Reports that tell the story: from real campaigns (two mutants and a correct executor), the
terminal output of ``aethel verify``, ``summary.md``, ``index.html`` and ``aethel replay``
show the falsifying example first (the batch as JSON and as a table, the balances initially,
serially and on the executor side by side with the accounts that differ marked, the outcomes)
and then the explanation; their counts never call a property the counterexample fails a
pass; the verdict shows at a glance; every report names the version, the commit and the
command; and (with Debian's chromium) the pages fit a 500 px window."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import find, settings

from harness.campaign.strategies import _one_first, wide_reads
from harness.checks.verdict import ISOLATION, Collector
from harness.cli import main
from harness.report.campaign import (
    CE_FAIL,
    machine_rows,
    property_rows,
    render_markdown,
    timing_line,
    trace_rows,
    verdict_lines,
)
from harness.report.junit import junit_xml
from tests.browser import fits, needs_chromium, screenshot
from tests.documents import summary as old_summary

ROOT = Path(__file__).resolve().parents[1]
MUTANTS = {"lost-update": "WholeStateMerge", "g-single": "IgnoresDependencies"}
"""A lost update (its anomaly must show in the balances) and a cycle with times in its
explanation."""
VERSION = metadata.version("aethel-synchrony")
TIME = re.compile(r"\+\d+\.\d µs")


@dataclass
class Campaign:
    """A campaign's output and reports."""

    mutant: str | None
    code: int
    output: str
    folder: Path

    @property
    def summary(self) -> dict[str, Any]:
        return json.loads((self.folder / "summary.json").read_text())

    @property
    def ce(self) -> dict[str, Any]:
        return self.summary["counterexample"]

    @property
    def markdown(self) -> str:
        return (self.folder / "summary.md").read_text()

    @property
    def page(self) -> str:
        return (self.folder / "index.html").read_text()


def verify(folder: Path, *args: str) -> Campaign:
    """``python -m harness.cli verify`` on the thread backend, in a process of its own (so
    that the command line recorded is the real one)."""
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", "verify", "--backends", "thread", "--jobs", "1",
         "--report", str(folder), *args], cwd=ROOT, capture_output=True, text=True,
        timeout=900, env=env)
    report = re.search(r"^report: (.+)/index\.html$", done.stdout, re.M)
    assert report, done.stdout + done.stderr
    mutant = args[1].split(":")[1] if args[0] == "--executor" else None
    return Campaign(mutant, done.returncode, done.stdout, Path(report.group(1)))


@pytest.fixture(scope="module", params=sorted(MUTANTS))
def failing(request, tmp_path_factory) -> Campaign:
    mutant = MUTANTS[request.param]
    run = verify(tmp_path_factory.mktemp(request.param), "--executor",
                 f"harness.mutants.executors:{mutant}", "--examples", "60")
    assert run.code == 1, run.output
    return run


@pytest.fixture(scope="module")
def passing(tmp_path_factory) -> Campaign:
    run = verify(tmp_path_factory.mktemp("passing"), "--examples", "40")
    assert run.code == 0, run.output
    return run


def failed(ce: dict[str, Any]) -> list[str]:
    return [v["property"] for v in ce["verdicts"] if not v["ok"]]


def sides(ce: dict[str, Any]) -> dict[str, tuple[Any, Any, Any]]:
    """Per account: initial balance, serial oracle's and executor's."""
    oracle, executor = ce["oracle"]["final_balances"], ce["executor_result"]["final_balances"]
    return {a: (v, oracle[a], executor[a]) for a, v in ce["batch"]["accounts"].items()}


def in_order(text: str, *marks: str) -> None:
    """Each of ``marks`` occurs in ``text``, after the one before."""
    at = -1
    for mark in marks:
        found = text.find(mark, at + 1)
        assert found > at, f"{mark!r} missing or out of order"
        at = found


def once_each(lines: list[str], ce: dict[str, Any]) -> None:
    """No explanation line repeated; each failed verdict's first violation told once."""
    assert lines and len(lines) == len(set(lines)), lines
    text = "\n".join(lines)
    for v in ce["verdicts"]:
        if not v["ok"] and v["counterexample"]:
            assert text.count(v["counterexample"]["message"]) == 1, v["counterexample"]


def provenance_in(text: str) -> None:
    assert f"aethel-synchrony {VERSION}, " in text
    commit = re.search(r"aethel-synchrony [^,]+, commit ([0-9a-f]{4,}|not known);", text)
    assert commit, text[-400:]
    if (ROOT / ".git").exists() and shutil.which("git"):
        assert commit.group(1) != "not known"


# The terminal


def test_verify_prints_the_falsifying_example_first(failing):
    ce, out = failing.ce, failing.output
    lines = out.splitlines()
    assert lines[0].startswith("VIOLATION: ") and all(p in lines[0] for p in failed(ce))
    assert lines[1].startswith("Falsifying example: ")
    in_order(out, "Falsifying example: ", '{"version"', "\ntransaction ", "Balances",
             "Outcomes:", "Explanation: ", "Trace: ", "saved ", "Examples run up to the first")
    block = out[out.index('{"version"'):out.index("\n ]}", out.index('{"version"')) + 4]
    assert json.loads(block) == ce["batch"]
    balances = out[out.index("Balances"):out.index("Outcomes:")]
    for account, (initial, oracle, executor) in sides(ce).items():
        mark = " +differs" if oracle != executor else ""
        assert re.search(rf"^{account} +{initial} +{oracle} +{executor}{mark} *$", balances,
                         re.M), balances
    outcomes = out[out.index("Outcomes:"):out.index("Explanation: ")]
    assert all(re.search(rf"^{tx['id']} ", outcomes, re.M) for tx in ce["batch"]["transactions"])
    explanation = out[out.index("Explanation: "):out.index("Trace: ")].splitlines()[1:]
    once_each([line.strip() for line in explanation], ce)
    assert "+0.0 µs" in out[out.index("Trace: "):out.index("saved ")]


def test_verify_never_calls_a_failed_property_a_pass(failing):
    out = failing.output
    table = out[out.index("Examples run up to the first failure: "):out.index("coverage: ")]
    for prop in failed(failing.ce):
        row = re.search(rf"^{re.escape(prop)} +(.*)$", table, re.M).group(1)
        assert row.startswith("fail") and "pass" not in row, row


def test_verify_names_version_commit_and_command(failing, passing):
    for run in (failing, passing):
        last = run.output.strip().splitlines()[-1]
        provenance_in(last)
        assert last.endswith(f"command: python -m harness.cli verify --backends thread --jobs 1 "
                             f"--report {run.folder.parent}"
                             + (f" --executor harness.mutants.executors:{run.mutant} "
                                "--examples 60" if run.mutant else " --examples 40"))


def test_a_passing_campaign_says_so_first(passing):
    lines = passing.output.splitlines()
    assert lines[0] == "PASSED: all 7 properties hold on 40 examples."
    assert lines[1].startswith("no violation: 40 examples, ")
    assert "The table counts every example run: 40." in passing.output
    assert "Falsifying example" not in passing.output


# summary.md


def test_markdown_starts_with_the_falsifying_example(failing):
    ce, md = failing.ce, failing.markdown
    assert md.startswith("# Aethel verification: VIOLATION\n\n❌ **VIOLATION**: ")
    assert all(p in md.splitlines()[2] for p in failed(ce))
    in_order(md, "## Falsifying example", "```json", "| transaction | operations |",
             "| account | initial | serial oracle | executor |", "Outcomes:", "## Explanation",
             "```text", "The trace: ", "## Campaign")
    block = md[md.index("```json\n") + 8:md.index("\n```", md.index("```json"))]
    assert json.loads(block) == ce["batch"]
    for account, (initial, oracle, executor) in sides(ce).items():
        mark = "❌ differs" if oracle != executor else ""
        assert f"| {account} | {initial} | {oracle} | {executor} | {mark} |" in md
    explanation = md[md.index("```text\n") + 8:md.index("\n```", md.index("```text"))]
    once_each(explanation.splitlines(), ce)
    trace = md[md.index("The trace: "):md.index("## Campaign")]
    assert "| 1 | +0.0 µs |" in trace
    assert set(TIME.findall(explanation)) <= set(TIME.findall(trace))


def test_markdown_counts_agree_with_the_counterexample(failing):
    md = failing.markdown
    campaign = md[md.index("## Campaign"):]
    assert f"Examples run up to the first failure: {failing.summary['examples']} " in campaign
    assert "|---|---:|---:|---:|---|" in campaign  # numbers right-aligned
    for prop in failed(failing.ce):
        row = re.search(rf"^\| {re.escape(prop)} \|(.*)$", campaign, re.M).group(1)
        assert row.endswith(" ❌ fail |") or row.endswith(f" ❌ {CE_FAIL} |"), row
        assert "pass" not in row


def test_markdown_of_a_passing_campaign(passing):
    md = passing.markdown
    assert md.startswith("# Aethel verification: PASSED\n\n✅ **PASSED**: all 7 properties "
                         "hold on 40 examples.")
    assert "| serial equivalence | 40 | 0 | 0 | ✅ pass |" in md
    provenance_in(md)
    assert "command: `python -m harness.cli verify " in md


# index.html


def table_rows(fragment: str) -> list[tuple[str, list[str]]]:
    """(row class, cell texts) of every body row in ``fragment``."""
    return [(cls, [html.unescape(re.sub(r"<[^>]+>", "", c)) for c in
                   re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)])
            for cls, row in re.findall(r'<tr(?: class="([\w-]*)")?>(.*?)</tr>', fragment, re.S)
            if "<td" in row]


def test_page_starts_with_the_falsifying_example(failing):
    ce, page = failing.ce, failing.page
    assert "<script" not in page
    banner = re.search(r'<div class="banner bad"><strong>VIOLATION</strong> (.*?)</div>', page)
    assert banner and all(html.escape(p) in banner.group(1) for p in failed(ce))
    in_order(page, "</h1>", 'class="banner bad"', "<h2>Falsifying example</h2>", "<pre>",
             "<th>operations</th>", "<h3>Balances</h3>", "<h3>Outcomes</h3>",
             "<h2>Explanation</h2>", "<pre>", "<svg", "<h3>The trace: ", "<h2>Campaign</h2>")
    example = page[page.index("<h2>Falsifying example</h2>"):page.index("<h2>Explanation</h2>")]
    block = re.search(r"<pre>(.*?)</pre>", example, re.S).group(1)
    assert json.loads(html.unescape(block)) == ce["batch"]
    balances = table_rows(example[example.index("<h3>Balances"):example.index("<h3>Outcomes")])
    expected = {a: (cells, "differs" if cells[1] != cells[2] else "")
                for a, cells in sides(ce).items()}
    assert {cells[0]: (tuple(int(c) for c in cells[1:4]), cls or "")
            for cls, cells in balances} == expected
    if failing.mutant == MUTANTS["lost-update"]:  # the lost update shows in the values
        assert any(cls == "differs" for cls, _ in balances)
    outcomes = table_rows(example[example.index("<h3>Outcomes"):])
    assert [cells[0] for _, cells in outcomes] == [tx["id"] for tx in ce["batch"]["transactions"]]
    story = page[page.index("<h2>Explanation</h2>"):page.index("<h2>Campaign</h2>")]
    explanation = html.unescape(re.search(r"<pre>(.*?)</pre>", story, re.S).group(1))
    once_each(explanation.splitlines(), ce)
    trace = table_rows(story[story.index("<h3>The trace"):])
    assert len(trace) == len(ce["trace"]) and trace[0][1][1] == "+0.0 µs"
    assert set(TIME.findall(explanation)) <= {cells[1] for _, cells in trace}


def test_page_counts_agree_with_the_counterexample(failing):
    page = failing.page
    campaign = page[page.index("<h2>Campaign</h2>"):page.index("<h2>Coverage</h2>")]
    assert "Examples run up to the first failure: " in campaign
    rows = {cells[0]: (cls, cells[-1]) for cls, cells in table_rows(campaign)}
    for prop in failed(failing.ce):
        assert rows[prop] in (("bad", "fail"), ("bad", CE_FAIL)), rows[prop]


def test_pages_name_version_commit_and_command_and_describe_the_machine(failing, passing):
    for run in (failing, passing):
        head = re.search(r'<p class="subtitle">(aethel-synchrony .*?)</p>', run.page).group(1)
        provenance_in(html.unescape(re.sub(r"<[^>]+>", "", head)))
        assert "<code>python -m harness.cli verify " in head
        machine = table_rows(run.page[run.page.index("<h2>Machine</h2>"):])
        values = {cells[0]: cells[1] for _, cells in machine}
        assert not {"None", "True", "False", "null", "true"} & set(values.values())
        assert values["GIL"] in ("yes", "no")
        assert re.fullmatch(r"\d+(\.\d{1,2})?(, \d+(\.\d{1,2})?){2}",
                            values["load average (1, 5, 15 min)"])


def test_passing_page_has_a_green_banner(passing):
    page = passing.page
    assert '<div class="banner ok"><strong>PASSED</strong> all 7 properties hold on 40 ' \
        "examples.</div>" in page
    assert "Falsifying example" not in page and "<script" not in page


# aethel replay


def test_replay_prints_the_falsifying_example_first(failing):
    saved = failing.folder / "counterexample.json"
    done = CliRunner().invoke(main, ["replay", str(saved), "--executor",
                                     f"harness.mutants.executors:{failing.mutant}"])
    assert done.exit_code in (0, 1), done.output  # a race may not reproduce
    out = done.output
    assert out.startswith(f"Falsifying example: {failing.ce['transactions']} transactions, ")
    in_order(out, '{"version"', "\ntransaction ", "Balances", "Outcomes:", "Explanation: ",
             "replayed ")
    block = out[out.index('{"version"'):out.index("\n ]}") + 4]
    assert json.loads(block) == failing.ce["batch"]
    assert re.search(r"^  (FAIL|PASS) ", out, re.M)


# The pieces, on made-up documents


def test_an_explanation_tells_each_violation_once():
    c = Collector(ISOLATION)
    c.add("lost update", "t1's update of a is lost", ("t1", "t2"), ("a",))
    c.add("stale read", "t2 read a@init", ("t2",), ("a",))
    verdict = c.verdict("holds").to_json()
    assert verdict["lines"][0].count("t1's update of a is lost") == 1  # the status line too
    lines = verdict_lines(verdict)
    assert "\n".join(lines).count("t1's update of a is lost") == 1
    assert lines[0] == "FAIL isolation: 2 violations (1 lost update, 1 stale read)"


def test_a_property_only_the_counterexample_fails_is_never_a_pass():
    doc = old_summary()
    doc["counterexample"]["verdicts"][1] = {"property": "conservation", "ok": False,
                                            "lines": ["FAIL conservation: sum 3, not 2"]}
    rows = {r[0]: r for r in property_rows(doc)}
    assert rows["conservation"][1:] == [5, 0, 0, CE_FAIL]
    assert "| conservation | 5 | 0 | 0 | ❌ fail (counterexample) |" in render_markdown(doc)
    assert 'failures="2"' in junit_xml(doc)
    assert "the shrunk counterexample violates conservation" in junit_xml(doc)


def test_junit_names_version_commit_and_command():
    doc = {**old_summary(), "provenance": {"version": "1.2.3", "commit": None,
                                           "command": "aethel verify --seed 3"}}
    xml = junit_xml(doc)
    assert '<property name="aethel.version" value="1.2.3" />' in xml
    assert '<property name="aethel.commit" value="not known" />' in xml
    assert '<property name="aethel.command" value="aethel verify --seed 3" />' in xml


def test_shrinking_time_is_reported_apart_from_the_checking_rate():
    doc = {**old_summary(), "examples": 20, "seconds": 10.0}
    doc["counterexample"]["shrink_seconds"] = 8.0
    assert timing_line(doc) == ("20 examples checked in 2.0 s (10.0 examples/s); shrinking "
                                "the failure took 8.0 s.")


def test_the_machine_is_described_in_words():
    rows = dict(machine_rows({"gil": True, "cgroup_quota": None, "cpu_model": None,
                              "load_average": [9.51123046875, 1.0, 0.5],
                              "affinity": [0, 1, 2, 3, 6], "memory_gib": 23.5}))
    assert rows == {"GIL": "yes", "cgroup CPU quota": "none", "CPU model": "not known",
                    "load average (1, 5, 15 min)": "9.51, 1, 0.5", "CPU affinity": "0–3, 6",
                    "memory (GiB)": "23.5"}


def test_the_trace_is_in_microseconds_after_the_first_event_in_time_order():
    rows = trace_rows([{"event": "COMMIT", "txn": "t1", "ts": 1_000_110_800, "worker": 0},
                       {"event": "START", "txn": "t1", "ts": 1_000_000_000, "worker": 0},
                       {"event": "ABORT", "txn": "t2", "ts": 1_000_200_000, "worker": 1,
                        "reason": "insufficient funds"}])
    assert [r[:5] for r in rows] == [["1", "+0.0 µs", "0", "t1", "START"],
                                     ["2", "+110.8 µs", "0", "t1", "COMMIT"],
                                     ["3", "+200.0 µs", "1", "t2", "ABORT"]]
    assert rows[2][5] == "insufficient funds"


def test_race_batches_shrink_to_amounts_and_balances_of_one():
    quick = settings(database=None, max_examples=500, derandomize=True)
    # hot chains draw their amounts from _one_first: 1 first, 0 only later
    assert find(_one_first(60), lambda amount: True, settings=quick) == 1
    wide = find(wide_reads(), lambda b: len(b.transactions) >= 20, settings=quick)
    assert set(wide.accounts.values()) == {1}


# In a browser


@needs_chromium
def test_pages_fit_a_500_px_window_in_chromium(failing, passing, tmp_path):
    name = next(k for k, v in MUTANTS.items() if v == failing.mutant)
    for label, run in ((f"verify-{name}", failing), ("verify-passing", passing)):
        for width in (1400, 500):
            assert fits(run.page, width, tmp_path).startswith("fits true "), (label, width)
            screenshot(run.folder / "index.html", f"{label}-{width}.png", width, 2400)
