"""Campaign progress: tallies that count each example (from an in-process pool and from job
processes), the lines ``aethel verify`` prints in CI mode, and signals that end a campaign
without a resource-tracker warning.

Nothing here bounds wall-clock time beyond generous deadlines: where an order of events
matters, the executor under test waits for a gate the test opens once it has seen what it
waits for.
"""

from __future__ import annotations

import io
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import psutil
import pytest
from rich.console import Console

from aethel.executor import ParallelExecutor
from harness.campaign import CampaignConfig, close_executors, run_campaign, runner
from harness.campaign.config import SHARD_SIZE
from harness.campaign.runner import CHECKING, DONE, SHRINKING, STARTING, Tally
from harness.cli.progress import ci_mode, progress_display
from harness.cli.verify import PROGRESS_EVERY, CampaignWatch

ROOT = Path(__file__).resolve().parent.parent
GATE, GATE_AT = "AETHEL_TEST_GATE", "AETHEL_TEST_GATE_AT"
GATED = "tests.test_progress:GatedExecutor"
DEADLINE = 300.0
"""Seconds any wait here may take (a bound for a broken test, never reached by a working one
however loaded the machine)."""
_EXECUTIONS: Counter[str] = Counter()


class GatedExecutor(ParallelExecutor):
    """The engine's executor, whose execution number ``$AETHEL_TEST_GATE_AT`` (counted per
    process) waits until the file ``$AETHEL_TEST_GATE`` exists."""

    def execute(self, *args, **kwargs):
        gate = os.environ.get(GATE)
        if gate is not None:
            _EXECUTIONS[gate] += 1
            if _EXECUTIONS[gate] == int(os.environ.get(GATE_AT, "1")):
                _wait_for(Path(gate).exists)
        return super().execute(*args, **kwargs)


def _wait_for(condition) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


@pytest.fixture(autouse=True)
def _close_cached_executors():
    yield
    close_executors()


def _gated_campaign(pool_of, tmp_path, monkeypatch) -> tuple[list[Tally], int]:
    """A two-shard campaign on the pool ``pool_of()`` whose third execution waits until a
    tally counts examples of the first shard before it ends; the tallies and the examples
    the campaign counted."""
    gate = tmp_path / "gate"
    monkeypatch.setenv(GATE, str(gate))
    monkeypatch.setenv(GATE_AT, "3")
    tallies: list[Tally] = []

    def on_tally(tally: Tally) -> None:
        tallies.append(tally)
        if tally.shards == 0 and tally.examples >= 2:
            gate.touch()

    config = CampaignConfig(executor=GATED, backends=("thread",), examples=2 * SHARD_SIZE,
                            jobs=1, example_timeout=DEADLINE)
    with pool_of() as pool:
        result = run_campaign(config, pool, on_tally=on_tally)
    assert result.ok and result.complete
    return tallies, result.examples


@pytest.mark.parametrize("pool_of", [
    lambda: ThreadPoolExecutor(1),
    lambda: ProcessPoolExecutor(1, mp_context=get_context("spawn")),
], ids=["in-process", "process-pool"])
def test_tallies_count_each_example_as_it_finishes(tmp_path, monkeypatch, pool_of):
    tallies, examples = _gated_campaign(pool_of, tmp_path, monkeypatch)
    assert any(t.shards == 0 and 2 <= t.examples < SHARD_SIZE for t in tallies), \
        "a tally must count examples of a shard still running"
    counts = [t.examples for t in tallies]
    assert counts == sorted(counts), "a passing campaign's count never goes back"
    assert tallies[0].phase == STARTING and tallies[-1].phase == DONE
    assert {t.phase for t in tallies} == {STARTING, CHECKING, DONE}
    last = tallies[-1]
    assert (last.examples, last.shards, last.failures, last.complete) == (examples, 2, 0, True)
    assert examples == 2 * SHARD_SIZE


def test_reports_no_running_shard_could_make_are_ignored(monkeypatch):
    """Any local process can write to the campaign's socket: a count beyond a shard's size,
    a shard not running and a datagram of another shape move nothing."""
    made: list[runner.ExampleCounts] = []

    class Watched(runner.ExampleCounts):
        def __init__(self) -> None:
            super().__init__()
            made.append(self)

    monkeypatch.setattr(runner, "ExampleCounts", Watched)
    tallies: list[Tally] = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as stranger:

        def on_tally(tally: Tally) -> None:
            if not tallies:
                for datagram in (runner._REPORT.pack(0, 10**6), runner._REPORT.pack(99, 1),
                                 b"not a report"):
                    stranger.sendto(datagram, made[0].address)
            tallies.append(tally)

        with ThreadPoolExecutor(1) as pool:
            result = run_campaign(CampaignConfig(backends=("thread",), examples=4, jobs=1),
                                  pool, on_tally=on_tally)
    assert result.ok and result.examples == 4
    assert max(t.examples for t in tallies) == 4


