"""The core-scaling benchmark behind ``aethel bench``.

For every workload, repetition by repetition, it runs (in a seeded random order, so
that serial and parallel runs interleave) the serial backend, the machine ceiling for
every worker count, and every backend × schedule × worker-count cell. Each parallel run
is checked against the serial final state. Speedups are per-repetition ratios to the
serial run of the same repetition; the summary is their median and min–max.

The bound of a cell is ``min(W, work / critical-path work)`` from the per-transaction
durations the serial runs measured; efficiency is ``speedup / bound``. The ceiling is
the speedup of W independent processes doing the same work (:mod:`harness.ceiling`).
"""

from __future__ import annotations

import gc
import os
import random
import statistics
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from aethel.analysis import dependency_graph, independent_sets
from aethel.context import ExecutionContext
from aethel.cores import usable_cores
from aethel.executor import ParallelExecutor
from aethel.model import Batch, Transaction
from aethel.operations import Deposit, Spin
from aethel.trace import INIT
from harness.ceiling import CeilingPool
from harness.monitor import ResourceMonitor, Usage, cores_for_pinning, machine_info, pin
from harness.workloads import WORKLOADS, Workload

FORMAT = "aethel-bench"
FORMAT_VERSION = 1
PARALLEL_BACKENDS = ("thread", "process")
SCHEDULES = ("dataflow", "levels")

ProgressCallback = Callable[[str, str, int, int], None]
"""``progress(stage, detail, done, total)``: called before each measured run and at the end."""


@dataclass(frozen=True)
class BenchConfig:
    """What to measure. ``workers=None``: 1, 2, 4, … up to the usable cores (or a
    waiting workload's ``max_workers``)."""

    quick: bool = False
    workloads: tuple[str, ...] = tuple(WORKLOADS)
    backends: tuple[str, ...] = PARALLEL_BACKENDS
    schedules: tuple[str, ...] = SCHEDULES
    workers: tuple[int, ...] | None = None
    repeat: int | None = None
    pin: bool = False
    seed: int = 0
    latency_repeat: int | None = None

    @property
    def repetitions(self) -> int:
        return self.repeat or (2 if self.quick else 5)

    @property
    def latency_repetitions(self) -> int:
        return self.latency_repeat or (10 if self.quick else 50)


def worker_counts(limit: int) -> list[int]:
    """1, 2, 4, … below ``limit``, then ``limit`` itself."""
    counts = [1]
    while counts[-1] * 2 < limit:
        counts.append(counts[-1] * 2)
    if limit > 1:
        counts.append(limit)
    return counts


def workers_for(workload: Workload, config: BenchConfig, cores: int) -> list[int]:
    """The worker counts measured for ``workload``: ``config.workers``, else 1, 2, 4, … up
    to the cores or the workload's ``max_workers`` (quick: only that maximum beyond the
    cores)."""
    if config.workers is not None:
        return sorted(set(config.workers))
    limit = max(cores, workload.max_workers or cores)
    if config.quick and limit > cores:
        return [*worker_counts(cores), limit]
    return worker_counts(limit)


def stats(values: Sequence[float]) -> dict[str, float]:
    """Median, min, max and the quartiles of ``values``."""
    values = sorted(values)
    if len(values) >= 2:
        q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    else:
        q1 = q3 = values[0]
    return {"median": statistics.median(values), "min": values[0], "max": values[-1],
            "q1": q1, "q3": q3}


def _median_list(rows: list[list[float]]) -> list[float]:
    return [statistics.median(col) for col in zip(*rows, strict=True)] if rows else []


