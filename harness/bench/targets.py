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
    (any full-size target in a quick run, measured or not) not judged, its ``met`` then
    None. A campaign-mode
    run has only the campaign's targets."""
    if doc["config"].get("campaign"):
        targets = _campaign_targets(doc.get("campaign") or {"points": [], "best": {},
                                                            "verify_default": ""})
    else:
        targets = _measure_targets(doc)
    if doc["config"]["quick"]:
        for t in targets:
            if "quick" not in t["scope"]:
                t["met"] = None
                t["status"] = "not judged"
    return targets


def tally(targets: list[dict[str, Any]]) -> Counter[str]:
    """How many targets have each status."""
    return Counter(t["status"] for t in targets)


FINE_GRAINED = {"cpu-0.1ms": 0.9, "contention-low": 0.9}
"""Workloads whose process / bare pool target is below 1.0 (fine-grained work), and that
target; every other workload's is :data:`PEER_RATIO`."""
PEER_RATIO = 1.0
NEVER_SLOWER = 0.95
"""The least process / serial and thread / serial ratio on every workload."""


def _peer_load(workload: dict[str, Any], backend: str) -> float:
    """The worst foreign CPU among the peers' runs and ``backend``'s headline cell."""
    peers = workload["peers"]
    cell = find_cell(workload, backend, "dataflow", peers["workers"])
    return max(foreign_load(workload, cell), peers["foreign_cpu"]["median"])


def _ratio(workload: dict[str, Any], name: str) -> dict[str, float] | None:
    """The per-repetition stats of peer ratio ``name`` of ``workload``, if measured."""
    peers = workload.get("peers")
    return peers and peers["ratio"].get(name)


