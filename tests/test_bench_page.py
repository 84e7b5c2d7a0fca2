"""The benchmark's report pages, rendered from a synthetic bench document (no benchmark runs):
the verdict line, quick-run scoping, narrow tables, clean cells, SVG figures, and (with
Debian's chromium) no horizontal overflow at 500 px."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from harness.bench.monitor import Usage
from harness.bench.summary import Runs, noise, summarize
from harness.bench.targets import evaluate_targets
from harness.bench.workloads import WORKLOADS
from harness.report.bench import render_html, render_markdown, write_report
from tests.browser import fits, needs_chromium, screenshot

SPEEDUPS = {
    "cpu-1ms": ([1, 2], {("thread", 2): 0.95, ("process", 2): 1.9}),
    "hash": ([1, 2], {("thread", 2): 1.9, ("process", 2): 1.7}),
    "sleep": ([1, 2, 8], {("thread", 8): 7.5, ("process", 8): 7.2}),
    "contention-low": ([1, 2], {("thread", 2): 0.9, ("process", 2): 1.5}),
    "dag-skewed": ([1, 2], {("thread", 2): 0.95, ("process", 2): 1.6}),
}
"""Per workload its worker counts and dataflow speedups (other cells: 1.0; levels 1.3 ×
slower; ceiling 0.95 × W). In a full run cpu-1ms, hash, sleep and both schedule targets are
met, contention-low and latency are missed, dag-independent is not measured."""


def synthetic_workload(name: str) -> dict[str, Any]:
    """One workload's section, summarized from made-up runs of two repetitions."""
    ws, speedups = SPEEDUPS[name]
    workload = WORKLOADS[name]
    batch = workload.batch(0, quick=True)
    runs = Runs(serial=[1.0, 1.02], serial_work=[0.96, 0.96], serial_cp=[0.01, 0.01],
                serial_usage=[Usage(1.0, [0.98], 0.02, [], 94.2, 0.0)] * 2)
    for w in sorted({1, *ws}):
        speed = 1.0 if w == 1 else 0.95 * w
        runs.ceiling[w] = [1.0 / speed, 1.01 / speed]
        runs.ceiling_cpu[w] = [[0.97] * w] * 2
    for backend in ("thread", "process"):
        for schedule, slower in (("dataflow", 1.0), ("levels", 1.3)):
            for w in ws:
                speed = speedups.get((backend, w), 1.0)
                key = (backend, schedule, w)
                runs.cells[key] = [slower / speed, slower * 1.01 / speed]
                runs.parallelism[key] = [min(w, 1.8)] * 2
                runs.verified[key] = True
                rss = [96.0] * w if backend == "process" else []
                runs.usage[key] = [Usage(1.0, [0.9] * w, 0.2, rss, 101.4, 0.01)] * 2
    return summarize(workload, batch, runs, ws, sorted({1, *ws}),
                     {"edges": 0, "levels": 1, "widest_level": len(batch), "analysis_s": 0.002},
                     0)


def synthetic_doc(quick: bool) -> dict[str, Any]:
    """A complete bench document in the shape ``aethel bench`` writes."""
    doc: dict[str, Any] = {
        "format": "aethel-bench", "version": 1, "started": "2026-11-28T08:58:19+00:00",
        "duration_s": 46.2,
        "config": {"quick": quick, "workloads": list(SPEEDUPS), "backends": ["thread", "process"],
                   "schedules": ["dataflow", "levels"], "workers": None, "repeat": None,
                   "pin": False, "seed": 0, "latency_repeat": None, "repetitions": 2,
                   "latency_repetitions": 10},
        "machine": {"cpu_model": "Test CPU", "logical_cores": 2, "physical_cores": 2,
                    "affinity": [0, 1], "cgroup_quota": None, "usable_cores": 2,
                    "memory_gib": 8.0, "python": "3.11.7", "implementation": "CPython",
                    "gil": True, "platform": "Linux-test", "load_average": [0.5, 0.4, 0.3],
                    "load_average_end": [0.6, 0.4, 0.3]},
        "workloads": [synthetic_workload(name) for name in SPEEDUPS],
        "latency": {"workers": 2, "repetitions": 10, "operations": {
            name: {"direct_us": direct, "backends": {
                b: {"median_us": direct * ratio, "min_us": direct * ratio,
                    "max_us": direct * ratio, "overhead_us": direct * (ratio - 1),
                    "ratio": ratio}
                for b, ratio in (("serial", 1.1), ("thread", 2.5), ("process", 3.0))}}
            for name, direct in (("spin-1ms", 1003.6), ("deposit", 3.4))}},
        "complete": True, "id": "20261128-085819-test", "command": "aethel bench",
    }
    doc["noise"] = noise(doc)
    doc["targets"] = evaluate_targets(doc)
    return doc


def expected_verdict(doc: dict[str, Any]) -> str:
    """``N of M targets met`` counted straight from the targets."""
    met = sum(t["met"] is True for t in doc["targets"])
    judged = sum(t["met"] is not None for t in doc["targets"])
    return f"{met} of {judged} targets met"


def html_tables(page: str) -> list[tuple[list[str], list[list[str]]]]:
    """Every table of a page: its headers and its rows of unescaped cell texts."""
    tables = []
    for table in re.findall(r"<table>(.*?)</table>", page, flags=re.S):
        headers = [html.unescape(h) for h in re.findall(r"<th>(.*?)</th>", table)]
        rows = [[html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
                for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table.split("</thead>")[1])]
        tables.append((headers, rows))
    return tables


