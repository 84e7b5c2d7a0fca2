"""Measuring the core-scaling benchmark behind ``aethel bench``.

For every workload, repetition by repetition, it runs (in a seeded random order, so
that serial and parallel runs interleave) the serial backend, the machine ceiling for
every worker count, every backend × schedule × worker-count cell, and the peers of
:mod:`harness.bench.peers` (plain loop, bare process pool, Dask) at the headline worker
count. The dependency graph is built before the clock runs: the engine's compact form
(:func:`~aethel.analysis.dependency_dag`, what ``execute`` builds when given none, and
whose time the report shows) for the executors, and the peers' plan from the same edges.
Every engine run is of an equal copy of the batch that no executor has run, with its own
graph (:func:`unseen`): a user's batch is new to the executor, which ships it to its
workers within the run, as the bare pool pickles its work in every run. Each parallel run
is checked against the serial final state; the runs are summarized by
:mod:`harness.bench.summary` and judged against the targets of :mod:`harness.bench.targets`.
The ceiling is the speedup of W independent processes doing the same work
(:mod:`harness.bench.ceiling`).
"""

from __future__ import annotations

import gc
import os
import pickle
import random
import statistics
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from aethel.analysis import DependencyDag, dependency_dag, dependency_graph, independent_sets
from aethel.context import ExecutionContext, discard
from aethel.cores import usable_cores
from aethel.executor import SCHEDULES, ParallelExecutor
from aethel.model import Batch, Transaction
from aethel.operations import Deposit, Spin
from aethel.trace import INIT
from harness.bench.campaign import campaign_points, measure_campaigns
from harness.bench.ceiling import CeilingPool
from harness.bench.monitor import ResourceMonitor, cores_for_pinning, machine_info, pin
from harness.bench.peers import (
    BARE_POOL,
    DASK,
    PeerPlan,
    PeerPool,
    available_peers,
    dask_missing,
    plain_loop,
)
from harness.bench.summary import PARALLEL_BACKENDS, Runs, headline, noise, summarize
from harness.bench.targets import evaluate_targets
from harness.bench.workloads import WORKLOADS, Workload
from harness.campaign.config import CampaignConfig

FORMAT = "aethel-bench"
FORMAT_VERSION = 1

ProgressCallback = Callable[[str, str, int, int], None]
"""``progress(stage, detail, done, total)``: called before each measured run and at the end."""