def _peer_targets(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The process backend against the bare process pool (≥ 0.9 × on fine-grained work,
    ≥ 1.0 × elsewhere), and the process and thread backends against the serial backend
    (≥ 0.95 × on every workload). Medians of per-repetition ratios, at the headline worker
    count; stated for the full workload sizes."""
    out = []
    by_name = {w["name"]: w for w in doc["workloads"]}
    for name, needed in FINE_GRAINED.items():
        w = by_name.get(name)
        ratio = w and _ratio(w, "process/bare-pool")
        spec = (f"process on {name} (fine-grained): ≥ {needed} × the bare process pool",
                f"{name}: process vs pool", FULL_SIZE, f"≥ {needed}")
        if not ratio:
            out.append(_target(*spec, name))
            continue
        x = w["peers"]["workers"]
        out.append(_target(*spec, f"{name} process×{x}", ratio["median"], needed,
                           ratio["median"] >= needed,
                           f"process / bare pool {ratio['median']:.2f} (min–max "
                           f"{ratio['min']:.2f}–{ratio['max']:.2f}), {w['transactions']} tx",
                           _peer_load(w, "process")))
    others = [w for w in doc["workloads"]
              if w["name"] not in FINE_GRAINED and _ratio(w, "process/bare-pool")]
    out.append(_every_workload(
        others, "process/bare-pool", PEER_RATIO, "process",
        (f"process on every other workload: ≥ {PEER_RATIO} × the bare process pool (lowest "
         "ratio)", "others: process vs pool", FULL_SIZE, f"≥ {PEER_RATIO}")))
    for backend in ("process", "thread"):
        measured = [w for w in doc["workloads"] if _ratio(w, f"{backend}/serial")]
        out.append(_every_workload(
            measured, f"{backend}/serial", NEVER_SLOWER, backend,
            (f"{backend} never slower than serial: ≥ {NEVER_SLOWER} × the serial backend on "
             "every workload (lowest ratio)", f"{backend} vs serial: all",
             FULL_SIZE, f"≥ {NEVER_SLOWER}")))
    return out


def _every_workload(workloads: list[dict[str, Any]], ratio: str, needed: float, backend: str,
                    spec: tuple[str, str, tuple[str, ...], str]) -> dict[str, Any]:
    """A target that peer ratio ``ratio`` reaches ``needed`` on each of ``workloads``:
    measured is the lowest median; the detail names every workload below."""
    if not workloads:
        return _target(*spec, "peers")
    medians = {w["name"]: w["peers"]["ratio"][ratio]["median"] for w in workloads}
    below = [f"{name} {value:.2f}" for name, value in medians.items() if value < needed]
    lowest = min(medians, key=medians.__getitem__)
    detail = (f"below on {len(below)} of {len(workloads)}: {', '.join(below)}" if below
              else f"lowest {lowest}; all {len(workloads)} workloads at or above")
    where = f"{_count_workloads(len(workloads))} ×{workloads[0]['peers']['workers']}"
    return _target(*spec, where, medians[lowest], needed, not below, detail,
                   max(_peer_load(w, backend) for w in workloads))


def _count_workloads(n: int) -> str:
    """``1 workload``, ``2 workloads``."""
    return f"{n} workload{'' if n == 1 else 's'}"


JOBS_SCALING = 1.8
"""The least examples/s at 2 jobs over 1 job of a thread-backend campaign."""
CHOICE = 0.9
"""The least examples/s of ``aethel verify``'s default jobs × engine workers over the best
measured combination of the default campaign."""


def _campaign_targets(campaign: dict[str, Any]) -> list[dict[str, Any]]:
    """A thread-backend campaign scales to 2 jobs; the default choice of jobs × engine
    workers is within 10 % of the best measured. Both hold at any campaign size."""
    points = {p["name"]: p for p in campaign["points"]}
    two = points.get("thread jobs=2 workers=2")
    spec = (f"thread-backend campaign: examples/s at 2 jobs ≥ {JOBS_SCALING} × 1 job",
            "campaign: thread jobs 2 / 1", ANY_SIZE, f"≥ {JOBS_SCALING}")
    out = [_target(*spec, two["name"], two["vs_one_job"], JOBS_SCALING,
                   two["vs_one_job"] >= JOBS_SCALING,
                   f"{two['examples_per_s']['median']:.1f} examples/s at 2 jobs, "
                   f"{two['vs_one_job']:.2f} × one job's") if two and two["vs_one_job"] else
           _target(*spec, "campaign")]
    best = points.get(campaign["best"].get("default", ""))
    chosen = points.get(campaign["verify_default"])
    spec = (f"default campaign: aethel verify's default jobs × engine workers ≥ {CHOICE} × "
            "the best measured", "campaign: default choice vs best", ANY_SIZE, f"≥ {CHOICE}")
    if best and chosen and chosen["examples_per_s"]:
        ratio = chosen["examples_per_s"]["median"] / best["examples_per_s"]["median"]
        out.append(_target(*spec, chosen["name"], ratio, CHOICE, ratio >= CHOICE,
                           f"{chosen['examples_per_s']['median']:.1f} examples/s vs best "
                           f"{best['name']} {best['examples_per_s']['median']:.1f}"))
    else:
        out.append(_target(*spec, "campaign"))
    return out


def _measure_targets(doc: dict[str, Any]) -> list[dict[str, Any]]:
    cores = doc["machine"]["usable_cores"]
    by_name = {w["name"]: w for w in doc["workloads"]}
    out = _peer_targets(doc)

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


SCHEDULE_NOISE = 0.05
"""How much slower than levels (ratio of medians, beyond 1) dataflow must be, on top of every
run being slower, to be slower beyond noise: with equal schedules, every run of one is
slower than every run of the other by chance in one pair in twenty at three repetitions
(one in six at two), and such pairs were 1.00–1.02× apart."""


def _schedule_targets(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Dataflow never slower than levels beyond noise (its fastest run slower than the
    slowest levels run, and its median more than :data:`SCHEDULE_NOISE` slower), and
    faster on the skewed DAG (its slowest run faster than the fastest levels run) on the
    process backend, where CPU work runs in parallel. Both compare two schedules on the
    same batch, so they hold at any size."""
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
                ratio = flow["time"]["median"] / lev["time"]["median"]
                if flow["time"]["min"] > lev["time"]["max"] and ratio > 1 + SCHEDULE_NOISE:
                    slower.append(f"{w['name']} {backend}×{x} ({ratio:.2f}×)")
                    load = max(load, foreign_load(w, flow), foreign_load(w, lev))
    spec = ("dataflow never slower than levels beyond noise (pairs where it was)",
            "dataflow slower than levels: pairs", ANY_SIZE, "0")
    pairs_cell = f"{compared} backend × workers pairs"
    if not compared:
        out = [_target(*spec, pairs_cell)]
    else:
        out = [_target(*spec, pairs_cell, len(slower), 0.0, not slower,
                       ("slower: " + ", ".join(slower)) if slower else
                       f"dataflow's fastest run ≤ levels' slowest run, or its median within "
                       f"{SCHEDULE_NOISE:.0%} of levels', in all {compared} pairs",
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
