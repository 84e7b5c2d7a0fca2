"""The benchmark's targets: what each one measured in a ``bench.json`` document and whether
it was met.

Targets are reported, never asserted: a benchmark is a measurement, not a test. Each target
has a scope, the run sizes it is stated for: a quick run (batches a tenth of the full size)
judges only the targets whose statement holds at any size, and leaves the others
``not judged``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from harness.bench.summary import PARALLEL_BACKENDS, find_cell

NOISY_CPU = 0.2
"""Cores used by other processes (median over a cell's runs) above which a target's
figures are flagged as noisy."""

ANY_SIZE = ("quick", "full")
"""The scope of a target that holds whatever the batch size."""
FULL_SIZE = ("full",)
"""The scope of a target stated for the full workload sizes."""

STATUSES = ("met", "missed", "not judged", "not measured")
"""A target's status, in report order."""


def foreign_load(workload: dict[str, Any], cell: dict[str, Any] | None) -> float:
    """The worst median foreign CPU among a cell, its ceiling and the serial baseline."""
    loads = [workload["serial"]["foreign_cpu"]["median"]]
    if cell:
        loads.append(cell["foreign_cpu"]["median"])
        loads.append(workload["ceiling"][str(cell["workers"])]["foreign_cpu"]["median"])
    return max(loads)


def _target(title: str, name: str, scope: tuple[str, ...], needed: str, cell: str,
            measured: float | None = None, threshold: float = 0.0, met: bool | None = None,
            detail: str = "not measured", load: float = 0.0) -> dict[str, Any]:
    """One target's entry; ``met`` None: not measured. ``measured`` is an int for counts."""
    noisy = load > NOISY_CPU
    if noisy:
        detail += f"; noisy: other processes used {load:.2f} cores during these runs"
    return {"target": title, "name": name, "scope": list(scope), "needed": needed,
            "cell": cell, "measured": measured, "threshold": threshold, "met": met,
            "status": "not measured" if met is None else ("met" if met else "missed"),
            "noisy": noisy, "detail": detail}


def evaluate_targets(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target with what was measured and its status: met, missed, not measured, or
    (a full-size target in a quick run) not judged, its ``met`` then None."""
    targets = _measure_targets(doc)
    if doc["config"]["quick"]:
        for t in targets:
            if "quick" not in t["scope"] and t["met"] is not None:
                t["met"] = None
                t["status"] = "not judged"
    return targets


def tally(targets: list[dict[str, Any]]) -> Counter[str]:
    """How many targets have each status."""
    return Counter(t["status"] for t in targets)


def _measure_targets(doc: dict[str, Any]) -> list[dict[str, Any]]:
    cores = doc["machine"]["usable_cores"]
    by_name = {w["name"]: w for w in doc["workloads"]}
    out = []

    def widest(w: dict[str, Any]) -> int:
        return max([x for x in w["workers"] if x <= cores] or [min(w["workers"])])

    for name in ("cpu-1ms", "contention-low", "dag-independent"):
        w = by_name.get(name)
        cell = w and find_cell(w, "process", "dataflow", widest(w))
        spec = (f"process on {name} (CPU-bound ≥0.2 ms/tx, low contention, ≥1000 tx): "
                "speedup ≥ 0.95 × ceiling", f"{name}: process vs ceiling", FULL_SIZE, "≥ 0.95")
        if not cell:
            out.append(_target(*spec, name))
            continue
        detail = (f"speedup {cell['speedup']['median']:.2f} vs ceiling {cell['ceiling']:.2f} "
                  f"on {cell['workers']} workers, {w['transactions']} tx of "
                  f"{w['serial']['per_tx_ms']:.2f} ms")
        out.append(_target(*spec, f"{name} process×{cell['workers']}", cell["vs_ceiling"],
                           0.95, cell["vs_ceiling"] >= 0.95, detail, foreign_load(w, cell)))
    w = by_name.get("hash")
    cell = w and find_cell(w, "thread", "dataflow", widest(w))
    spec = ("thread, GIL-releasing work (hash, 1000 tx): speedup ≥ 0.95 × ceiling",
            "hash: thread vs ceiling", FULL_SIZE, "≥ 0.95")
    out.append(_target(*spec, f"hash thread×{cell['workers']}", cell["vs_ceiling"], 0.95,
                       cell["vs_ceiling"] >= 0.95,
                       f"speedup {cell['speedup']['median']:.2f} vs ceiling "
                       f"{cell['ceiling']:.2f}", foreign_load(w, cell)) if cell else
               _target(*spec, "hash"))
    w = by_name.get("sleep")
    cell = w and find_cell(w, "thread", "dataflow", 8)
    spec = ("thread, 100 tx × 20 ms sleep, 8 threads: speedup ≥ 7", "sleep: 8 threads",
            FULL_SIZE, "≥ 7")
    out.append(_target(*spec, "sleep thread×8", cell["speedup"]["median"], 7.0,
                       cell["speedup"]["median"] >= 7.0,
                       f"{w['transactions']} tx, min–max {cell['speedup']['min']:.2f}–"
                       f"{cell['speedup']['max']:.2f}", foreign_load(w, cell)) if cell else
               _target(*spec, "sleep"))
    out.extend(_schedule_targets(doc))
    lat = doc.get("latency", {}).get("operations", {}).get("spin-1ms", {})
    thread = lat.get("backends", {}).get("thread")
    spec = ("single transaction on the thread backend, 1 ms operation: < 2 × direct call",
            "latency: thread, 1 ms op", ANY_SIZE, "< 2")
    out.append(_target(*spec, "latency spin-1ms thread", thread["ratio"], 2.0,
                       thread["ratio"] < 2.0,
                       f"{thread['median_us']:.0f} µs vs {lat['direct_us']:.0f} µs direct "
                       f"(+{thread['overhead_us']:.0f} µs)") if thread else
               _target(*spec, "latency"))
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
    fastest levels run) on the process backend, where CPU work runs in parallel. Both
    compare two schedules on the same batch, so they hold at any size."""
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
    spec = ("dataflow never slower than levels beyond noise (pairs where it was)",
            "dataflow slower than levels: pairs", ANY_SIZE, "0")
    pairs_cell = f"{compared} backend × workers pairs"
    if not compared:
        out = [_target(*spec, pairs_cell)]
    else:
        out = [_target(*spec, pairs_cell, len(slower), 0.0, not slower,
                       ("slower: " + ", ".join(slower)) if slower else
                       f"dataflow's fastest run ≤ levels' slowest run in all {compared} pairs",
                       load)]
    w = next((w for w in doc["workloads"] if w["name"] == "dag-skewed"), None)
    spec = ("dataflow faster than levels on the skewed DAG (process backend; levels time / "
            "dataflow time)", "dag-skewed: dataflow faster", ANY_SIZE, "> 1, every run")
    pairs = []
    if w:
        for x in w["workers"]:
            flow = find_cell(w, "process", "dataflow", x)
            lev = find_cell(w, "process", "levels", x)
            if x > 1 and flow and lev:
                pairs.append((x, flow, lev))
    if not pairs:
        out.append(_target(*spec, "dag-skewed"))
        return out
    x, flow, lev = pairs[-1]
    ratio = lev["time"]["median"] / flow["time"]["median"]
    met = all(f["time"]["max"] < lv["time"]["min"] for _, f, lv in pairs)
    out.append(_target(*spec, f"dag-skewed process×{x}", ratio, 1.0, met,
                       f"levels/dataflow time {ratio:.2f}× at {x} workers; " + ", ".join(
                           f"×{k}: dataflow max {f['time']['max'] * 1e3:.0f} ms vs levels min "
                           f"{lv['time']['min'] * 1e3:.0f} ms" for k, f, lv in pairs),
                       max(max(foreign_load(w, f), foreign_load(w, lv)) for _, f, lv in pairs)))
    return out
