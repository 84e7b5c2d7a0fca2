"""``aethel bench``: workloads, the ceiling, the figures' arithmetic and the three report
files. Behaviour only: nothing here asserts a timing."""

from __future__ import annotations

import json
import re
import time

import psutil
import pytest
from click.testing import CliRunner

from aethel.analysis import dependency_graph, independent_sets
from aethel.executor import ParallelExecutor
from aethel.model import Batch, Transaction
from aethel.operations import Deposit, Spin, Transfer
from harness.bench.campaign import THREAD, Point, campaign_points, run_point
from harness.bench.ceiling import CeilingPool, split
from harness.bench.measure import Bench, BenchConfig, worker_counts, workers_for
from harness.bench.monitor import ResourceMonitor, Usage, machine_info
from harness.bench.peers import (
    PeerPlan,
    PeerPool,
    Work,
    chunksize,
    dask_missing,
    plain_loop,
    run_work,
)
from harness.bench.summary import Runs, compare_peers, stats, summarize
from harness.bench.targets import _schedule_targets as schedule_targets
from harness.bench.targets import evaluate_targets
from harness.bench.workloads import WORKLOADS
from harness.cli import main
from harness.report.bench import num, resource_rows, sig
from harness.report.common import markdown_table, page_html, table_html

QUICK_WORKLOADS = "cpu-1ms,hash,sleep,dag-skewed"
needs_dask = pytest.mark.skipif(dask_missing() is not None,
                                reason="dask is not importable (the dask extra is not installed)")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One reduced quick run shared by the report tests."""
    out = tmp_path_factory.mktemp("reports")
    result = CliRunner().invoke(main, ["bench", "--quick", "--repeat", "1",
                                       "--workloads", QUICK_WORKLOADS, "--report", str(out)])
    assert result.exit_code == 0, result.output
    (directory,) = out.iterdir()
    return result, directory, json.loads((directory / "bench.json").read_text())


@pytest.mark.parametrize("name", list(WORKLOADS))
def test_workloads_are_seeded_and_documented(name):
    workload = WORKLOADS[name]
    first, again = workload.batch(3, quick=True), workload.batch(3, quick=True)
    assert first == again
    assert workload.batch(4, quick=True) != first
    assert len(first) == workload.quick_size and workload.size >= workload.quick_size
    assert workload.description.endswith(".")


def test_dag_shapes_are_what_their_names_say():
    def graph(name):
        return dependency_graph(WORKLOADS[name].batch(0, quick=True))

    assert graph("dag-independent").number_of_edges() == 0
    chains = graph("dag-chains")
    assert chains.number_of_edges() == chains.number_of_nodes() - 8
    skewed = graph("dag-skewed")
    assert len(independent_sets(skewed)) == WORKLOADS["dag-skewed"].quick_size // 2
    assert graph("contention-high").number_of_edges() > graph("contention-low").number_of_edges()


def test_worker_counts_double_up_to_the_limit():
    assert worker_counts(1) == [1]
    assert worker_counts(2) == [1, 2]
    assert worker_counts(6) == [1, 2, 4, 6]
    assert worker_counts(8) == [1, 2, 4, 8]


def test_waiting_workloads_go_beyond_the_cores_in_full_runs_only():
    sleep, cpu = WORKLOADS["sleep"], WORKLOADS["cpu-1ms"]
    assert workers_for(sleep, BenchConfig(), 2) == [1, 2, 4, 8]
    assert workers_for(sleep, BenchConfig(quick=True), 2) == [2]
    assert workers_for(cpu, BenchConfig(quick=True), 4) == [4]
    assert workers_for(cpu, BenchConfig(), 2) == [1, 2]
    assert workers_for(cpu, BenchConfig(workers=(3, 1)), 2) == [1, 3]


def test_stats_give_median_range_and_quartiles():
    assert stats([3.0, 1.0, 2.0]) == {"median": 2.0, "min": 1.0, "max": 3.0, "q1": 1.5,
                                      "q3": 2.5}
    assert stats([5.0])["q1"] == 5.0


def test_split_shares_every_transaction_once_with_balanced_cost():
    batch = WORKLOADS["dag-skewed"].batch(0, quick=True)
    shares = split(batch, 3)
    ids = sorted(tx.id for share in shares for tx, _ in share)
    assert ids == sorted(batch.ids)
    loads = [sum(tx.cost_us() for tx, _ in share) for share in shares]
    assert max(loads) - min(loads) <= max(tx.cost_us() for tx in batch.transactions)
    for share in shares:
        for tx, snapshot in share:
            assert set(snapshot) == tx.accounts


def test_ceiling_runs_the_work_on_independent_processes():
    batch = WORKLOADS["cpu-0.1ms"].batch(0, size=20)
    with CeilingPool(2) as pool:
        assert len(set(pool.pids())) == 2
        for workers in (1, 2):
            run = pool.measure(batch, workers)
            assert run.workers == workers and run.wall_s > 0
            assert len(run.busy_s) == len(run.cpu_s) == workers
        with pytest.raises(ValueError):
            pool.measure(batch, 3)


def test_resource_monitor_reports_cpu_rss_and_foreign_load():
    with ResourceMonitor(tids=[]) as monitor:
        sum(i * i for i in range(20_000))
    usage = monitor.usage
    assert usage.wall_s > 0 and usage.coordinator_rss_mib > 0
    assert usage.foreign_cpu >= 0 and usage.worker_cpu == []


def test_the_coordinators_cpu_is_counted_finer_than_clock_ticks():
    """4 ms of CPU: psutil's process times count it in 10 ms ticks (often as nothing)."""
    with ResourceMonitor() as monitor:
        begin = time.process_time()
        while time.process_time() - begin < 0.004:
            pass
    usage = monitor.usage
    assert 0.004 <= usage.coordinator_cpu * usage.wall_s < 0.009


