"""Campaign scaling: how many examples per second ``aethel verify``'s campaigns check at
each number of job processes and engine workers.

Each point runs one whole campaign through :func:`harness.campaign.runner.run_campaign`, as
``aethel verify`` does, on a fresh local pool of ``jobs`` spawned job processes. It records
examples/s as ``aethel verify`` reports it (job start-up included), when the first shard
finished (the jobs' start-up, plus one shard), the steady rate between the first and the
last shard to finish, and the CPU every process of the campaign used: in cores, per example,
and the share of the engine's worker processes (children of the jobs). CPU per example does
not depend on other users' load as a rate does: a campaign at 2 jobs can reach at most
``cores / (cores busy at 1 job)`` × the rate at 1 job, less by any CPU per example it adds.
Points run in a seeded random order, repetition by repetition.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

import psutil

from harness.bench.summary import stats
from harness.campaign.config import CampaignConfig
from harness.campaign.runner import CampaignResult, run_campaign
from harness.campaign.shards import ShardResult, start_job
from harness.process import (
    descendants,
    spare_children_the_command,
    terminate_children,
    wait_for_children,
)

THREAD = ("thread",)
"""A thread-backend campaign: its jobs start no engine processes."""
DEFAULT = CampaignConfig().backends
"""The default campaign's backends (thread and process)."""
EXIT_GRACE = 10.0
"""Seconds the job processes get to exit after a campaign before they are terminated."""


@dataclass(frozen=True)
class Point:
    """One campaign shape: its backends, job processes and engine workers per executor."""

    backends: tuple[str, ...]
    jobs: int
    workers: int

    @property
    def name(self) -> str:
        kind = "thread" if self.backends == THREAD else "default"
        return f"{kind} jobs={self.jobs} workers={self.workers}"


def campaign_points(cores: int) -> list[Point]:
    """A thread-backend campaign at 1, 2 (and ``cores``) jobs; the default campaign at 1, 2
    (and ``cores``) jobs × 1 and 2 engine workers."""
    jobs = sorted({1, 2, cores})
    return ([Point(THREAD, j, 2) for j in jobs]
            + [Point(DEFAULT, j, w) for j in jobs for w in (1, 2)])


@contextmanager
def job_pool(jobs: int) -> Iterator[ProcessPoolExecutor]:
    """A local pool of ``jobs`` spawned job processes, as ``aethel verify`` starts it; every
    process it started is ended afterwards."""
    before = descendants()
    spare_children_the_command()
    pool = ProcessPoolExecutor(jobs, mp_context=get_context("spawn"), initializer=start_job,
                               initargs=(os.getpid(),))
    try:
        yield pool
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        wait_for_children(EXIT_GRACE, keep=before)
        terminate_children(EXIT_GRACE, keep=before)


def _cpu_seconds(keep: set[int]) -> tuple[float, float]:
    """CPU seconds so far of this process's children not in ``keep`` (the job processes)
    and of their descendants (the engine's worker processes), those that have already
    exited included (a process's reaped children count in its ``children_*`` times: the
    engine replaces the worker it stops on a timeout example)."""
    jobs = engine = 0.0
    for child in psutil.Process().children():
        if child.pid in keep:
            continue
        try:
            processes = [(child, True), *((p, False) for p in child.children(recursive=True))]
        except psutil.Error:
            continue
        for process, is_job in processes:
            try:
                times = process.cpu_times()
            except psutil.Error:
                continue
            if is_job:
                jobs += times.user + times.system
            else:
                engine += times.user + times.system
            engine += times.children_user + times.children_system
    return jobs, engine


