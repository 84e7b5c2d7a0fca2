"""Serial equivalence: every parallel backend and schedule gives exactly the serial result.

Validates the engine requirement "Both modes must give exactly the result of serial
execution in batch order — balances and per-transaction outcomes" for the thread and
process backends under the dataflow and levels schedules.
"""

from __future__ import annotations

import pytest
from hypothesis import given

from aethel.executor import ParallelExecutor
from harness.strategies import batches

PARALLEL = [("thread", "dataflow"), ("thread", "levels"), ("process", "dataflow"),
            ("process", "levels")]


@pytest.fixture(scope="module")
def executors():
    pool = {cfg: ParallelExecutor(cfg[0], 2, cfg[1]) for cfg in PARALLEL}
    pool["serial"] = ParallelExecutor("serial")
    yield pool
    for executor in pool.values():
        executor.close()


@pytest.mark.parametrize("config", PARALLEL, ids="-".join)
@pytest.mark.parametrize("contention", ["low", "high"])
def test_parallel_equals_serial(executors, config, contention):
    parallel, serial = executors[config], executors["serial"]

    @given(batch=batches(max_transactions=16, contention=contention, overflow=True,
                         cost_us=(0, 0, 300, -2000)))
    def check(batch):
        expected = serial.execute(batch)
        actual = parallel.execute(batch)
        assert actual.final_states == expected.final_states
        assert actual.outcomes == expected.outcomes
        assert actual.committed == expected.committed

    check()