def test_machine_info_names_cores_affinity_quota_and_python():
    info = machine_info()
    assert {"cpu_model", "logical_cores", "physical_cores", "affinity", "cgroup_quota",
            "usable_cores", "python"} <= set(info)
    assert info["usable_cores"] >= 1


def test_summary_computes_bound_efficiency_and_ceiling_consistently():
    runs = Runs(serial=[1.0, 1.2], serial_work=[0.9, 0.9], serial_cp=[0.3, 0.3],
                 ceiling={1: [0.8, 0.8], 4: [0.25, 0.2]},
                 ceiling_cpu={1: [[1.0], [1.0]], 4: [[1.0] * 4, [1.0] * 4]})
    key = ("process", "dataflow", 4)
    runs.cells[key] = [0.5, 0.4]
    runs.parallelism[key] = [2.0, 2.2]
    runs.verified[key] = True
    runs.usage[key] = [Usage(0.5, [0.9] * 4, 0.1, [40.0] * 4, 80.0, 0.0)] * 2
    runs.serial_usage = [Usage(1.0, [1.0], 0.0, [], 80.0, 0.0)] * 2
    doc = summarize(WORKLOADS["dag-chains"], WORKLOADS["dag-chains"].batch(0, quick=True), runs,
                    [4], [1, 4], {"edges": 0, "levels": 1, "widest_level": 1,
                                  "analysis_s": 0.0}, 0)
    (cell,) = doc["cells"]
    assert doc["bounds"]["4"] == pytest.approx(3.0)
    assert cell["speedup"]["median"] == pytest.approx(2.5)
    assert cell["efficiency"] == pytest.approx(2.5 / 3.0)
    assert doc["ceiling"]["4"]["speedup"]["median"] == pytest.approx(3.6)
    assert cell["vs_ceiling"] == pytest.approx(2.5 / 3.6)