class Executors:
    """One warm executor per (backend, workers), optionally with pinned workers; the
    schedule is set per run. Knows the native ids of each thread pool's threads."""

    def __init__(self, pinned: bool) -> None:
        self.pinned = pinned
        self.cores = cores_for_pinning()
        self._executors: dict[tuple[str, int], ParallelExecutor] = {}
        self._tids: dict[tuple[str, int], list[int]] = {}

    def get(self, backend: str, workers: int) -> ParallelExecutor:
        """The executor, its pool started and warmed by one tiny batch."""
        key = (backend, workers)
        if key not in self._executors:
            before = {t.native_id for t in threading.enumerate()}
            executor = ParallelExecutor(backend, workers)
            executor.execute(Batch({"warm": 0}, [Transaction("warm", (Deposit("warm", 1),))]))
            tids = [t.native_id for t in threading.enumerate()
                    if t.native_id not in before and t.name.startswith("aethel-worker-")]
            self._tids[key] = [t for t in tids if t is not None]
            self._executors[key] = executor
            if self.pinned:
                for n, pid in enumerate(self.pids(backend, workers) or self._tids[key]):
                    pin(pid, self.cores[n % len(self.cores)])
        return self._executors[key]

    def pids(self, backend: str, workers: int) -> list[int]:
        """Worker process ids (process backend only)."""
        executor = self._executors[(backend, workers)]
        pool = executor.pool
        return pool.pids() if hasattr(pool, "pids") else []

    def tids(self, backend: str, workers: int) -> list[int]:
        """Worker thread ids: the pool's threads, or the calling thread for serial."""
        if backend == "serial":
            return [threading.get_native_id()]
        return self._tids.get((backend, workers), [])

    def close(self, keep: Iterable[tuple[str, int]] = ()) -> None:
        """Close every executor not in ``keep``."""
        keep = set(keep)
        for key in list(self._executors):
            if key not in keep:
                self._executors.pop(key).close()
                self._tids.pop(key, None)


@dataclass
class _Runs:
    """Raw figures of one workload, repetition by repetition."""

    serial: list[float] = field(default_factory=list)
    serial_work: list[float] = field(default_factory=list)
    serial_cp: list[float] = field(default_factory=list)
    ceiling: dict[int, list[float]] = field(default_factory=dict)
    ceiling_cpu: dict[int, list[list[float]]] = field(default_factory=dict)
    ceiling_foreign: dict[int, list[float]] = field(default_factory=dict)
    cells: dict[tuple[str, str, int], list[float]] = field(default_factory=dict)
    usage: dict[tuple[str, str, int], list[Usage]] = field(default_factory=dict)
    parallelism: dict[tuple[str, str, int], list[float]] = field(default_factory=dict)
    verified: dict[tuple[str, str, int], bool] = field(default_factory=dict)
    serial_usage: list[Usage] = field(default_factory=list)


class _Stopped(Exception):
    """Raised between measurements when the run is asked to stop."""