def markdown_tables(text: str) -> list[list[list[str]]]:
    """Every Markdown table: its lines' cells, header first, separator dropped."""
    tables: list[list[list[str]]] = []
    previous = ""
    for line in text.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            if not previous.startswith("|"):
                tables.append([])
            tables[-1].append([c.strip() for c in line.strip("|").split(" | ")])
        previous = line
    return tables


def test_first_line_counts_the_targets_met_in_a_full_run():
    doc = synthetic_doc(quick=False)
    assert expected_verdict(doc) == "5 of 7 targets met"
    markdown = render_markdown(doc)
    assert markdown.splitlines()[0] == "# 5 of 7 targets met"
    page = render_html(doc)
    assert "<title>5 of 7 targets met</title>" in page and "<h1>5 of 7 targets met</h1>" in page
    statuses = {t["name"]: t["status"] for t in doc["targets"]}
    assert statuses["contention-low: process vs ceiling"] == "missed"
    assert statuses["dag-independent: process vs ceiling"] == "not measured"
    assert "Missed: contention-low: process vs ceiling; latency: thread, 1 ms op." in markdown
    assert markdown.count("Benchmarks are not tests") == 1
    assert "not asserted" not in markdown and "not judged" not in markdown


def test_quick_run_judges_only_the_targets_meant_for_it():
    doc = synthetic_doc(quick=True)
    judged = [t for t in doc["targets"] if t["met"] is not None]
    assert judged and all("quick" in t["scope"] for t in judged)
    unjudged = [t for t in doc["targets"] if t["status"] == "not judged"]
    assert {t["name"] for t in unjudged} == {
        "cpu-1ms: process vs ceiling", "contention-low: process vs ceiling",
        "hash: thread vs ceiling", "sleep: 8 threads"}
    assert all(t["scope"] == ["full"] and t["measured"] is not None for t in unjudged)
    markdown = render_markdown(doc)
    first = markdown.splitlines()[0]
    assert first == f"# {expected_verdict(doc)} (quick run, indicative)" == \
        "# 2 of 3 targets met (quick run, indicative)"
    assert "4 targets stated for the full workload sizes are not judged in a quick run" in \
        markdown
    (targets, *_) = markdown_tables(markdown)
    status = {row[1]: row[0] for row in targets[1:]}
    assert {status[t["target"]] for t in unjudged} == {"not judged"}


@pytest.mark.parametrize("quick", [False, True])
def test_cells_hold_no_artefacts_and_tables_stay_narrow(quick):
    doc = synthetic_doc(quick)
    page, markdown = render_html(doc), render_markdown(doc)
    artefact = re.compile(r"^(None|True|False|nan|inf)$|(^|\s);|\bNone\b|\d[eE][-+]\d")
    cells = [c for _, rows in html_tables(page) for row in rows for c in row]
    cells += [c for table in markdown_tables(markdown) for row in table for c in row]
    assert cells and not [c for c in cells if artefact.search(c)]
    for headers, rows in html_tables(page):
        assert len(headers) <= 7 and all(len(row) == len(headers) for row in rows)
    for table in markdown_tables(markdown):
        assert len(table[0]) <= 7
    for backend in ("thread", "process"):
        assert f"### {backend} backend" in markdown and f"<h3>{backend} backend</h3>" in page
    numeric = re.findall(r'<td( class="[^"]*")?>[\d,.]+(\xa0\([\d,.–\u2060]+\))?</td>', page)
    assert numeric and all(cls != ' class="text"' for cls, _ in numeric)


def test_words_are_plural_only_when_they_should_be():
    page = render_html(synthetic_doc(quick=False))
    assert "ceiling: 1 independent process<" in page
    assert "ceiling: 2 independent processes<" in page
    assert not re.search(r"\b1 (independent processes|edges|levels|workers|repetitions)\b",
                         page)
    assert "0 edges, 1 level" in page


def test_figures_are_inline_svg_and_the_page_is_script_free():
    doc = synthetic_doc(quick=False)
    page = render_html(doc)
    svgs = re.findall(r"<svg\b[^>]*>", page)
    assert len(svgs) == len(doc["workloads"]) + 3
    assert all('role="img"' in s and "width:100%" in s for s in svgs)
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids))
    assert "<img" not in page and "image/png" not in page
    assert "<script" not in page and "http" not in page


def test_markdown_marks_targets_met_and_missed():
    markdown = render_markdown(synthetic_doc(quick=False))
    (targets, *_) = markdown_tables(markdown)
    assert targets[0] == ["status", "target", "applies to", "measured", "needed", "detail"]
    assert [row[0] for row in targets[1:]].count("✅ met") == 5
    assert [row[0] for row in targets[1:]].count("❌ missed") == 2
    assert "not measured" in [row[0] for row in targets[1:]]


def test_write_report_writes_the_three_files(tmp_path):
    paths = write_report(synthetic_doc(quick=True), tmp_path / "bench")
    assert sorted(p.name for p in (tmp_path / "bench").iterdir()) == [
        "bench.json", "bench.md", "index.html"]
    assert paths["md"].read_text().startswith("# 2 of 3 targets met")


@needs_chromium
def test_page_fits_a_500_px_window_in_chromium(tmp_path):
    page = render_html(synthetic_doc(quick=True))
    (tmp_path / "index.html").write_text(page)
    for width in (1400, 500):
        assert fits(page, width, tmp_path).startswith("fits true "), width
        screenshot(tmp_path / "index.html", f"bench-{width}.png", width, 1000)
