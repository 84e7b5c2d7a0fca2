"""Faults: exact rollback, clean recovery, no process, semaphore or temp file left behind.

Every test here checks, through the ``no_leftovers`` fixture, that no child process of the
test is alive afterwards and that no new shared-memory entry or temp file remains.
"""

from __future__ import annotations

import contextlib
import gc
import json
import multiprocessing.forkserver
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner

from aethel.backends import ProcessPool, _Proc, worker_context
from aethel.errors import ExecutionTimeout, WorkerCrashedError
from aethel.executor import ParallelExecutor
from aethel.model import Batch, Transaction
from aethel.operations import Call, Deposit, Sleep, Transfer
from harness.cli import main
from harness.cli import run as run_cli

SHM = Path("/dev/shm")
ACCOUNTS = {"a": 100, "b": 0, "c": 5}


def _listing(path: Path) -> set[str]:
    return {p.name for p in path.iterdir()} if path.exists() else set()


def _is_resource_tracker(process: psutil.Process) -> bool:
    """multiprocessing's per-interpreter resource tracker: started once, on purpose alive
    until the interpreter exits (it unlinks semaphores that dead processes leave)."""
    return any("resource_tracker" in part for part in process.cmdline())


def _alive_children(me: psutil.Process, before: set[int]) -> list[list[str]]:
    """Command lines of the test's live descendants, started since ``before``."""
    alive = []
    for child in me.children(recursive=True):
        try:
            if (child.pid not in before and child.status() != psutil.STATUS_ZOMBIE
                    and not _is_resource_tracker(child)):
                alive.append(child.cmdline())
        except psutil.NoSuchProcess:
            continue
    return alive


def _shm_mappings(pid: int) -> set[tuple[int, int, int]]:
    """(major, minor, inode) of the /dev/shm files process ``pid`` maps. By inode, not name:
    glibc maps a semaphore under a temporary name before it links the real one."""
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError:  # gone, or not ours to read
        return set()
    found = set()
    for line in maps.splitlines():
        fields = line.split(None, 5)
        if len(fields) == 6 and fields[5].startswith(f"{SHM}/"):
            major, minor = (int(part, 16) for part in fields[3].split(":"))
            found.add((major, minor, int(fields[4])))
    return found


def _shm_keys(names: set[str]) -> dict[tuple[int, int, int], str]:
    """(major, minor, inode) of each of ``names`` that still exists in /dev/shm."""
    keys = {}
    for name in names:
        try:
            stat = (SHM / name).stat()
        except FileNotFoundError:
            continue
        keys[(os.major(stat.st_dev), os.minor(stat.st_dev), stat.st_ino)] = name
    return keys


class _Witness:
    """Watches the test's own process tree and records every /dev/shm file one of its
    processes maps. A semaphore is mapped by the process that creates it from the moment it
    exists, so what the test's processes created is what the witness saw, whatever other
    tests, xdist workers or programs create (or leave to a resource tracker) beside it."""

    INTERVAL_S = 0.05

    def __init__(self, me: psutil.Process) -> None:
        self.me = me
        self.seen: set[tuple[int, int, int]] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="shm-witness", daemon=True)
        self._thread.start()

    def _look(self) -> None:
        try:
            tree = [self.me.pid, *(c.pid for c in self.me.children(recursive=True))]
        except psutil.Error:
            tree = [self.me.pid]
        for pid in tree:
            self.seen |= _shm_mappings(pid)

    def _watch(self) -> None:
        while not self._stop.wait(self.INTERVAL_S):
            self._look()

    def stop(self) -> set[tuple[int, int, int]]:
        """Stop watching; every file the tree was seen mapping."""
        self._stop.set()
        self._thread.join()
        self._look()
        return self.seen


