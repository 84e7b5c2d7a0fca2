"""How a campaign's job processes start and end: what their children import, and an end
that never cuts a semaphore's unlinking off from its unregistering.

Every wait here is bounded by a deadline many times what the behaviour needs; no test
asserts a bound on time.
"""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import threading
import time
import types
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context, resource_tracker, spawn
from pathlib import Path

import psutil

import harness.cli
from harness.bench.campaign import _cpu_seconds
from harness.campaign.shards import start_job
from harness.process import descendants, spare_children_the_command

ROOT = Path(__file__).resolve().parent.parent
DEADLINE = 120.0
"""Seconds any wait here may take (a bound for a broken test only)."""
EXIT_WAIT = 3.0
"""Seconds the scenario gives an ending job to exit by itself before it lets the job's
unlinking semaphore go on: a job that does not wait for it has exited by then."""


def test_children_of_the_aethel_command_do_not_rerun_its_script(monkeypatch):
    """A spawned child re-runs its parent's main script; the ``aethel`` command's script
    holds only its entry point, so the processes it (or a job re-running it) spawns are
    told of no main module. Any other script stays the children's main module."""
    command = types.ModuleType("__mp_main__")
    command.__dict__.update(__file__="/venv/bin/aethel", __spec__=None,
                            entry=harness.cli.entry)
    monkeypatch.setitem(sys.modules, "__main__", command)
    assert spawn.get_preparation_data("job")["init_main_from_path"] == "/venv/bin/aethel"
    spare_children_the_command()
    assert "init_main_from_path" not in spawn.get_preparation_data("job")

    script = types.ModuleType("__main__")
    script.__dict__.update(__file__="/work/campaigns.py", __spec__=None, entry=lambda: None)
    monkeypatch.setitem(sys.modules, "__main__", script)
    spare_children_the_command()
    assert spawn.get_preparation_data("job")["init_main_from_path"] == "/work/campaigns.py"


BURN = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\n" \
       "print(time.process_time())"


def _burn_in_a_child() -> float:
    """In a job: the CPU seconds of a child process that has burnt some and exited."""
    done = subprocess.run([sys.executable, "-c", BURN], capture_output=True, text=True,
                          check=True)
    return float(done.stdout)


def test_the_campaign_bench_counts_the_cpu_of_engine_processes_that_have_exited():
    """The engine replaces the worker it stops on a timeout example: the CPU of a job's
    children that have exited counts as the engine's, as that of the live ones does."""
    before = descendants()
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        burnt = pool.submit(_burn_in_a_child).result(timeout=DEADLINE)
        _, engine = _cpu_seconds(before)
    assert burnt > 0 and engine >= burnt / 2, (burnt, engine)


def _unlink_slowly(directory: str) -> int:
    """In a job: drop a semaphore from a thread of its own, whose unregistering (after the
    unlinking) waits until ``directory/go`` exists; the job's pid once that thread is
    between the two."""
    folder = Path(directory)
    unregister = resource_tracker.unregister

    def unregister_when_told(name: str, rtype: str) -> None:
        (folder / "between").touch()
        deadline = time.monotonic() + DEADLINE
        while not (folder / "go").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        unregister(name, rtype)

    resource_tracker.unregister = unregister_when_told
    lock = [get_context("spawn").Lock()]

    def drop() -> None:
        lock.clear()
        gc.collect()

    threading.Thread(target=drop, daemon=True).start()
    _wait_for(lambda: (folder / "between").exists())
    return os.getpid()


def _wait_for(condition) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


def end_a_job_while_it_unlinks(directory: str) -> None:
    """A job that is told to end (SIGTERM, as a campaign ends its jobs) while one of its
    threads has unlinked a semaphore and not yet told the resource tracker; the thread goes
    on after :data:`EXIT_WAIT` seconds or once the job has exited. Run as a script: the
    resource tracker's warnings, if any, go to its stderr."""
    folder = Path(directory)
    pool = ProcessPoolExecutor(1, mp_context=get_context("spawn"), initializer=start_job,
                               initargs=(os.getpid(),))
    pid = pool.submit(_unlink_slowly, directory).result(timeout=DEADLINE)
    job = psutil.Process(pid)
    job.send_signal(signal.SIGTERM)
    psutil.wait_procs([job], timeout=EXIT_WAIT)
    (folder / "go").touch()
    psutil.wait_procs([job], timeout=DEADLINE)
    pool.shutdown(wait=True)


def test_a_job_ends_only_once_a_semaphore_it_unlinks_is_unregistered(tmp_path):
    """A job ends from a thread of its own while another thread may be unlinking a
    semaphore: had it exited between the unlinking and the unregistering, the resource
    tracker would warn of a leaked semaphore (and fail to unlink it again)."""
    proc = subprocess.run(
        [sys.executable, "-c", "from tests.test_campaign_jobs import end_a_job_while_it_unlinks;"
         f"end_a_job_while_it_unlinks({str(tmp_path)!r})"],
        cwd=ROOT, capture_output=True, text=True, timeout=DEADLINE,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "between").exists()
    assert "resource_tracker" not in proc.stderr and "leaked" not in proc.stderr, proc.stderr
