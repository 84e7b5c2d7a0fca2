"""Summarizing the benchmark's raw runs: per workload the serial baseline, the ceiling and
every cell's times, speedups, bounds and resource use (the ``bench.json`` document), and
how noisy the machine was.

The bound of a cell is ``min(W, work / critical-path work)`` from the per-transaction
durations the serial runs measured; efficiency is ``speedup / bound``. Speedups are
per-repetition ratios to the serial run of the same repetition; the summary is their median
and min–max.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aethel.executor import BACKENDS
from aethel.model import Batch
from harness.bench.monitor import Usage
from harness.bench.workloads import Workload

PARALLEL_BACKENDS = tuple(b for b in BACKENDS if b != "serial")
"""The backends measured against the serial baseline."""


@dataclass
class Runs:
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
    plain: list[float] = field(default_factory=list)
    peers: dict[str, list[float]] = field(default_factory=dict)
    peer_usage: dict[str, list[Usage]] = field(default_factory=dict)


def headline(ws: Sequence[int], cores: int) -> int:
    """The headline worker count: the widest of ``ws`` that fits ``cores``."""
    return max([w for w in ws if w <= cores] or [min(ws)])


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


def _usage_summary(usages: list[Usage]) -> dict[str, Any]:
    return {
        "cpu_util": {"workers": _median_list([u.worker_cpu for u in usages]),
                     "coordinator": statistics.median(u.coordinator_cpu for u in usages)},
        "peak_rss_mib": {"workers": [max(col) for col in zip(*(u.worker_rss_mib for u in usages),
                                                              strict=True)],
                         "coordinator": max(u.coordinator_rss_mib for u in usages)},
        "foreign_cpu": stats([u.foreign_cpu for u in usages]),
    }


def _ratios(over: Sequence[float] | None, under: Sequence[float] | None
            ) -> dict[str, float] | None:
    """Stats of the per-repetition ratios ``over / under`` (None if either is missing)."""
    if not over or not under:
        return None
    return stats([o / u for o, u in zip(over, under, strict=True)])


def compare_peers(runs: Runs, workers: int, ceiling: dict[str, float],
                  dask_skipped: str | None) -> dict[str, Any]:
    """The peer comparison at ``workers``: speedups over the plain loop of the bare pool, the
    engine's process, thread (dataflow) and serial backends, and Dask, and the ratios
    process / bare pool, process / Dask, process / serial and thread / serial, all per
    repetition."""
    times: dict[str, list[float] | None] = {
        "bare-pool": runs.peers.get("bare-pool"),
        "process": runs.cells.get(("process", "dataflow", workers)),
        "thread": runs.cells.get(("thread", "dataflow", workers)),
        "serial": runs.serial,
        "dask": runs.peers.get("dask"),
    }
    return {
        "workers": workers,
        "plain_loop": {"times": runs.plain, "time": stats(runs.plain)},
        "times": {name: t for name, t in times.items() if t},
        "speedup": {name: _ratios(runs.plain, t) for name, t in times.items()},
        "ratio": {"process/bare-pool": _ratios(times["bare-pool"], times["process"]),
                  "process/dask": _ratios(times["dask"], times["process"]),
                  "process/serial": _ratios(times["serial"], times["process"]),
                  "thread/serial": _ratios(times["serial"], times["thread"])},
        "ceiling": ceiling,
        "foreign_cpu": stats([u.foreign_cpu for us in runs.peer_usage.values() for u in us]
                             or [0.0]),
        "dask_skipped": dask_skipped,
    }


def summarize(workload: Workload, batch: Batch, runs: Runs, ws: list[int],
              ceiling_ws: list[int], graph_info: dict[str, Any], seed: int,
              peers: tuple[int, str | None] | None = None) -> dict[str, Any]:
    """The JSON section of one workload from its raw runs; ``peers`` (the headline worker
    count and why Dask did not run, if it did not) when the peers ran."""
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
        "peers": compare_peers(runs, peers[0], ceiling[str(peers[0])]["speedup"], peers[1])
        if peers and runs.plain else None,
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