class Bench:
    """Runs the benchmark described by a :class:`BenchConfig`; :meth:`run` returns the
    JSON document (see ``bench.json``)."""

    def __init__(self, config: BenchConfig, progress: ProgressCallback | None = None,
                 should_stop: Callable[[], bool] = lambda: False) -> None:
        self.config = config
        self.progress = progress or (lambda stage, detail, done, total: None)
        self.should_stop = should_stop
        self.cores = usable_cores()
        self.rng = random.Random(f"bench-order:{config.seed}")
        self.done = 0
        self.total = 0

    def _step(self, stage: str, detail: str) -> None:
        if self.should_stop():
            raise _Stopped
        self.progress(stage, detail, self.done, self.total)
        self.done += 1

    def plan(self) -> list[tuple[Workload, list[int]]]:
        """Each selected workload with its worker counts."""
        return [(WORKLOADS[name], workers_for(WORKLOADS[name], self.config, self.cores))
                for name in self.config.workloads]

    def run(self) -> dict[str, Any]:
        """Measure everything and return the report document."""
        config = self.config
        started = time.perf_counter()
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        plan = self.plan()
        reps = config.repetitions
        cells = len(config.backends) * len(config.schedules)
        self.total = sum(reps * (1 + len(set(ws) | {1}) + cells * len(ws)) for _, ws in plan)
        self.total += config.latency_repetitions
        machine = machine_info()
        widest = max([max(ws) for _, ws in plan] + [1])
        executors = Executors(config.pin)
        workloads: list[dict[str, Any]] = []
        latency: dict[str, Any] = {"workers": self.cores, "repetitions": 0, "operations": {}}
        complete = True
        try:
            with CeilingPool(widest) as ceiling:
                if config.pin:
                    for n, pid in enumerate(ceiling.pids()):
                        pin(pid, executors.cores[n % len(executors.cores)])
                for index, (workload, ws) in enumerate(plan):
                    workloads.append(self._workload(workload, ws, executors, ceiling))
                    following = plan[index + 1][1] if index + 1 < len(plan) else []
                    executors.close((b, w) for b in config.backends for w in following)
            latency = self._latency(executors)
            self._step("done", "")
        except _Stopped:
            complete = False
        except Exception:
            if not self.should_stop():
                raise
            complete = False  # a signal to the process group also reached the engine's workers
        finally:
            executors.close()
        machine["load_average_end"] = list(os.getloadavg())
        doc = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "started": stamp,
            "duration_s": time.perf_counter() - started,
            "config": {**asdict(config), "repetitions": reps,
                       "latency_repetitions": config.latency_repetitions},
            "machine": machine,
            "workloads": workloads,
            "latency": latency,
            "complete": complete,
        }
        doc["noise"] = noise(doc)
        doc["targets"] = evaluate_targets(doc)
        return doc

    def _workload(self, workload: Workload, ws: list[int], executors: Executors,
                  ceiling: CeilingPool) -> dict[str, Any]:
        config = self.config
        batch = workload.batch(config.seed, config.quick)
        t0 = time.perf_counter()
        graph = dependency_graph(batch)
        analysis_s = time.perf_counter() - t0
        serial = executors.get("serial", 1)
        reference = serial.execute(batch, graph).final_states
        for backend in config.backends:
            for w in ws:
                executors.get(backend, w)
        runs = _Runs()
        ceiling_ws = sorted(set(ws) | {1})
        for rep in range(config.repetitions):
            tasks: list[tuple[str, str, int]] = [("serial", "dataflow", 1)]
            tasks += [("ceiling", "", w) for w in ceiling_ws]
            tasks += [(b, s, w) for b in config.backends for s in config.schedules for w in ws]
            self.rng.shuffle(tasks)
            for backend, schedule, w in tasks:
                label = f"ceiling×{w}" if backend == "ceiling" else f"{backend}×{w} {schedule}"
                self._step(f"{workload.name} rep {rep + 1}/{config.repetitions}", label)
                gc.collect()
                if backend == "ceiling":
                    with ResourceMonitor(ceiling.pids(w)) as watch:
                        result = ceiling.measure(batch, w)
                    runs.ceiling.setdefault(w, []).append(result.wall_s)
                    runs.ceiling_foreign.setdefault(w, []).append(watch.usage.foreign_cpu)
                    runs.ceiling_cpu.setdefault(w, []).append(
                        [c / result.wall_s for c in result.cpu_s])
                    continue
                executor = executors.get(backend, w)
                executor.schedule = schedule
                monitor = ResourceMonitor(executors.pids(backend, w), executors.tids(backend, w))
                with monitor:
                    t = time.perf_counter()
                    res = executor.execute(batch, graph)
                    elapsed = time.perf_counter() - t
                ok = res.final_states == reference and res.committed
                if backend == "serial":
                    runs.serial.append(elapsed)
                    runs.serial_work.append(res.metrics["work_s"])
                    runs.serial_cp.append(res.metrics["critical_path_s"])
                    runs.serial_usage.append(monitor.usage)
                    continue
                key = (backend, schedule, w)
                runs.cells.setdefault(key, []).append(elapsed)
                runs.usage.setdefault(key, []).append(monitor.usage)
                runs.parallelism.setdefault(key, []).append(res.metrics["average_parallelism"])
                runs.verified[key] = runs.verified.get(key, True) and ok
        levels = independent_sets(graph)
        return summarize(workload, batch, runs, ws, ceiling_ws, {
            "edges": graph.number_of_edges(), "levels": len(levels),
            "widest_level": max((len(level) for level in levels), default=0),
            "analysis_s": analysis_s,
        }, config.seed)

    def _latency(self, executors: Executors) -> dict[str, Any]:
        """One transaction through each backend vs calling its operation directly."""
        backends = [("serial", 1)] + [(b, self.cores) for b in self.config.backends]
        ops = {"spin-1ms": Spin(us=1000), "deposit": Deposit("a", 1)}
        times: dict[str, dict[str, list[float]]] = {
            name: {"direct": [], **{b: [] for b, _ in backends}} for name in ops}
        for rep in range(self.config.latency_repetitions):
            self._step("latency", f"rep {rep + 1}/{self.config.latency_repetitions}")
            for name, op in ops.items():
                tx = Transaction("t", (op,), writes=frozenset({"a"}))
                batch = Batch({"a": 0}, [tx])
                ctx = ExecutionContext(tx, {"a": (0, INIT)}, 0, 0, lambda event: None)
                t = time.perf_counter()
                op.apply(ctx, None)
                times[name]["direct"].append(time.perf_counter() - t)
                for backend, w in backends:
                    executor = executors.get(backend, w)
                    executor.schedule = "dataflow"
                    t = time.perf_counter()
                    executor.execute(batch)
                    times[name][backend].append(time.perf_counter() - t)
        out: dict[str, Any] = {"workers": self.cores, "repetitions":
                               self.config.latency_repetitions, "operations": {}}
        for name, by in times.items():
            direct = statistics.median(by["direct"])
            out["operations"][name] = {
                "direct_us": direct * 1e6,
                "backends": {b: {"median_us": statistics.median(v) * 1e6,
                                 "min_us": min(v) * 1e6, "max_us": max(v) * 1e6,
                                 "overhead_us": (statistics.median(v) - direct) * 1e6,
                                 "ratio": statistics.median(v) / direct if direct else None}
                             for b, v in by.items() if b != "direct"},
            }
        return out


