"""The benchmark's report pages, rendered from a synthetic bench document (no benchmark runs):
the verdict line, quick-run scoping, narrow tables, clean cells, SVG figures, and (with
Debian's chromium) no horizontal overflow at 500 px."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from harness.bench.campaign import DEFAULT, THREAD, Point, summarize_campaigns
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
slower; ceiling 0.95 × W). The plain loop takes 0.8 of the serial backend's time and the bare
pool is 1.8 × faster than the plain loop; Dask 0.5 × as fast. In a full run cpu-1ms, hash,
sleep, both schedule targets and process vs serial are met; contention-low (vs ceiling and
vs the bare pool), the other workloads vs the bare pool, thread vs serial (contention-low
0.9) and latency are missed; dag-independent and cpu-0.1ms are not measured."""
PLAIN, POOL, DASK = 0.8, 0.8 / 1.8, 0.8 / 0.5


def synthetic_workload(name: str) -> dict[str, Any]:
    """One workload's section, summarized from made-up runs of two repetitions."""
    ws, speedups = SPEEDUPS[name]
    workload = WORKLOADS[name]
    batch = workload.batch(0, quick=True)
    runs = Runs(serial=[1.0, 1.02], serial_work=[0.96, 0.96], serial_cp=[0.01, 0.01],
                serial_usage=[Usage(1.0, [0.98], 0.02, [], 94.2, 0.0)] * 2,
                plain=[PLAIN, PLAIN * 1.02], peers={"bare-pool": [POOL, POOL * 1.01],
                                                    "dask": [DASK, DASK * 1.01]},
                peer_usage={"bare-pool": [Usage(0.5, [0.9] * 2, 0.1, [50.0] * 2, 90.0, 0.0)]})
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
                     0, (2, None))


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


UNBROKEN_BACK = str.maketrans({"\u00a0": " ", "\u2060": None})
"""The page's no-break space and word joiner, back to what the Markdown shows."""


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
    assert expected_verdict(doc) == "6 of 11 targets met"
    markdown = render_markdown(doc)
    assert markdown.splitlines()[0] == "# 6 of 11 targets met"
    page = render_html(doc)
    assert "<title>6 of 11 targets met</title>" in page and "<h1>6 of 11 targets met</h1>" in page
    statuses = {t["name"]: t["status"] for t in doc["targets"]}
    assert statuses["contention-low: process vs ceiling"] == "missed"
    assert statuses["dag-independent: process vs ceiling"] == "not measured"
    assert statuses["cpu-0.1ms: process vs pool"] == "not measured"
    assert statuses["process vs serial: all"] == "met"
    assert ("Missed: contention-low: process vs pool; others: process vs pool; thread vs "
            "serial: all; contention-low: process vs ceiling; latency: thread, 1 ms op."
            ) in markdown
    assert markdown.count("Benchmarks are not tests") == 1
    assert "not asserted" not in markdown and "not judged" not in markdown


def test_quick_run_judges_only_the_targets_meant_for_it():
    doc = synthetic_doc(quick=True)
    judged = [t for t in doc["targets"] if t["met"] is not None]
    assert judged and all("quick" in t["scope"] for t in judged)
    unjudged = [t for t in doc["targets"] if t["status"] == "not judged"]
    assert {t["name"] for t in unjudged} == {
        "cpu-1ms: process vs ceiling", "contention-low: process vs ceiling",
        "hash: thread vs ceiling", "sleep: 8 threads", "contention-low: process vs pool",
        "others: process vs pool", "process vs serial: all", "thread vs serial: all",
        "dag-independent: process vs ceiling", "cpu-0.1ms: process vs pool"}
    assert all(t["scope"] == ["full"] for t in unjudged)
    markdown = render_markdown(doc)
    first = markdown.splitlines()[0]
    assert first == f"# {expected_verdict(doc)} (quick run, indicative)" == \
        "# 2 of 3 targets met (quick run, indicative)"
    assert "10 targets stated for the full workload sizes are not judged in a quick run" in \
        markdown
    (_, _, targets, *_) = markdown_tables(markdown)
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
    (_, _, targets, *_) = markdown_tables(markdown)
    assert targets[0] == ["status", "target", "applies to", "measured", "needed", "detail"]
    assert [row[0] for row in targets[1:]].count("✅ met") == 6
    assert [row[0] for row in targets[1:]].count("❌ missed") == 5
    assert "not measured" in [row[0] for row in targets[1:]]