def _schedules(dataflow: list[float], levels: list[float]) -> dict:
    """The target "dataflow never slower than levels" for one thread backend pair whose
    runs took ``dataflow`` and ``levels`` seconds."""
    runs = Runs(serial=[1.0] * 3, serial_work=[0.9] * 3, serial_cp=[0.3] * 3,
                ceiling={1: [0.8] * 3, 2: [0.4] * 3}, ceiling_cpu={1: [[1.0]] * 3,
                                                                   2: [[1.0, 1.0]] * 3})
    runs.serial_usage = [Usage(1.0, [1.0], 0.0, [], 80.0, 0.0)] * 3
    for schedule, times in (("dataflow", dataflow), ("levels", levels)):
        key = ("thread", schedule, 2)
        runs.cells[key] = times
        runs.parallelism[key] = [1.0] * 3
        runs.verified[key] = True
        runs.usage[key] = [Usage(t, [0.5, 0.5], 0.1, [40.0] * 2, 80.0, 0.0) for t in times]
    workload = summarize(WORKLOADS["sleep"], WORKLOADS["sleep"].batch(0, quick=True), runs,
                         [2], [1, 2], {"edges": 0, "levels": 1, "widest_level": 1,
                                       "analysis_s": 0.0}, 0)
    return next(t for t in schedule_targets({"workloads": [workload]})
                if t["name"] == "dataflow slower than levels: pairs")


def test_dataflow_is_slower_than_levels_only_beyond_noise():
    """Every run of one slower than every run of the other happens by chance, one pair in
    twenty at three repetitions of equal schedules: a 1 % difference is noise, 20 % is
    not."""
    assert _schedules([1.01, 1.02, 1.015], [1.0, 1.005, 1.0])["met"] is True
    slower = _schedules([1.2, 1.22, 1.21], [1.0, 1.01, 1.0])
    assert slower["met"] is False and slower["measured"] == 1
    assert "sleep thread×2 (1.21×)" in slower["detail"]


def test_quick_run_writes_three_files_with_the_expected_structure(quick_run):
    result, directory, doc = quick_run
    assert sorted(p.name for p in directory.iterdir()) == ["bench.json", "bench.md",
                                                           "index.html"]
    assert doc["format"] == "aethel-bench" and doc["config"]["quick"] is True
    assert [w["name"] for w in doc["workloads"]] == QUICK_WORKLOADS.split(",")
    assert doc["machine"]["python"] and doc["machine"]["logical_cores"] >= 1
    reps = doc["config"]["repetitions"]
    for w in doc["workloads"]:
        assert len(w["serial"]["times"]) == reps
        assert {(c["backend"], c["schedule"], c["workers"]) for c in w["cells"]} == {
            (b, s, x) for b in ("thread", "process") for s in ("dataflow", "levels")
            for x in w["workers"]}
        for x in {1, *w["workers"]}:
            assert len(w["ceiling"][str(x)]["times"]) == reps
            assert all(t > 0 for t in w["ceiling"][str(x)]["times"])
        for c in w["cells"]:
            assert c["verified"] is True
            assert len(c["times"]) == reps and len(c["cpu_util"]["workers"]) == c["workers"]
            assert c["bound"] == pytest.approx(min(c["workers"], w["work_over_critical_path"]))
            assert c["efficiency"] == pytest.approx(c["speedup"]["median"] / c["bound"])
            assert c["ceiling"] == w["ceiling"][str(c["workers"])]["speedup"]["median"]
            assert c["vs_ceiling"] == pytest.approx(c["speedup"]["median"] / c["ceiling"])
            assert c["speedup"]["min"] <= c["speedup"]["median"] <= c["speedup"]["max"]
    cores = doc["machine"]["usable_cores"]
    assert all(w["workers"] == [cores] for w in doc["workloads"])
    assert set(doc["latency"]["operations"]) == {"spin-1ms", "deposit"}
    assert len(doc["targets"]) == 13
    measured = {t["cell"].split()[0] for t in doc["targets"] if t["measured"] is not None}
    assert {"cpu-1ms", "hash", "dag-skewed", "latency"} <= measured  # sleep: 8 threads
    for t in doc["targets"]:
        assert isinstance(t["noisy"], bool)
        if t["scope"] == ["full"]:
            assert t["met"] is None and t["status"] in {"not judged", "not measured"}
        else:
            assert t["status"] in {"met", "missed"} and t["met"] == (t["status"] == "met")
    assert all(w["ceiling"][k]["foreign_cpu"]["max"] >= 0 for w in doc["workloads"]
               for k in w["ceiling"])
    assert doc["targets"] == evaluate_targets(doc)
    assert re.search(r"\[\d+/\d+\]", result.stderr)
    assert re.search(r"^\d+ of \d+ targets? met \(quick run, indicative\)$", result.stdout,
                     flags=re.M)
    assert "not judged" in result.stdout and "MISSED" not in result.stdout


