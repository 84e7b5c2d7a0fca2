"""How many CPU cores this process may really use."""

from __future__ import annotations

import math
import os
from pathlib import Path

import psutil


def usable_cores() -> int:
    """Cores in this process's CPU affinity, capped by a cgroup CPU quota if one is set."""
    try:
        cores = len(psutil.Process().cpu_affinity())
    except (AttributeError, psutil.Error):
        cores = os.cpu_count() or 1
    quota = cgroup_quota()
    if quota is not None:
        cores = min(cores, max(1, math.floor(quota)))
    return max(1, cores)


def cgroup_quota() -> float | None:
    """The cgroup CPU quota in cores (v2 ``cpu.max`` or v1 ``cfs_quota_us``), or None."""
    v2 = Path("/sys/fs/cgroup/cpu.max")
    try:
        if v2.exists():
            quota, period = v2.read_text().split()[:2]
            return None if quota == "max" else int(quota) / int(period)
        v1 = Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
        if v1.exists():
            quota_us = int(v1.read_text())
            period_us = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
            return None if quota_us <= 0 else quota_us / period_us
    except (OSError, ValueError):
        return None
    return None