def _usage_summary(usages: list[Usage]) -> dict[str, Any]:
    return {
        "cpu_util": {"workers": _median_list([u.worker_cpu for u in usages]),
                     "coordinator": statistics.median(u.coordinator_cpu for u in usages)},
        "peak_rss_mib": {"workers": [max(col) for col in zip(*(u.worker_rss_mib for u in usages),
                                                              strict=True)],
                         "coordinator": max(u.coordinator_rss_mib for u in usages)},
        "foreign_cpu": stats([u.foreign_cpu for u in usages]),
    }


def summarize(workload: Workload, batch: Batch, runs: _Runs, ws: list[int],
              ceiling_ws: list[int], graph_info: dict[str, Any], seed: int) -> dict[str, Any]:
    """The JSON section of one workload from its raw runs."""
    n = len(batch)
    ratio = statistics.median(w / cp if cp else float(n) for w, cp in
                              zip(runs.serial_work, runs.serial_cp, strict=True))
    bounds = {w: min(float(w), ratio) for w in ceiling_ws}
    base = runs.ceiling[1]
    ceiling = {}
    for w in ceiling_ws:
        speedups = [b / t for b, t in zip(base, runs.ceiling[w], strict=True)]
        ceiling[str(w)] = {"times": runs.ceiling[w], "time": stats(runs.ceiling[w]),
                           "speedup": stats(speedups),
                           "cpu_util": _median_list(runs.ceiling_cpu[w]),
                           "foreign_cpu": stats(runs.ceiling_foreign.get(w) or [0.0])}
    cells = []
    for (backend, schedule, w), times in sorted(runs.cells.items()):
        speedups = [s / t for s, t in zip(runs.serial, times, strict=True)]
        speedup = statistics.median(speedups)
        ceil = ceiling[str(w)]["speedup"]["median"]
        cells.append({
            "backend": backend, "schedule": schedule, "workers": w,
            "times": times, "time": stats(times),
            "throughput": stats([n / t for t in times]),
            "speedup": stats(speedups),
            "bound": bounds[w],
            "efficiency": speedup / bounds[w],
            "ceiling": ceil,
            "vs_ceiling": speedup / ceil,
            "average_parallelism": statistics.median(runs.parallelism[(backend, schedule, w)]),
            "verified": runs.verified[(backend, schedule, w)],
            **_usage_summary(runs.usage[(backend, schedule, w)]),
        })
    return {
        "name": workload.name, "kind": workload.kind, "description": workload.description,
        "seed": seed, "transactions": n, "workers": ws, **graph_info,
        "serial": {"times": runs.serial, "time": stats(runs.serial),
                   "throughput": stats([n / t for t in runs.serial]),
                   "work_s": stats(runs.serial_work),
                   "critical_path_s": stats(runs.serial_cp),
                   "per_tx_ms": statistics.median(runs.serial_work) / n * 1e3,
                   **_usage_summary(runs.serial_usage)},
        "work_over_critical_path": ratio,
        "bounds": {str(w): b for w, b in bounds.items()},
        "ceiling": ceiling,
        "cells": cells,
    }