def test_quick_run_measures_the_peers_in_the_same_repetitions(quick_run):
    result, directory, doc = quick_run
    reps = doc["config"]["repetitions"]
    dask = dask_missing() is None
    for w in doc["workloads"]:
        peers = w["peers"]
        assert peers["workers"] == doc["machine"]["usable_cores"]
        assert len(peers["plain_loop"]["times"]) == reps
        assert set(peers["times"]) == {"bare-pool", "process", "thread", "serial",
                                       *(["dask"] if dask else [])}
        assert all(len(times) == reps for times in peers["times"].values())
        for name, speedup in peers["speedup"].items():
            assert (speedup is None) == (name == "dask" and not dask)
        assert peers["ratio"]["process/bare-pool"]["median"] > 0
        assert (peers["ratio"]["process/dask"] is None) == (not dask)
        assert peers["dask_skipped"] == dask_missing()
    (first, *_) = re.findall(r"^\| workload \|[^\n]*", (directory / "bench.md").read_text(),
                             flags=re.M)
    assert first.startswith("| workload | bare pool | Aethel process | Aethel thread |")
    assert (directory / "bench.md").read_text().index(first) < \
        (directory / "bench.md").read_text().index("| status |")
    html = (directory / "index.html").read_text()
    assert html.index("<th>bare pool</th>") < html.index("<th>status</th>")
    out = result.stdout
    assert out.index("Against what you would write instead") < out.index("status")
    for w in doc["workloads"]:
        assert re.search(rf"^ ?{re.escape(w['name'])} .*\d", out, flags=re.M)


def test_markdown_has_verdict_command_targets_and_every_cell(quick_run):
    _, directory, doc = quick_run
    text = (directory / "bench.md").read_text()
    assert re.match(r"# \d+ of \d+ targets? met \(quick run, indicative\)\n", text)
    assert "Command: `aethel bench" in text and "## Targets" in text
    rows = sum(len(w["workers"]) for w in doc["workloads"])
    assert text.count("| thread · dataflow |") == 2 * rows  # time and resources


def test_coordinator_cpu_per_transaction_is_its_share_over_the_median_run(quick_run):
    _, directory, doc = quick_run
    assert "| coordinator CPU: cores (µs / transaction) |" in \
        (directory / "bench.md").read_text()
    for w in doc["workloads"]:
        for cell, row in zip(w["cells"], resource_rows(w), strict=True):
            share = cell["cpu_util"]["coordinator"]
            us = share * cell["time"]["median"] / w["transactions"] * 1e6
            assert row[3] == f"{num(share)} ({sig(us)})"
    cell = {"backend": "process", "schedule": "dataflow", "workers": 2,
            "cpu_util": {"workers": [0.9, 0.9], "coordinator": 0.25},
            "time": {"median": 0.2}, "foreign_cpu": {"median": 0.0},
            "peak_rss_mib": {"workers": [60.0, 61.0], "coordinator": 120.0}}
    assert resource_rows({"transactions": 1000, "cells": [cell]})[0][3] == "0.25 (50.0)"


def test_html_is_self_contained_with_inline_svg_figures(quick_run):
    _, directory, doc = quick_run
    html = (directory / "index.html").read_text()
    assert "http://" not in html and "https://" not in html and "<script" not in html
    assert "<img" not in html and "src=" not in html
    assert len(re.findall(r"<svg\b", html)) == len(doc["workloads"]) + 3
    assert "<style>" in html and "speedup vs workers" in html