def test_the_first_tables_compare_the_engine_with_its_peers():
    doc = synthetic_doc(quick=False)
    markdown, page = render_markdown(doc), render_html(doc)
    peers, ratios, *_ = markdown_tables(markdown)
    assert peers[0] == ["workload", "bare pool", "Aethel process", "Aethel thread",
                        "Aethel serial", "Dask", "ceiling"]
    assert ratios[0] == ["workload", "W", "process / bare pool", "Aethel / Dask",
                         "process / serial", "thread / serial"]
    assert [row[0] for row in peers[1:]] == [f"{name} ({WORKLOADS[name].quick_size} tx)"
                                             for name in SPEEDUPS]
    cpu = dict(zip(peers[0], peers[1], strict=True))
    # plain loop 0.8 and 0.816 s; bare pool 1.8 × and 1.8 × 1.02 / 1.01 faster; process
    # 1.9 × faster than serial (1.0, 1.02 s) in the first repetition, 1.9 / 1.01 × in the
    # second; Dask twice as slow as the plain loop (then 1.02 / 1.01 × less slow)
    assert cpu["bare pool"] == "1.81 (1.80–1.82)" and cpu["Aethel serial"] == "0.80"
    assert cpu["Aethel process"] == "1.53 (1.52–1.54)" and cpu["Dask"] == "0.50"
    assert dict(zip(ratios[0], ratios[1], strict=True))["process / bare pool"] == "0.84"
    (first_headers, first_rows), (ratio_headers, _), (target_headers, _), *_ = html_tables(page)
    assert first_headers == peers[0] and ratio_headers == ratios[0]
    assert target_headers[0] == "status"
    assert [[c.translate(UNBROKEN_BACK) for c in row] for row in first_rows] == peers[1:]
    assert "Dask did not run" not in markdown


def test_a_missing_dask_is_named_in_the_report():
    doc = synthetic_doc(quick=True)
    for w in doc["workloads"]:
        w["peers"]["dask_skipped"] = "dask is not installed"
        w["peers"]["speedup"]["dask"] = w["peers"]["ratio"]["process/dask"] = None
    markdown = render_markdown(doc)
    assert "Dask did not run: dask is not installed." in markdown
    peers, ratios, *_ = markdown_tables(markdown)
    assert {row[5] for row in peers[1:]} == {"–"} and {row[3] for row in ratios[1:]} == {"–"}


def synthetic_campaign() -> dict[str, Any]:
    """A campaign-mode document: examples/s 100 at one job, 150 at two."""
    def point(kind: str, jobs: int, workers: int, rate: float) -> Point:
        return Point(THREAD if kind == "thread" else DEFAULT, jobs, workers), [
            {"examples": 300, "seconds": 300 / rate, "examples_per_s": rate,
             "first_shard_s": 1.5 * jobs, "steady_examples_per_s": rate * 1.2,
             "cpu_cores": 0.9 * jobs, "cpu_ms_per_example": 9.0 * jobs / rate * 100,
             "cpu_s": {"jobs": 3.0, "engine": 1.0, "coordinator": 0.0}, "ok": True,
             "complete": True}]

    runs = dict(point(kind, jobs, workers, rate * (1.5 if jobs == 2 else 1.0))
                for kind, workers, rate in (("thread", 2, 100.0), ("default", 1, 80.0),
                                            ("default", 2, 70.0))
                for jobs in (1, 2))
    return summarize_campaigns(runs, 300, 1, Point(DEFAULT, 2, 2))


def test_campaign_mode_reports_examples_per_second_by_jobs():
    doc = synthetic_doc(quick=False)
    doc["workloads"], doc["config"]["workloads"] = [], []
    doc["config"]["campaign"] = True
    doc["latency"]["operations"] = {}
    doc["campaign"] = synthetic_campaign()
    doc["noise"] = noise(doc)
    doc["targets"] = evaluate_targets(doc)
    assert [(t["name"], t["status"]) for t in doc["targets"]] == [
        ("campaign: thread jobs 2 / 1", "missed"), ("campaign: default choice vs best", "missed")]
    assert doc["campaign"]["best"] == {"thread": "thread jobs=2 workers=2",
                                       "default": "default jobs=2 workers=1"}
    markdown, page = render_markdown(doc), render_html(doc)
    assert markdown.splitlines()[0] == "# 0 of 2 targets met"
    campaign, evidence, targets = markdown_tables(markdown)
    assert campaign[2] == ["thread", "2", "2", "150", "1.50", "1.80", "yes"]
    assert evidence[2] == ["thread", "2", "2", "3.00", "180", "12.0", "25 %"]
    assert targets[0][0] == "status"
    assert "latency" not in markdown.lower() and "Every cell" not in page
    assert "aethel verify runs by default: default jobs=2 workers=2." in markdown


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