@pytest.fixture(autouse=True)
def no_leftovers(request, tmp_path_factory, monkeypatch):
    """A private temp dir for the test and its subprocesses, checked empty afterwards; no
    live child process and no new shared-memory entry of the test's own left behind (but in
    tests marked ``kills_processes``: a process killed by a signal cannot unlink its
    semaphores, multiprocessing's resource tracker does so later, on its own schedule;
    nor can it remove the directory its fork server's socket is in). An entry is the
    test's own if one of the test's processes was seen mapping it. The fork server the
    engine's workers come from serves this process's pools from the first to the last, as
    the resource tracker does: it is started first, so that it and its socket's directory
    are not the test's."""
    if worker_context().get_start_method() == "forkserver":
        multiprocessing.forkserver.ensure_running()
    private_tmp = tmp_path_factory.mktemp("tmpdir")
    monkeypatch.setenv("TMPDIR", str(private_tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    me = psutil.Process()
    before = {c.pid for c in me.children(recursive=True)}
    shm = _listing(SHM)
    witness = _Witness(me)
    yield
    ours = witness.stop()
    gc.collect()  # queues of replaced workers release their semaphores when collected
    deadline = time.monotonic() + 10
    while True:
        alive = _alive_children(me, before)
        new = _listing(SHM) - shm
        leaked = {name for key, name in _shm_keys(new).items() if key in ours}
        if not (alive or leaked) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert not alive, f"child processes left alive: {alive}"
    left = _listing(private_tmp)
    if request.node.get_closest_marker("kills_processes") is None:
        assert not leaked, f"shared-memory entries left behind: {sorted(leaked)}"
    else:
        left = {name for name in left if not name.startswith("pymp-")}
    assert left == set(), "temp files left behind"


def tx(tx_id, *ops):
    return Transaction(tx_id, ops)


FAIL = Call("aethel.examples:fail", (), (), (("message", "disk on fire"),))
BATCH = [tx("t1", Transfer("a", "b", 10)), tx("t2", Deposit("c", 1), FAIL),
         tx("t3", Transfer("b", "c", 5))]


@pytest.mark.parametrize("backend", ["thread", "process"])
def test_exception_in_a_transaction(backend):
    with ParallelExecutor(backend, 2) as executor:
        atomic = executor.execute(Batch(ACCOUNTS, BATCH, "atomic"))
        independent = executor.execute(Batch(ACCOUNTS, BATCH, "independent"))
    assert atomic.final_states == ACCOUNTS and not atomic.committed
    assert "t2" in atomic.error and "RuntimeError: disk on fire" in atomic.error
    assert independent.outcomes["t2"].reason == "RuntimeError: disk on fire"
    assert {t: o.status for t, o in independent.outcomes.items()} == {
        "t1": "committed", "t2": "aborted", "t3": "committed"}
    assert independent.final_states == {"a": 90, "b": 5, "c": 10}


@pytest.mark.parametrize("backend", ["thread", "process"])
def test_hung_transaction_times_out_and_the_worker_is_replaced(backend):
    hung = [*BATCH[:1], tx("t2", Call("aethel.examples:hang", (), (), (("seconds", 30.0),))),
            BATCH[2]]
    with ParallelExecutor(backend, 2, timeout=0.5) as executor:
        pids = executor.pool.pids() if backend == "process" else []
        started = time.monotonic()
        with pytest.raises(ExecutionTimeout) as err:
            executor.execute(Batch(ACCOUNTS, hung))
        assert time.monotonic() - started < 15, "the 0.5 s timeout did not stop the 30 s hang"
        assert err.value.final_states == ACCOUNTS
        assert "completed" in str(err.value) and "pending" in str(err.value)
        if backend == "process":
            assert set(executor.pool.pids()) != set(pids)
        after = executor.execute(Batch(ACCOUNTS, [BATCH[0], BATCH[2]]))
        assert after.final_states == {"a": 90, "b": 5, "c": 10}


def test_killed_worker_mid_batch():
    slow = [tx("t1", Transfer("a", "b", 10)), *(tx(f"s{i}", Sleep(2000)) for i in range(4))]
    with ParallelExecutor("process", 2) as executor:
        victim = executor.pool.pids()[0]
        killer = threading.Timer(0.3, os.kill, (victim, signal.SIGKILL))
        killer.start()
        with pytest.raises(WorkerCrashedError) as err:
            executor.execute(Batch(ACCOUNTS, slow))
        killer.join()
        assert err.value.final_states == ACCOUNTS
        assert "worker" in str(err.value) and "rolled back" in str(err.value)
        assert victim not in executor.pool.pids()
        after = executor.execute(Batch(ACCOUNTS, [BATCH[0], BATCH[2]]))
        assert after.final_states == {"a": 90, "b": 5, "c": 10}


def test_replaced_workers_start_before_the_next_batch_is_timed():
    with ParallelExecutor("process", 2, timeout=0.1) as executor:
        with pytest.raises(ExecutionTimeout):
            executor.execute(Batch(ACCOUNTS, [tx("slow", Sleep(60_000))]))
        for i in range(20):
            result = executor.execute(Batch(ACCOUNTS, [tx(f"t{i}", Transfer("a", "b", 1))]))
            assert result.final_states == {"a": 99, "b": 1, "c": 5}


def test_a_replacement_that_never_starts_fails_the_next_batch_instead_of_hanging(monkeypatch):
    open_ends = []
    real_spawn = ProcessPool._spawn

    def silent_once(pool, worker):
        """The first replacement is a process that never says hello (nor closes its pipe)."""
        monkeypatch.setattr(ProcessPool, "_spawn", real_spawn)
        reader, writer = pool._ctx.Pipe(duplex=False)
        open_ends.append(writer)
        process = pool._ctx.Process(target=time.sleep, args=(60,), daemon=True)
        process.start()
        return _Proc(worker, process, pool._ctx.Queue(), reader)

    try:
        with ParallelExecutor("process", 1, timeout=0.5) as executor:
            executor.pool.START_TIMEOUT = 1.0
            monkeypatch.setattr(ProcessPool, "_spawn", silent_once)
            with pytest.raises(ExecutionTimeout):
                executor.execute(Batch(ACCOUNTS, [tx("slow", Sleep(60_000))]))
            with pytest.raises(WorkerCrashedError, match="did not start within 1 s") as err:
                executor.execute(Batch(ACCOUNTS, BATCH[:1]))
            assert err.value.final_states == ACCOUNTS and err.value.pending == 1
            del executor.pool.START_TIMEOUT
            after = executor.execute(Batch(ACCOUNTS, BATCH[:1]))
            assert after.final_states == {"a": 90, "b": 10, "c": 5}
    finally:
        for writer in open_ends:
            writer.close()


def test_run_with_a_stopped_process_worker_times_out(monkeypatch):
    stopped: list[psutil.Process] = []

    class StopsAWorker(ParallelExecutor):
        def execute(self, batch, graph=None):
            victim = psutil.Process(self.pool.pids()[0])
            victim.suspend()  # SIGSTOP: the worker neither runs nor dies
            stopped.append(victim)
            return super().execute(batch, graph)

    monkeypatch.setattr(run_cli, "ParallelExecutor", StopsAWorker)
    try:
        result = CliRunner().invoke(main, ["run", "docs/examples/transfers.json",
                                               "--backend", "process", "--workers", "2",
                                               "--timeout", "2"])
    finally:
        for victim in stopped:
            with contextlib.suppress(psutil.NoSuchProcess):
                victim.resume()
                victim.kill()
                victim.wait(10)
    assert len(stopped) == 1
    assert result.exit_code == 1, result.output
    assert "exceeded its 2 s timeout" in result.output and "rolled back" in result.output


LONG_RUNS = {
    "verify": ["verify", "--budget", "120", "--jobs", "2"],
    "bench": ["bench", "--quick", "--workloads", "cpu-1ms,hash"],
}


def _start_in_own_group(args: list[str], tmp_path: Path, least: int = 4
                        ) -> tuple[subprocess.Popen, list]:
    """Start ``aethel ARGS --report TMP`` as the leader of a new process group, as a terminal
    starts a command; return it and its descendants once at least ``least`` are up."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", *args, "--report", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    parent = psutil.Process(proc.pid)
    deadline = time.monotonic() + 60
    while len(parent.children(recursive=True)) < least and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2.0)
    descendants = parent.children(recursive=True)
    assert len(descendants) >= least, "the run should have started its workers"
    assert proc.poll() is None, "the run should still be going"
    return proc, descendants


@pytest.mark.kills_processes
@pytest.mark.parametrize("command", sorted(LONG_RUNS))
@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_a_long_run_with_a_partial_report(tmp_path, command, signum, code):
    proc, descendants = _start_in_own_group(LONG_RUNS[command], tmp_path, least=3)
    proc.send_signal(signum)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == code, output
    assert "partial report written" in output
    assert "leaked" not in output and "resource_tracker" not in output, output
    summary = next(tmp_path.glob("*/*.json")).read_text()
    assert '"complete": false' in summary
    gone, alive = psutil.wait_procs(descendants, timeout=5)
    assert not alive, f"left alive: {alive}"


COORDINATOR = """
import os, signal
from aethel.executor import ParallelExecutor
if __name__ == "__main__":
    executor = ParallelExecutor("process", 2)
    print(" ".join(map(str, executor.pool.pids())), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.kills_processes
def test_workers_do_not_outlive_a_killed_coordinator(tmp_path):
    script = tmp_path / "coordinator.py"
    script.write_text(COORDINATOR)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == -signal.SIGKILL
    workers = [int(pid) for pid in done.stdout.split()]
    assert len(workers) == 2
    deadline = time.monotonic() + 10
    while any(psutil.pid_exists(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(psutil.pid_exists(pid) for pid in workers)


FORKING_COORDINATOR = """
import os, signal, time
from aethel.executor import ParallelExecutor
if __name__ == "__main__":
    executor = ParallelExecutor("process", 2)
    executor.pool.ready()
    fork = os.fork()
    if fork == 0:  # a child that outlives the coordinator, holding its descriptors
        quiet = os.open(os.devnull, os.O_WRONLY)
        os.dup2(quiet, 1)  # but not the test's output pipes
        os.dup2(quiet, 2)
        time.sleep(60)
        os._exit(0)
    print(fork, *executor.pool.pids(), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.kills_processes
def test_workers_do_not_outlive_a_killed_coordinator_whose_fork_lives_on(tmp_path):
    """A process forked from the coordinator holds its end of every task pipe; the workers
    must still see the coordinator die (within a second; the bound is wide for load)."""
    script = tmp_path / "coordinator.py"
    script.write_text(FORKING_COORDINATOR)
    with open(tmp_path / "out", "w") as out:  # the fork and the fork server keep pipes open
        done = subprocess.run([sys.executable, str(script)], stdout=out,
                              stderr=subprocess.STDOUT, timeout=60)
    fork, *workers = [psutil.Process(int(pid)) for pid in (tmp_path / "out").read_text().split()]
    try:
        assert done.returncode == -signal.SIGKILL
        _, alive = psutil.wait_procs(workers, timeout=20)
        assert not alive, f"workers left alive: {alive}"
    finally:
        fork.kill()


@pytest.mark.parametrize("command", sorted(LONG_RUNS))
@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_to_the_process_group_stops_a_long_run_cleanly(tmp_path, command, signum,
                                                                  code):
    """What a terminal's Ctrl-C or a CI runner's SIGTERM does: every process of the group gets
    the signal. Jobs and engine workers leave the decision to the coordinator, which writes a
    partial report; nothing is left alive, no traceback and no leaked semaphore is printed
    (the ``no_leftovers`` fixture checks /dev/shm too)."""
    proc, descendants = _start_in_own_group(LONG_RUNS[command], tmp_path)
    os.killpg(proc.pid, signum)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == code, output
    assert "partial report written" in output
    assert "Traceback" not in output and "leaked" not in output, output
    assert "resource_tracker" not in output, output
    summary = next(tmp_path.glob("*/*.json")).read_text()
    assert '"complete": false' in summary
    assert "VIOLATION" not in output, "a signal must never show as a violation"
    _, alive = psutil.wait_procs(descendants, timeout=10)
    assert not alive, f"left alive: {alive}"


@pytest.mark.kills_processes
def test_a_killed_coordinator_leaves_no_job_or_worker_behind(tmp_path):
    """SIGKILL cannot be caught: the campaign's job processes watch their coordinator (and
    engine workers theirs), so every descendant exits by itself (within 2 s on a quiet
    machine; the bound here is wide for a loaded one)."""
    args = ["verify", "--budget", "120", "--jobs", "2", "--backends", "process"]
    proc, descendants = _start_in_own_group(args, tmp_path)
    proc.kill()
    proc.communicate(timeout=60)
    _, alive = psutil.wait_procs(descendants, timeout=20)
    assert not alive, f"left alive: {[p.pid for p in alive]}"


@pytest.mark.kills_processes
def test_a_lost_job_process_ends_verify_with_exit_3_and_a_partial_report(tmp_path):
    proc, descendants = _start_in_own_group(["verify", "--budget", "120", "--jobs", "2"],
                                            tmp_path)
    job = next(p for p in psutil.Process(proc.pid).children()
               if not _is_resource_tracker(p))
    job.kill()
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 3, output
    assert "a job process died" in output and "partial report written" in output
    assert '"complete": false' in next(tmp_path.glob("*/summary.json")).read_text()
    _, alive = psutil.wait_procs(descendants, timeout=20)
    assert not alive, f"left alive: {alive}"


SLOW_CHAIN = {"accounts": {"a": 100, "b": 0}, "transactions": [
    {"id": f"t{i}", "ops": [{"op": "transfer", "from": "a", "to": "b", "amount": 1},
                            {"op": "sleep", "ms": 300}]} for i in range(40)]}


@pytest.mark.parametrize("backend", ["serial", "thread", "process"])
def test_interrupt_rolls_a_running_batch_back(backend):
    """interrupt() (what ``aethel run`` calls on SIGINT/SIGTERM) stops the batch: every
    effect of the transactions that committed is undone."""
    from aethel.batchfile import batch_from_json
    from aethel.errors import ExecutionInterrupted

    batch = batch_from_json(SLOW_CHAIN)
    with ParallelExecutor(backend, 1 if backend == "serial" else 2) as executor:
        committed = threading.Event()

        def interrupt_after_two_commits():
            while executor._running is None or sum(
                    e.kind == "COMMIT" for e in executor._running.recorder.events()) < 2:
                time.sleep(0.01)
            committed.set()
            executor.interrupt()

        threading.Thread(target=interrupt_after_two_commits, daemon=True).start()
        with pytest.raises(ExecutionInterrupted) as caught:
            executor.execute(batch)
    assert committed.is_set()
    assert caught.value.final_states == {"a": 100, "b": 0}
    assert caught.value.completed >= 2 and caught.value.pending > 0
    assert "rolled back" in str(caught.value)


def _handles(pid: int, signum: int) -> bool:
    """Whether process ``pid`` has a handler installed for ``signum`` (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    return False


@pytest.mark.parametrize("backend, signum, code", [("serial", signal.SIGINT, 130),
                                                   ("thread", signal.SIGTERM, 143),
                                                   ("process", signal.SIGINT, 130)])
def test_a_signal_stops_aethel_run_rolled_back(tmp_path, backend, signum, code):
    batch = tmp_path / "b.json"
    batch.write_text(json.dumps(SLOW_CHAIN))
    out, trace = tmp_path / "out.json", tmp_path / "trace.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "run", str(batch), "--backend", backend,
         "--out", str(out), "--trace", str(trace)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    deadline = time.monotonic() + 60
    while not _handles(proc.pid, signal.SIGTERM) and time.monotonic() < deadline:
        time.sleep(0.05)  # SIGTERM is handled only while the batch runs
    time.sleep(1.0)
    os.killpg(proc.pid, signum)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == code, output
    assert f"stopped by signal {signal.Signals(signum).name}: batch interrupted" in output
    assert "rolled back" in output and "Traceback" not in output
    assert not out.exists(), "a stopped batch has no final balances to write"
    header = json.loads(trace.read_text().splitlines()[0])
    assert header["format"] == "aethel-trace", "the trace so far is written"


LINGERING = """
import multiprocessing, threading
from harness import cli
KEEP = []
def main():
    KEEP.append(multiprocessing.get_context("spawn").Queue())
    threading.Thread(target=threading.Event().wait, daemon=False).start()
cli.main = main
cli.THREADS_EXIT_GRACE = 0.1
cli.entry()
"""


def test_an_exit_past_a_lingering_thread_still_unlinks_the_semaphores(tmp_path):
    """When a non-daemon thread outlives the grace, ``entry`` exits without waiting for it;
    the semaphores of the process (a process pool's queues) are unlinked all the same, so
    the resource tracker has nothing to warn about."""
    script = tmp_path / "lingering.py"
    script.write_text(LINGERING)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=60)
    script.unlink()
    assert done.returncode == 0, done.stderr
    assert "leaked" not in done.stderr and "Traceback" not in done.stderr, done.stderr