def test_bad_options_exit_2_with_one_message():
    runner = CliRunner()
    result = runner.invoke(main, ["bench", "--workloads", "cpu-1ms,nope"])
    assert result.exit_code == 2 and "--workloads" in result.output and "'nope'" in result.output
    result = runner.invoke(main, ["bench", "--workers", "0"])
    assert result.exit_code == 2 and "--workers" in result.output
    result = runner.invoke(main, ["bench", "--backends", "serial"])
    assert result.exit_code == 2 and "--backends" in result.output


def test_report_helpers_escape_and_stay_offline():
    table = table_html(["a"], [["<b>&"]])
    assert "&lt;b&gt;&amp;" in table
    page = page_html("T <1>", [table], subtitle="s")
    assert page.startswith("<!DOCTYPE html>") and "T &lt;1&gt;" in page
    assert "http" not in page
    assert markdown_table(["x", "y"], [["a|b", 1]]).splitlines() == [
        "| x | y |", "|---|---|", "| a\\|b | 1 |"]


def test_default_config_measures_everything():
    config = BenchConfig()
    assert config.repetitions == 5 and BenchConfig(quick=True).repetitions == 2
    assert set(config.workloads) == set(WORKLOADS)
    assert config.latency_repetitions > BenchConfig(quick=True).latency_repetitions


def test_peer_plan_keeps_only_cpu_work_and_the_dags_edges():
    batch = WORKLOADS["contention-high"].batch(0, quick=True)
    graph = dependency_graph(batch)
    plan = PeerPlan.of(batch, graph)
    assert len(plan.works) == len(batch)
    assert all(isinstance(op, Spin) for work in plan.works for op in work.ops)
    assert not any(isinstance(op, (Deposit, Transfer)) for work in plan.works for op in work.ops)
    assert sum(len(g) for g in plan.generations) == len(batch)
    assert [len(g) for g in plan.generations] == [len(s) for s in independent_sets(graph)]
    edges = {(dep, tx) for tx, task in plan.dask_graph.items() for dep in task[2:]}
    assert edges == set(graph.edges())
    assert set(plan.sinks) == {n for n in graph if not graph.out_degree(n)}


def test_chunks_are_about_four_per_worker_and_never_empty():
    assert chunksize(1, 2) == 1
    assert chunksize(8, 2) == 1
    assert chunksize(400, 2) == 50
    assert chunksize(401, 2) == 51


def _worker_cpu(pool: PeerPool) -> float:
    return sum(sum(psutil.Process(pid).cpu_times()[:2]) for pid in pool.pids())


TICK_SHARE = 0.75
"""The share of the work the pool's processes must show as CPU time: the kernel accounts a
process's CPU time by clock ticks, which under load miss some of it (0.11 s was counted
for 0.12 s of spinning)."""


def test_plain_loop_does_the_work_in_this_process():
    batch = WORKLOADS["cpu-1ms"].batch(0, size=5)
    plan = PeerPlan.of(batch, dependency_graph(batch))
    started = time.thread_time()
    plain_loop(plan)
    assert time.thread_time() - started >= sum(op.us for w in plan.works for op in w.ops) / 1e6


def test_bare_pool_does_the_work_in_its_own_processes():
    batch = Batch({"a": 0, "b": 0}, [Transaction(f"t{i}", (Deposit("ab"[i % 2], 1),
                                                           Spin(us=20_000)))
                                     for i in range(6)])
    plan = PeerPlan.of(batch, dependency_graph(batch))
    assert [len(g) for g in plan.generations] == [2, 2, 2]
    work = sum(op.us for w in plan.works for op in w.ops) / 1e6
    with PeerPool(2) as pool:
        assert len(pool.pids()) == 2
        before, own = _worker_cpu(pool), time.thread_time()
        pool.bare(plan)
        assert _worker_cpu(pool) - before >= TICK_SHARE * work
        assert time.thread_time() - own < work


@needs_dask
def test_dask_peer_runs_the_graph_in_the_pools_processes():
    batch = WORKLOADS["dag-skewed"].batch(0, size=30)
    plan = PeerPlan.of(batch, dependency_graph(batch))
    work = sum(op.us for w in plan.works for op in w.ops) / 1e6
    with PeerPool(2) as pool:
        before = _worker_cpu(pool)
        pool.dask(plan)
        assert _worker_cpu(pool) - before >= TICK_SHARE * work


