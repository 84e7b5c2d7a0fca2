"""Shared fixtures of the property suite: one executor per backend × schedule, reused."""

from __future__ import annotations

import pytest

from aethel.executor import ParallelExecutor

CONFIGS = [("thread", "dataflow"), ("thread", "levels"), ("process", "dataflow"),
           ("process", "levels")]


@pytest.fixture(scope="session")
def executors():
    """``(backend, schedule) → ParallelExecutor`` with 2 workers, plus ``"serial"``."""
    pool = {cfg: ParallelExecutor(cfg[0], 2, cfg[1]) for cfg in CONFIGS}
    pool["serial"] = ParallelExecutor("serial")
    yield pool
    for executor in pool.values():
        executor.close()


@pytest.fixture(params=CONFIGS, ids="-".join)
def executor(request, executors) -> ParallelExecutor:
    """Each parallel backend and schedule in turn."""
    return executors[request.param]