def find_cell(workload: dict[str, Any], backend: str, schedule: str, workers: int
              ) -> dict[str, Any] | None:
    """The cell of ``workload`` for backend × schedule × workers, if measured."""
    return next((c for c in workload["cells"] if c["backend"] == backend
                 and c["schedule"] == schedule and c["workers"] == workers), None)


def noise(doc: dict[str, Any]) -> dict[str, Any]:
    """How noisy the run was: other processes' CPU, and the spread of the serial runs."""
    foreign = [c["foreign_cpu"]["median"] for w in doc["workloads"] for c in w["cells"]]
    foreign += [w["serial"]["foreign_cpu"]["median"] for w in doc["workloads"]]
    spread = {w["name"]: w["serial"]["time"]["max"] / w["serial"]["time"]["min"] - 1
              for w in doc["workloads"]}
    return {
        "foreign_cpu": stats(foreign) if foreign else None,
        "serial_spread": spread,
        "load_average_start": doc["machine"]["load_average"],
        "load_average_end": doc["machine"].get("load_average_end"),
    }


NOISY_CPU = 0.2
"""Cores used by other processes (median over a cell's runs) above which a target's
figures are flagged as noisy."""


def foreign_load(workload: dict[str, Any], cell: dict[str, Any] | None) -> float:
    """The worst median foreign CPU among a cell, its ceiling and the serial baseline."""
    loads = [workload["serial"]["foreign_cpu"]["median"]]
    if cell:
        loads.append(cell["foreign_cpu"]["median"])
        loads.append(workload["ceiling"][str(cell["workers"])]["foreign_cpu"]["median"])
    return max(loads)


def _target(name: str, measured: float | None, threshold: float, cell: str, met: bool | None,
            detail: str = "", load: float = 0.0) -> dict[str, Any]:
    noisy = load > NOISY_CPU
    if noisy:
        detail += f"; noisy: other processes used {load:.2f} cores during these runs"
    return {"target": name, "cell": cell, "measured": measured, "threshold": threshold,
            "met": met, "noisy": noisy, "detail": detail}


