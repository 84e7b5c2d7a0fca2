"""Nothing the executor under test does can pass the gate by accident, hang a campaign or
outlive it: hangs and crashes are failed examples, executors are closed, every process the
campaign started is gone when it exits.

The commands run as subprocesses, as a CI job runs them; every bound on time here is many
times what the behaviour needs, so that load on the machine cannot break it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psutil
import pytest

from aethel.batchfile import batch_to_json
from aethel.model import Batch, Transaction
from aethel.operations import Transfer
from harness.campaign import CampaignConfig, check_example, close_executors
from tests.hostile_executors import MARKER

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = "tests.hostile_executors"


def aethel(*args: str, timeout: float = 240, env: dict[str, str] | None = None
           ) -> tuple[subprocess.CompletedProcess, float, list[psutil.Process]]:
    """Run the CLI; return what it did, how long it took and its descendants still alive."""
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)
    seen: set[psutil.Process] = set()
    parent = psutil.Process(proc.pid)
    while proc.poll() is None and time.monotonic() - started < timeout:
        try:
            seen.update(parent.children(recursive=True))
        except psutil.NoSuchProcess:
            break
        time.sleep(0.2)
    output, _ = proc.communicate(timeout=max(1.0, timeout - (time.monotonic() - started)))
    elapsed = time.monotonic() - started
    _, alive = psutil.wait_procs(list(seen), timeout=5)
    return (subprocess.CompletedProcess(proc.args, proc.returncode, output), elapsed,
            alive)


def test_a_never_returning_executor_is_reported_hung_within_the_budget(tmp_path):
    done, elapsed, alive = aethel("verify", "--executor", f"{HOSTILE}:NeverReturns",
                                  "--backends", "thread", "--jobs", "2", "--budget", "5",
                                  "--report", str(tmp_path))
    assert done.returncode == 1, done.stdout
    assert "hung" in done.stdout and "NeverReturns" in done.stdout
    assert elapsed < 5 + 60, "the budget must bound the campaign"
    assert not alive, f"left alive: {alive}"
    ce = json.loads(next(tmp_path.glob("*/counterexample.json")).read_text())
    assert ce["kind"] == "hung" and "did not return within 2.5 s" in ce["error"]


def test_a_hung_example_is_reported_without_a_budget(tmp_path):
    done, _, alive = aethel("verify", "--executor", f"{HOSTILE}:NeverReturns",
                            "--backends", "thread,process", "--jobs", "1",
                            "--example-timeout", "2", "--report", str(tmp_path))
    assert done.returncode == 1, done.stdout
    assert "did not return within 2 s" in done.stdout
    assert not alive, f"left alive: {alive}"


@pytest.mark.parametrize("name, shown", [
    ("RaisesSystemExit", "SystemExit: 0"),
    ("RaisesKeyboardInterrupt", "KeyboardInterrupt"),
    ("RaisesGeneratorExit", "GeneratorExit"),
    ("RaisesUnprintable", "_Unprintable: <unprintable>"),
])
def test_whatever_an_executor_raises_fails_the_example(name, shown):
    config = CampaignConfig(executor=f"{HOSTILE}:{name}", backends=("thread",))
    batch = Batch({"a": 5, "b": 0}, (Transaction("t1", (Transfer("a", "b", 2),)),))
    try:
        checked, failure = check_example(config, batch)
    finally:
        close_executors()
    assert not checked and failure is not None
    assert failure.kind == "crashed" and shown in failure.error and name in failure.error


def test_a_crashing_executor_fails_the_gate_with_exit_1(tmp_path):
    done, _, _ = aethel("verify", "--executor", f"{HOSTILE}:RaisesSystemExit",
                        "--backends", "thread", "--jobs", "1", "--examples", "5",
                        "--report", str(tmp_path), "--junit", str(tmp_path / "junit.xml"))
    assert done.returncode == 1, done.stdout
    assert "raised SystemExit: 0" in done.stdout
    assert '<testcase classname="aethel.verify" name="executor returns"><failure' in \
        (tmp_path / "junit.xml").read_text()


def test_executors_made_by_a_campaign_are_closed(tmp_path):
    marker = tmp_path / "closed.txt"
    env = {**os.environ, MARKER: str(marker)}
    done, _, alive = aethel("verify", "--executor", f"{HOSTILE}:OwnsProcessPool",
                            "--backends", "thread,process", "--jobs", "2", "--examples", "40",
                            "--report", str(tmp_path), env=env)
    assert done.returncode == 0, done.stdout
    assert not alive, f"left alive: {alive}"
    closed = marker.read_text().splitlines()
    # two backends in the coordinator's check of the factory and in each of two job processes
    assert sorted(Counter(closed).values()) == [2, 2, 2], closed


def test_a_campaign_exits_although_an_executor_leaves_threads_behind(tmp_path):
    done, _, alive = aethel("verify", "--executor", f"{HOSTILE}:LeavesThread",
                            "--backends", "thread", "--jobs", "2", "--examples", "40",
                            "--report", str(tmp_path))
    assert done.returncode == 0, done.stdout
    assert not alive, f"left alive: {alive}"


def replay(tmp_path: Path, executor: str, *extra: str):
    """``aethel replay`` of a one-transfer counterexample on ``executor``."""
    path = _counterexample(tmp_path, executor)
    return aethel("replay", str(path), "--executor", f"{HOSTILE}:{executor}", *extra)


def test_replay_exits_although_the_executor_leaves_threads_behind(tmp_path):
    done, _, _ = replay(tmp_path, "LeavesThread", "--repeat", "1")
    assert done.returncode == 0, done.stdout
    assert "did not reproduce" in done.stdout


def test_replay_of_a_hanging_executor_is_bounded(tmp_path):
    done, _, alive = replay(tmp_path, "NeverReturns", "--timeout", "2")
    assert done.returncode == 1, done.stdout
    assert "did not return within 2 s" in done.stdout
    assert not alive


def test_replay_states_its_default_timeout():
    done, _, _ = aethel("replay", "--help")
    assert "--timeout" in done.stdout and "30" in done.stdout


def _counterexample(tmp_path: Path, executor: str) -> Path:
    batch = Batch({"a": 5, "b": 0}, (Transaction("t1", (Transfer("a", "b", 2),)),))
    path = tmp_path / "counterexample.json"
    path.write_text(json.dumps({"format": "aethel-counterexample", "version": 1,
                                "executor": f"{HOSTILE}:{executor}", "backend": "thread",
                                "workers": 1, "batch": batch_to_json(batch)}))
    return path