def test_a_campaign_nobody_watches_opens_no_socket(monkeypatch):
    def refused() -> None:
        raise AssertionError("a socket was opened")

    monkeypatch.setattr(runner, "ExampleCounts", refused)
    config = CampaignConfig(backends=("thread",), examples=4, jobs=1)
    with ThreadPoolExecutor(1) as pool:
        assert run_campaign(config, pool).examples == 4


def test_ci_mode_is_a_non_interactive_console_or_the_ci_variable(monkeypatch):
    terminal = Console(file=io.StringIO(), force_terminal=True, force_interactive=True)
    for value, expected in (("", False), ("0", False), ("false", False), ("true", True),
                            ("1", True)):
        monkeypatch.setenv("CI", value)
        assert ci_mode(terminal) is expected, value
    monkeypatch.delenv("CI")
    assert not ci_mode(terminal)
    assert ci_mode(Console(file=io.StringIO()))


COUNTS = re.compile(r"(?P<examples>\d+)/(?P<total>\d+) examples, (?P<failures>\d+) failures?, "
                    r"(?:(?P<shards>\d+) shards?, )?(?P<jobs>\d+) jobs?\b")
"""The totals on a CI-mode progress line (shards on the last one only)."""


def _watch(total: int | None, budget: float | None, tallies: list[Tally], jobs: int = 2
           ) -> list[str]:
    """The CI-mode lines a :class:`CampaignWatch` prints for ``tallies``."""
    out = io.StringIO()
    console = Console(file=out, width=200)
    config = CampaignConfig(examples=total, budget=budget)
    with progress_display(console, "starting", total or budget) as display:
        watch = CampaignWatch(display, config, jobs)
        for tally in tallies:
            watch.tally(tally)
        watch.close()
    return out.getvalue().splitlines()