def evaluate_targets(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, each with what was measured and whether it was met (None: not
    measured in this run). Reported, never asserted."""
    cores = doc["machine"]["usable_cores"]
    by_name = {w["name"]: w for w in doc["workloads"]}
    out = []

    def widest(w: dict[str, Any]) -> int:
        return max([x for x in w["workers"] if x <= cores] or [min(w["workers"])])

    for name in ("cpu-1ms", "contention-low", "dag-independent"):
        w = by_name.get(name)
        cell = w and find_cell(w, "process", "dataflow", widest(w))
        title = "process, CPU-bound ≥0.2 ms/tx, low contention, ≥1000 tx: speedup ≥ 0.95 × ceiling"
        if not cell:
            out.append(_target(title, None, 0.95, name, None, "not measured"))
            continue
        detail = (f"speedup {cell['speedup']['median']:.2f} vs ceiling {cell['ceiling']:.2f} "
                  f"on {cell['workers']} workers, {w['transactions']} tx of "
                  f"{w['serial']['per_tx_ms']:.2f} ms")
        out.append(_target(title, cell["vs_ceiling"], 0.95, f"{name} process×{cell['workers']}",
                           cell["vs_ceiling"] >= 0.95, detail, foreign_load(w, cell)))
    w = by_name.get("hash")
    cell = w and find_cell(w, "thread", "dataflow", widest(w))
    title = "thread, GIL-releasing work: speedup ≥ 0.95 × ceiling"
    out.append(_target(title, cell["vs_ceiling"], 0.95, f"hash thread×{cell['workers']}",
                       cell["vs_ceiling"] >= 0.95,
                       f"speedup {cell['speedup']['median']:.2f} vs ceiling "
                       f"{cell['ceiling']:.2f}", foreign_load(w, cell)) if cell else
               _target(title, None, 0.95, "hash", None, "not measured"))
    w = by_name.get("sleep")
    cell = w and find_cell(w, "thread", "dataflow", 8)
    title = "thread, 100 tx × 20 ms sleep, 8 threads: speedup ≥ 7"
    out.append(_target(title, cell["speedup"]["median"], 7.0, "sleep thread×8",
                       cell["speedup"]["median"] >= 7.0,
                       f"{w['transactions']} tx, min–max {cell['speedup']['min']:.2f}–"
                       f"{cell['speedup']['max']:.2f}", foreign_load(w, cell)) if cell else
               _target(title, None, 7.0, "sleep", None, "not measured"))
    out.extend(_schedule_targets(doc))
    lat = doc.get("latency", {}).get("operations", {}).get("spin-1ms", {})
    thread = lat.get("backends", {}).get("thread")
    title = "single transaction on the thread backend, 1 ms operation: < 2 × direct call"
    out.append(_target(title, thread["ratio"], 2.0, "latency spin-1ms thread",
                       thread["ratio"] < 2.0,
                       f"{thread['median_us']:.0f} µs vs {lat['direct_us']:.0f} µs direct "
                       f"(+{thread['overhead_us']:.0f} µs)") if thread else
               _target(title, None, 2.0, "latency", None, "not measured"))
    return out


def schedule_ratios(workload: dict[str, Any], backend: str, workers: int) -> list[float] | None:
    """Per-repetition levels time / dataflow time (> 1: dataflow faster), if both ran."""
    flow = find_cell(workload, backend, "dataflow", workers)
    lev = find_cell(workload, backend, "levels", workers)
    if not flow or not lev:
        return None
    return [lt / ft for lt, ft in zip(lev["times"], flow["times"], strict=True)]


def _schedule_targets(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Dataflow never slower than levels beyond noise (its fastest run slower than the
    slowest levels run), and faster on the skewed DAG (its slowest run faster than the
    fastest levels run) on the process backend, where CPU work runs in parallel."""
    slower = []
    compared = 0
    load = 0.0
    for w in doc["workloads"]:
        for x in w["workers"]:
            for backend in PARALLEL_BACKENDS:
                flow = find_cell(w, backend, "dataflow", x)
                lev = find_cell(w, backend, "levels", x)
                if not flow or not lev:
                    continue
                compared += 1
                if flow["time"]["min"] > lev["time"]["max"]:
                    slower.append(f"{w['name']} {backend}×{x} "
                                  f"({flow['time']['median'] / lev['time']['median']:.2f}×)")
                    load = max(load, foreign_load(w, flow), foreign_load(w, lev))
    title = "dataflow never slower than levels beyond noise"
    out = [_target(title, float(len(slower)), 0.0, f"{compared} backend × workers pairs",
                   not slower if compared else None,
                   ("slower: " + ", ".join(slower)) if slower else
                   f"dataflow's fastest run ≤ levels' slowest run in all {compared} pairs",
                   load)]
    w = next((w for w in doc["workloads"] if w["name"] == "dag-skewed"), None)
    title = "dataflow faster than levels on the skewed DAG (process backend)"
    pairs = []
    if w:
        for x in w["workers"]:
            flow = find_cell(w, "process", "dataflow", x)
            lev = find_cell(w, "process", "levels", x)
            if x > 1 and flow and lev:
                pairs.append((x, flow, lev))
    if not pairs:
        out.append(_target(title, None, 1.0, "dag-skewed", None, "not measured"))
        return out
    x, flow, lev = pairs[-1]
    ratio = lev["time"]["median"] / flow["time"]["median"]
    met = all(f["time"]["max"] < lv["time"]["min"] for _, f, lv in pairs)
    out.append(_target(title, ratio, 1.0, f"dag-skewed process×{x}", met,
                       f"levels/dataflow time {ratio:.2f}× at {x} workers; " + ", ".join(
                           f"×{k}: dataflow max {f['time']['max'] * 1e3:.0f} ms vs levels min "
                           f"{lv['time']['min'] * 1e3:.0f} ms" for k, f, lv in pairs),
                       max(max(foreign_load(w, f), foreign_load(w, lv)) for _, f, lv in pairs)))
    return out