def run_point(point: Point, examples: int, seed: int) -> dict[str, Any]:
    """One campaign at ``point``: examples/s, start-up, steady rate, CPU (cores)."""
    config = CampaignConfig(backends=point.backends, jobs=point.jobs, workers=point.workers,
                            examples=examples, seed=seed)
    finished: list[tuple[float, int]] = []

    def progress(result: CampaignResult, shard: ShardResult) -> None:
        finished.append((time.perf_counter(), shard.examples))

    before = descendants()
    own = time.process_time()
    with job_pool(point.jobs) as pool:
        started = time.perf_counter()
        result = run_campaign(config, pool, progress)
        jobs, engine = _cpu_seconds(before)
        coordinator = time.process_time() - own
    first = finished[0][0] - started if finished else None
    steady = None
    if len(finished) >= 2 and finished[-1][0] > finished[0][0]:
        steady = sum(n for _, n in finished[1:]) / (finished[-1][0] - finished[0][0])
    cpu = jobs + engine + coordinator
    return {"examples": result.examples, "seconds": result.seconds,
            "examples_per_s": result.throughput, "first_shard_s": first,
            "steady_examples_per_s": steady,
            "cpu_cores": cpu / result.seconds if result.seconds else None,
            "cpu_ms_per_example": cpu / result.examples * 1e3 if result.examples else None,
            "cpu_s": {"jobs": jobs, "engine": engine, "coordinator": coordinator},
            "ok": result.ok, "complete": result.complete}


def measure_campaigns(cores: int, examples: int, repetitions: int, seed: int,
                      step: Callable[[str, str], None]) -> dict[str, Any]:
    """Every point of :func:`campaign_points` ``repetitions`` times in a seeded random
    order; ``step(stage, detail)`` is called before each campaign. The document's
    ``campaign`` section."""
    points = campaign_points(cores)
    rng = random.Random(f"bench-campaign:{seed}")
    runs: dict[Point, list[dict[str, Any]]] = {p: [] for p in points}
    for rep in range(repetitions):
        order = list(points)
        rng.shuffle(order)
        for point in order:
            step(f"campaign rep {rep + 1}/{repetitions}", point.name)
            runs[point].append(run_point(point, examples, seed))
    return summarize_campaigns(runs, examples, repetitions,
                               Point(DEFAULT, cores, CampaignConfig().workers))


def _stat(values: list[float | None]) -> dict[str, float] | None:
    known = [v for v in values if v is not None]
    return stats(known) if known else None


def summarize_campaigns(runs: dict[Point, list[dict[str, Any]]], examples: int,
                        repetitions: int, verify_default: Point) -> dict[str, Any]:
    """Per point the medians and ranges of its runs and the ratio of its examples/s to one
    job's (same campaign, same engine workers); per kind of campaign its best point; the
    point ``aethel verify`` runs by default."""
    out = []
    for point, results in runs.items():
        out.append({
            "backends": list(point.backends), "jobs": point.jobs, "workers": point.workers,
            "name": point.name, "runs": results,
            "examples_per_s": _stat([r["examples_per_s"] for r in results]),
            "steady_examples_per_s": _stat([r["steady_examples_per_s"] for r in results]),
            "first_shard_s": _stat([r["first_shard_s"] for r in results]),
            "cpu_cores": _stat([r["cpu_cores"] for r in results]),
            "cpu_ms_per_example": _stat([r["cpu_ms_per_example"] for r in results]),
            "engine_cpu_share": _stat([r["cpu_s"]["engine"] / total for r in results
                                       if (total := sum(r["cpu_s"].values()))]),
            "ok": all(r["ok"] and r["complete"] for r in results),
        })
    for p in out:
        one = next((q for q in out if q["backends"] == p["backends"] and q["jobs"] == 1
                    and q["workers"] == p["workers"]), None)
        p["vs_one_job"] = (p["examples_per_s"]["median"] / one["examples_per_s"]["median"]
                           if one and p["examples_per_s"] and one["examples_per_s"]["median"]
                           else None)
    best = {}
    for kind in ("thread", "default"):
        rated = [p for p in out if p["name"].startswith(kind) and p["examples_per_s"]]
        if rated:
            top = max(rated, key=lambda p: p["examples_per_s"]["median"])
            best[kind] = top["name"]
    return {"examples": examples, "repetitions": repetitions, "points": out, "best": best,
            "verify_default": verify_default.name}
