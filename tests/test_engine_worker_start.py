"""How process workers start and end: forked from the fork server with the engine loaded,
given their coordinator's environment, and gone once their coordinator is."""

from __future__ import annotations

import multiprocessing as mp
import multiprocessing.forkserver
import os
import subprocess
import sys

import psutil
import pytest

from aethel.allowed import ENV
from aethel.backends import Lifeline, ProcessPool, worker_context
from aethel.executor import ParallelExecutor
from aethel.model import Batch, Transaction
from aethel.operations import Call, Deposit
from harness.process import descendants, terminate_children

FORKED = worker_context().get_start_method() == "forkserver"
needs_fork_server = pytest.mark.skipif(not FORKED, reason="this platform has no fork server: "
                                       "workers are spawned")


@needs_fork_server
def test_a_worker_starts_forked_with_the_engine_already_imported():
    """A spawned worker imports the engine before its hello (some 150 ms of CPU here); a
    forked one finds it imported in the fork server."""
    pool = ProcessPool(2)
    try:
        for pid in pool.pids():
            worker = psutil.Process(pid)
            assert worker.parent().pid != os.getpid()
            assert "multiprocessing.forkserver" in " ".join(worker.parent().cmdline())
            cpu = worker.cpu_times()
            assert cpu.user + cpu.system < 0.05, cpu
    finally:
        pool.close()


@needs_fork_server
def test_a_worker_gets_its_coordinators_environment_as_it_is_when_the_worker_starts(
        monkeypatch):
    """The fork server keeps the environment it started with; a worker started later must
    still see what the coordinator has set since, e.g. a module allowed for ``call``."""
    multiprocessing.forkserver.ensure_running()
    monkeypatch.setenv(ENV, "tests.hostile_ops")
    batch = Batch({"a": 1}, [Transaction("t1", (Call("tests.hostile_ops:exit_zero"),))])
    with ParallelExecutor("process", 1) as executor:
        result = executor.execute(batch)
    assert result.outcomes["t1"].reason == "SystemExit: 0"  # run by the worker, not refused


def _run_a_batch_and_exit() -> None:
    with ParallelExecutor("process", 1) as executor:
        result = executor.execute(Batch({"a": 1}, [Transaction("t1", (Deposit("a", 1),))]))
    raise SystemExit(0 if result.final_states == {"a": 2} else 1)


@needs_fork_server
def test_a_process_forked_from_a_coordinator_starts_workers_of_its_own():
    """The fork server belongs to the process that started it: a process forked from that
    one (``os.fork``, the ``fork`` start method) cannot use it, and spawns its workers."""
    executor = ParallelExecutor("process", 1)
    try:
        executor.pool.ready()  # the fork server runs, started by this process
        child = mp.get_context("fork").Process(target=_run_a_batch_and_exit)
        child.start()
        child.join(120)
        assert child.exitcode == 0
    finally:
        executor.close()


def test_a_worker_sees_its_coordinator_gone():
    reader, writer = mp.Pipe(duplex=False)
    assert not Lifeline(reader, os.getpid()).gone()
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    assert Lifeline(reader, finished.pid).gone()  # the coordinator's process is gone
    moved = Lifeline(reader, os.getpid())
    moved.parent += 1
    assert moved.gone()  # a spawned worker's parent changed: it was the coordinator
    writer.close()
    assert Lifeline(reader, os.getpid()).gone()  # the coordinator's end of the pipe closed
    reader.close()


@needs_fork_server
def test_ending_a_processs_children_ends_its_workers_and_spares_the_fork_server():
    before = descendants()  # what else this test process runs is not this test's to end
    executor = ParallelExecutor("process", 2)
    workers = [psutil.Process(pid) for pid in executor.pool.pids()]
    server = workers[0].parent()
    try:
        terminate_children(timeout=1, keep=before - {server.pid})  # workers ignore SIGTERM
        _, alive = psutil.wait_procs(workers, timeout=10)
        assert not alive
        assert server.is_running()
    finally:
        executor.close()
    with ParallelExecutor("process", 2) as again:  # the next pool forks from the same server
        assert {psutil.Process(pid).parent().pid for pid in again.pool.pids()} == {server.pid}