@needs_dask
def test_dask_peer_runs_a_long_chain():
    batch = Batch({"a": 0}, [Transaction(f"t{i}", (Deposit("a", 1), Spin(us=1)))
                             for i in range(600)])
    plan = PeerPlan.of(batch, dependency_graph(batch))
    assert len(plan.generations) == 600
    with PeerPool(2) as pool:
        pool.dask(plan)


def test_run_work_skips_nothing_of_the_cpu_work():
    started = time.thread_time()
    run_work(Work((Spin(us=3000), Spin(us=2000))))
    assert time.thread_time() - started >= 0.005


def test_peer_comparison_divides_per_repetition():
    runs = Runs(serial=[1.0, 2.0], plain=[0.8, 1.6], peers={"bare-pool": [0.4, 0.4]})
    runs.cells[("process", "dataflow", 2)] = [0.5, 1.0]
    peers = compare_peers(runs, 2, {"median": 1.9}, "dask is not installed")
    assert peers["speedup"]["bare-pool"]["min"] == pytest.approx(2.0)
    assert peers["speedup"]["bare-pool"]["max"] == pytest.approx(4.0)
    assert peers["speedup"]["serial"]["median"] == pytest.approx(0.8)
    assert peers["speedup"]["process"]["median"] == pytest.approx(1.6)
    assert peers["speedup"]["thread"] is None and peers["speedup"]["dask"] is None
    assert peers["ratio"]["process/bare-pool"]["min"] == pytest.approx(0.4)
    assert peers["ratio"]["process/bare-pool"]["max"] == pytest.approx(0.8)
    assert peers["ratio"]["process/serial"]["median"] == pytest.approx(2.0)
    assert peers["ratio"]["process/dask"] is None and peers["ceiling"] == {"median": 1.9}
    assert peers["dask_skipped"] == "dask is not installed"


def test_campaign_points_cover_jobs_and_engine_workers():
    points = campaign_points(2)
    assert [p.name for p in points] == [
        "thread jobs=1 workers=2", "thread jobs=2 workers=2", "default jobs=1 workers=1",
        "default jobs=1 workers=2", "default jobs=2 workers=1", "default jobs=2 workers=2"]
    assert {p.jobs for p in campaign_points(4)} == {1, 2, 4}


def test_a_campaign_point_runs_a_whole_verify_campaign():
    run = run_point(Point(THREAD, 1, 2), 20, 0)
    assert run["examples"] == 20 and run["ok"] and run["complete"]
    assert run["examples_per_s"] > 0 and run["first_shard_s"] > 0
    assert run["cpu_cores"] > 0


@pytest.mark.parametrize("args", [["--campaign", "--workloads", "cpu-1ms"],
                                  ["--campaign", "--workers", "2"], ["--examples", "10"]])
def test_campaign_options_that_do_not_fit_exit_2(args):
    result = CliRunner().invoke(main, ["bench", *args])
    assert result.exit_code == 2 and "--" in result.output


def test_every_engine_run_is_of_a_batch_its_executor_has_not_run(monkeypatch):
    """A user's batch is new to the executor, which ships it to its workers within the run:
    the bench must not let a warm executor skip that by running one batch object again."""
    runs: list[Batch] = []
    execute = ParallelExecutor.execute

    def recording(self, batch, graph=None, **kwargs):
        if len(batch) > 1:  # not a warm-up or a latency probe
            runs.append(batch)
        return execute(self, batch, graph, **kwargs)

    monkeypatch.setattr(ParallelExecutor, "execute", recording)
    Bench(BenchConfig(quick=True, workloads=("dag-independent",), workers=(2,), repeat=2,
                      latency_repeat=1)).run()
    workload = WORKLOADS["dag-independent"].batch(0, quick=True)
    assert len(runs) >= 2 * 5  # serial and each backend × schedule, in both repetitions
    assert all(batch == workload for batch in runs)
    assert len({id(batch.transactions[0]) for batch in runs}) == len(runs)