@dataclass(frozen=True)
class BenchConfig:
    """What to measure. ``workers=None``: 1, 2, 4, … up to the usable cores (or a
    waiting workload's ``max_workers``). ``campaign``: measure campaign scaling
    (:mod:`harness.bench.campaign`) instead of the workloads."""

    quick: bool = False
    workloads: tuple[str, ...] = tuple(WORKLOADS)
    backends: tuple[str, ...] = PARALLEL_BACKENDS
    schedules: tuple[str, ...] = SCHEDULES
    workers: tuple[int, ...] | None = None
    repeat: int | None = None
    pin: bool = False
    seed: int = 0
    latency_repeat: int | None = None
    campaign: bool = False
    campaign_examples: int | None = None

    @property
    def repetitions(self) -> int:
        if self.campaign:
            return self.repeat or 1
        return self.repeat or (2 if self.quick else 5)

    @property
    def campaign_size(self) -> int:
        """Examples per campaign in campaign mode: the default profile's, a fifth of it
        when quick."""
        full = CampaignConfig().total_examples or 0
        return self.campaign_examples or (full // 5 if self.quick else full)

    @property
    def latency_repetitions(self) -> int:
        return self.latency_repeat or (10 if self.quick else 50)


def unseen(batch: Batch) -> tuple[Batch, DependencyDag]:
    """An equal copy of ``batch`` made of new objects, which no executor has run, and its
    dependency graph in the engine's form, built (with the ranks the executor walks)."""
    copy = pickle.loads(pickle.dumps(batch))
    dag = dependency_dag(copy)
    dag.ranked  # noqa: B018 (built here, before the clock, as the graph is)
    return copy, dag


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
    to the cores or the workload's ``max_workers``; quick: only the cores (the headline
    count, where the peers run; the ceiling still measures one process too)."""
    if config.workers is not None:
        return sorted(set(config.workers))
    if config.quick:
        return [cores]
    return worker_counts(max(cores, workload.max_workers or cores))


class Executors:
    """One warm executor per (backend, workers), optionally with pinned workers; the
    schedule is chosen per run. Knows the native ids of each thread pool's threads."""

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
        return self._executors[(backend, workers)].pool.pids()

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
        self.peers = available_peers()
        self._peer_pools: dict[int, PeerPool] = {}

    def _step(self, stage: str, detail: str) -> None:
        if self.should_stop():
            raise _Stopped
        self.progress(stage, detail, self.done, self.total)
        self.done += 1

    def plan(self) -> list[tuple[Workload, list[int]]]:
        """Each selected workload with its worker counts (none in campaign mode)."""
        if self.config.campaign:
            return []
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
        self.total = sum(reps * (2 + len(self.peers) + len(set(ws) | {1}) + cells * len(ws))
                         for _, ws in plan)
        if config.campaign:
            points = campaign_points(self.cores)
            self.total = reps * len(points)
        else:
            self.total += config.latency_repetitions
        machine = machine_info()
        widest = max([max(ws) for _, ws in plan] + [1])
        executors = Executors(config.pin)
        workloads: list[dict[str, Any]] = []
        latency: dict[str, Any] = {"workers": self.cores, "repetitions": 0, "operations": {}}
        campaign = None
        complete = True
        try:
            if config.campaign:
                campaign = measure_campaigns(self.cores, config.campaign_size, reps,
                                             config.seed, self._step)
            else:
                with CeilingPool(widest) as ceiling:
                    if config.pin:
                        for n, pid in enumerate(ceiling.pids()):
                            pin(pid, executors.cores[n % len(executors.cores)])
                    for index, (workload, ws) in enumerate(plan):
                        workloads.append(self._workload(workload, ws, executors, ceiling))
                        following = plan[index + 1][1] if index + 1 < len(plan) else \
                            [self.cores]  # the latency's executors
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
            for pool in self._peer_pools.values():
                pool.close()
            self._peer_pools.clear()
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
            "campaign": campaign,
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
        dag = dependency_dag(batch)
        analysis_s = time.perf_counter() - t0
        graph = dependency_graph(batch)  # the peers' plan and the report's DAG figures
        serial = executors.get("serial", 1)
        reference = serial.execute(batch, dag).final_states
        for backend in config.backends:
            for w in ws:
                executors.get(backend, w)
        runs = Runs()
        ceiling_ws = sorted(set(ws) | {1})
        top = headline(ws, self.cores)
        peers = self._peer_pool(top)
        peer_plan = PeerPlan.of(batch, graph)
        for rep in range(config.repetitions):
            tasks: list[tuple[str, str, int]] = [("serial", "dataflow", 1), ("plain", "", 1)]
            tasks += [("ceiling", "", w) for w in ceiling_ws]
            tasks += [(peer, "", top) for peer in self.peers]
            tasks += [(b, s, w) for b in config.backends for s in config.schedules for w in ws]
            self.rng.shuffle(tasks)
            for backend, schedule, w in tasks:
                label = f"{backend}×{w} {schedule}".rstrip()
                self._step(f"{workload.name} rep {rep + 1}/{config.repetitions}", label)
                gc.collect()
                if backend == "plain":
                    t = time.perf_counter()
                    plain_loop(peer_plan)
                    runs.plain.append(time.perf_counter() - t)
                    continue
                if backend in (BARE_POOL, DASK):
                    run = peers.bare if backend == BARE_POOL else peers.dask
                    with ResourceMonitor(peers.pids()) as watch:
                        t = time.perf_counter()
                        run(peer_plan)
                        elapsed = time.perf_counter() - t
                    runs.peers.setdefault(backend, []).append(elapsed)
                    runs.peer_usage.setdefault(backend, []).append(watch.usage)
                    continue
                if backend == "ceiling":
                    with ResourceMonitor(ceiling.pids(w)) as watch:
                        result = ceiling.measure(batch, w)
                    runs.ceiling.setdefault(w, []).append(result.wall_s)
                    runs.ceiling_foreign.setdefault(w, []).append(watch.usage.foreign_cpu)
                    runs.ceiling_cpu.setdefault(w, []).append(
                        [c / result.wall_s for c in result.cpu_s])
                    continue
                executor = executors.get(backend, w)
                run_batch, run_dag = unseen(batch)
                monitor = ResourceMonitor(executors.pids(backend, w), executors.tids(backend, w))
                with monitor:
                    t = time.perf_counter()
                    res = executor.execute(run_batch, run_dag, schedule=schedule)
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
        }, config.seed, (top, dask_missing()))

    def _peer_pool(self, workers: int) -> PeerPool:
        """The peers' warm pool of ``workers`` processes (pinned if asked)."""
        if workers not in self._peer_pools:
            pool = self._peer_pools[workers] = PeerPool(workers)
            if self.config.pin:
                cores = cores_for_pinning()
                for n, pid in enumerate(pool.pids()):
                    pin(pid, cores[n % len(cores)])
        return self._peer_pools[workers]

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
                ctx = ExecutionContext(tx, {"a": (0, INIT)}, 0, 0, discard)
                t = time.perf_counter()
                op.apply(ctx, None)
                times[name]["direct"].append(time.perf_counter() - t)
                for backend, w in backends:
                    executor = executors.get(backend, w)
                    t = time.perf_counter()
                    executor.execute(batch, schedule="dataflow")
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
