"""What a timed run cost the machine: CPU per worker, peak RSS, and everyone else's load.

All figures come from psutil. Worker processes are watched by pid, worker threads by
their native thread id; the coordinator is the rest of this process. *Foreign* CPU is
the machine's busy time not spent by this process or the watched workers: other users'
load, i.e. the noise a shared machine adds to a measurement.
"""

from __future__ import annotations

import os
import platform
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from aethel.cores import cgroup_quota, usable_cores

MIB = 1024 * 1024


@dataclass
class Usage:
    """CPU utilisation (CPU seconds per wall second) and peak RSS (MiB) of one run."""

    wall_s: float = 0.0
    worker_cpu: list[float] = field(default_factory=list)
    coordinator_cpu: float = 0.0
    worker_rss_mib: list[float] = field(default_factory=list)
    coordinator_rss_mib: float = 0.0
    foreign_cpu: float = 0.0


def _busy(times: Any) -> float:
    return (times.user + times.nice + times.system + getattr(times, "irq", 0.0)
            + getattr(times, "softirq", 0.0) + getattr(times, "steal", 0.0))


def _thread_cpu(process: psutil.Process) -> dict[int, float]:
    return {t.id: t.user_time + t.system_time for t in process.threads()}


class ResourceMonitor:
    """Context manager around one timed run.

    ``pids`` are worker processes, ``tids`` worker threads of this process. A sampler
    thread reads RSS every ``interval`` seconds (and once at start and end), which is the
    peak as far as psutil can see it.
    """

    def __init__(self, pids: Sequence[int] = (), tids: Sequence[int] = (),
                 interval: float = 0.05) -> None:
        self.me = psutil.Process()
        self.workers = [psutil.Process(pid) for pid in pids]
        self.tids = list(tids)
        self.interval = interval
        self.usage = Usage()
        self._stop = threading.Event()
        self._sampler: threading.Thread | None = None

    def _sample_rss(self) -> None:
        try:
            rss = [p.memory_info().rss / MIB for p in self.workers]
            own = self.me.memory_info().rss / MIB
        except psutil.Error:
            return
        u = self.usage
        u.worker_rss_mib = [max(a, b) for a, b in zip(u.worker_rss_mib, rss, strict=True)] \
            if u.worker_rss_mib else rss
        u.coordinator_rss_mib = max(u.coordinator_rss_mib, own)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample_rss()

    def _cpu(self) -> tuple[list[float], float, float]:
        """CPU seconds so far: of each worker, of this process (to the nanosecond: psutil
        counts it in clock ticks, 10 ms, a tenth of a short run's coordinator), and of the
        machine."""
        workers = [p.cpu_times() for p in self.workers]
        own = time.process_time()
        threads = _thread_cpu(self.me) if self.tids else {}
        return ([w.user + w.system for w in workers] + [threads.get(t, 0.0) for t in self.tids],
                own, _busy(psutil.cpu_times()))

    def __enter__(self) -> ResourceMonitor:
        self._sample_rss()
        self._before = self._cpu()
        self._sampler = threading.Thread(target=self._loop, name="bench-rss", daemon=True)
        self._sampler.start()
        self._started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self._started
        self._stop.set()
        assert self._sampler is not None
        self._sampler.join()
        self._sample_rss()
        try:
            after = self._cpu()
        except psutil.Error:
            return
        workers = [b - a for a, b in zip(self._before[0], after[0], strict=True)]
        own = after[1] - self._before[1]
        threads = sum(workers[len(self.workers):])
        processes = sum(workers[:len(self.workers)])
        u = self.usage
        u.wall_s = wall
        if wall > 0:
            u.worker_cpu = [w / wall for w in workers]
            u.coordinator_cpu = max(0.0, own - threads) / wall
            u.foreign_cpu = max(0.0, (after[2] - self._before[2]) - own - processes) / wall


def pin(pid_or_tid: int, core: int) -> None:
    """Restrict a process, or a thread of this process (by native id), to one core."""
    os.sched_setaffinity(pid_or_tid, {core})


def cores_for_pinning() -> list[int]:
    """The cores this process may run on, in order."""
    try:
        return sorted(psutil.Process().cpu_affinity())
    except (AttributeError, psutil.Error):
        return list(range(os.cpu_count() or 1))


def cpu_model() -> str:
    """The CPU model name (from /proc/cpuinfo on Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    """CPU model, logical/physical cores, affinity, cgroup quota, memory and Python."""
    try:
        affinity: list[int] | None = sorted(psutil.Process().cpu_affinity())
    except (AttributeError, psutil.Error):
        affinity = None
    return {
        "cpu_model": cpu_model(),
        "logical_cores": psutil.cpu_count(logical=True),
        "physical_cores": psutil.cpu_count(logical=False),
        "affinity": affinity,
        "cgroup_quota": cgroup_quota(),
        "usable_cores": usable_cores(),
        "memory_gib": round(psutil.virtual_memory().total / 1024**3, 1),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "gil": bool(getattr(sys, "_is_gil_enabled", lambda: True)()),
        "platform": platform.platform(),
        "load_average": list(os.getloadavg()),
    }