def test_ci_progress_lines_come_at_a_bounded_rate_with_totals():
    total, seconds = 1500, 600
    tallies = [Tally(STARTING, 0, 0, 0, 0.0)]
    tallies += [Tally(CHECKING, total * step // (5 * seconds), 0, 0, step / 5)
                for step in range(1, 5 * seconds + 1)]
    tallies.append(Tally(DONE, total, 0, total // SHARD_SIZE, float(seconds)))
    lines = _watch(total, None, tallies)
    counted = [line for line in lines if COUNTS.search(line)]
    assert len(counted) <= seconds / PROGRESS_EVERY + 10 + 1
    assert all(COUNTS.search(line)["total"] == str(total) for line in counted)
    assert [line for line in lines if "generating and checking" in line] == [
        lines[1]], "one line per phase"
    assert "starting 2 jobs" in lines[0]
    assert lines[-1].endswith(f"done: {total}/{total} examples, 0 failures, 75 shards, "
                              f"2 jobs in {seconds:.1f} s")


def test_ci_lines_speak_of_one_job_one_shard_and_one_failure():
    tallies = [Tally(STARTING, 0, 0, 0, 0.0), Tally(CHECKING, 3, 0, 0, 1.0),
               Tally(CHECKING, 4, 1, 1, 1.5),
               Tally(SHRINKING, 4, 1, 1, 1.6, "the failure of shard 0 (3 transactions)"),
               Tally(DONE, 4, 1, 1, 9.0)]
    lines = _watch(SHARD_SIZE, None, tallies, jobs=1)
    text = "\n".join(lines)
    assert "1 jobs" not in text and "1 shards" not in text and "1 failures" not in text
    assert any(line.endswith("4/20 examples, 1 failure, 1 job, 2.0 examples/s")
               for line in lines), "the first failure is told at once, without a time left"
    assert any(line.endswith("shrinking the failure of shard 0 (3 transactions)")
               for line in lines)
    assert lines[-1].endswith("done: 4/20 examples, 1 failure, 1 shard, 1 job in 9.0 s")


def test_ci_lines_under_a_budget_count_examples_and_seconds():
    tallies = [Tally(STARTING, 0, 0, 0, 0.0), Tally(CHECKING, 0, 0, 0, 0.5),
               Tally(CHECKING, 50, 0, 2, 6.0), Tally(DONE, 60, 0, 3, 10.0, complete=False)]
    lines = _watch(None, 10.0, tallies)
    assert "generating and checking examples for 10 s, in shards of 20" in lines[1]
    assert any(line.endswith("50 examples, 0 failures, 2 jobs, 9.1 examples/s, about 4 s "
                             "left") for line in lines)
    assert lines[-1].endswith("stopped: 60 examples, 0 failures, 3 shards, 2 jobs in 10.0 s")


class _Lines:
    """The stderr lines of a running command, read by a thread of their own."""

    def __init__(self, stream) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, pattern: str) -> str:
        """The first line from now on that matches ``pattern`` (fails at the end of the
        output or after :data:`DEADLINE` seconds)."""
        deadline = time.monotonic() + DEADLINE
        while True:
            line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            assert line is not None, f"no line matched {pattern!r}: {self.seen}"
            self.seen.append(line)
            if re.search(pattern, line):
                return line

    def rest(self) -> list[str]:
        """Every line, once the command has ended."""
        while (line := self._queue.get(timeout=DEADLINE)) is not None:
            self.seen.append(line)
        return self.seen


def _verify(tmp_path: Path, *args: str, env: dict[str, str] | None = None
            ) -> tuple[subprocess.Popen, _Lines]:
    """``aethel verify ARGS`` in CI mode, leading a process group of its own (as a terminal
    or a CI runner starts a command)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "verify", *args, "--report", str(tmp_path)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
        env={**os.environ, "CI": "true",
             "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "docs" / "examples")]),
             **(env or {})})
    return proc, _Lines(proc.stderr)


def _summary(tmp_path: Path) -> dict:
    return json.loads(next(tmp_path.glob("*/summary.json")).read_text())


def _finish(proc: subprocess.Popen, lines: _Lines) -> tuple[str, list[str]]:
    """What the command printed on stdout, and its progress lines, once it has ended."""
    out = proc.stdout.read()
    rest = lines.rest()
    proc.wait(timeout=DEADLINE)
    return out, [line for line in rest if line.startswith("verify")]


def test_ci_mode_starts_at_once_and_ends_with_the_summary_counts(tmp_path):
    gate = tmp_path / "gate"
    proc, lines = _verify(tmp_path, "--executor", GATED, "--backends", "thread",
                          "--examples", str(SHARD_SIZE), "--jobs", "2",
                          "--example-timeout", str(DEADLINE),
                          env={GATE: str(gate), GATE_AT: "1"})
    try:
        first = lines.wait_for(".")
        lines.wait_for("generating and checking")  # a job runs the shard's first example
        before = list(lines.seen)
    finally:
        gate.touch()
    out, seen = _finish(proc, lines)
    assert proc.returncode == 0, (out, seen)
    assert first == (f"verify: seed 0, profile quick, {SHARD_SIZE} examples, 1 job, backends "
                     f"thread, executor {GATED}"), "the start line comes at once, first"
    assert not any(int(m["examples"]) for m in map(COUNTS.search, before) if m), before
    phases = ["starting 1 job", f"generating and checking {SHARD_SIZE} examples in 1 shard "
              "of 20", "stopping 1 job", "writing reports"]
    found = [next(i for i, line in enumerate(seen) if line.endswith(p)) for p in phases]
    assert found == sorted(found), seen
    counted = [COUNTS.search(line) for line in seen[1:] if "examples, " in line]
    assert len(counted) >= 2 and all(counted), "every progress line has the totals"
    summary = _summary(tmp_path)
    assert seen[-1].endswith(f"done: {summary['examples']}/{SHARD_SIZE} examples, 0 failures, "
                             f"{summary['shards']} shard, 1 job in {summary['seconds']:.1f} s")
    assert summary["examples"] == SHARD_SIZE and summary["shards"] == 1
    text = "\n".join(seen)
    assert "1 jobs" not in text and "1 shards" not in text


def test_ci_mode_after_a_violation_ends_with_the_counts_of_the_report(tmp_path):
    proc, lines = _verify(tmp_path, "--executor", "tests.broken_executors:OneWave",
                          "--backends", "thread", "--examples", "200", "--jobs", "2")
    out, seen = _finish(proc, lines)
    assert proc.returncode == 1, (out, seen)
    summary = _summary(tmp_path)
    assert not summary["ok"]
    assert any(re.search(r"shrinking the failure of shard \d+ \(\d+ transactions?\)$", line)
               for line in seen), seen
    last = COUNTS.search(seen[-1])
    assert last and "done: " in seen[-1], seen
    assert int(last["examples"]) == summary["examples"] and last["failures"] == "1"
    assert int(last["shards"]) == summary["shards"] and last["jobs"] == "2"
    shards = summary["shards"]
    assert f", {shards} shard{'s' if shards != 1 else ''}, 2 jobs in " in seen[-1]


@pytest.mark.kills_processes
@pytest.mark.parametrize("when, args", [
    ("checking", ["--budget", "120", "--backends", "thread,process"]),
    ("shrinking", ["--executor", "tests.broken_executors:OneWave", "--examples", "200",
                   "--backends", "thread,process"]),
])
@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_to_the_group_leaves_no_resource_tracker_warning(tmp_path, when, args,
                                                                   signum, code):
    """Ctrl-C (or a CI runner's SIGTERM) reaches every process of the group while examples
    are checked, or while the coordinator shrinks a failure on executors of its own."""
    proc, lines = _verify(tmp_path, "--jobs", "2", *args)
    pattern = r"[1-9]\d*/?\d* examples, " if when == "checking" else r"shrinking the failure"
    try:
        lines.wait_for(pattern)
        descendants = psutil.Process(proc.pid).children(recursive=True)
        os.killpg(proc.pid, signum)
    except BaseException:
        proc.kill()
        raise
    out, seen = _finish(proc, lines)
    errors = "\n".join(lines.seen)
    assert proc.returncode == code, (out, errors)
    assert "partial report written" in errors
    assert not re.search(r"leaked|resource_tracker|Traceback", errors + out), errors
    assert "stopped: " in seen[-1], seen
    assert not _summary(tmp_path)["complete"]
    _, alive = psutil.wait_procs(descendants, timeout=DEADLINE)
    assert not alive, f"left alive: {alive}"
