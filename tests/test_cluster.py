"""Campaigns on Dask distributed: same results as a local run, no lost or duplicated shards
when a worker dies, violations caught and shrunk; clear errors without the extra.

Every cluster here is a LocalCluster on 127.0.0.1.
"""

from __future__ import annotations

import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import psutil
import pytest
from click.testing import CliRunner

from aethel.errors import InputError
from harness.campaign import CampaignConfig, run_campaign
from harness.campaign.cluster import local_cluster, open_cluster, parse_cluster
from harness.cli import main

EXAMPLES = 48


def config(**overrides) -> CampaignConfig:
    return CampaignConfig(**{"backends": ("thread", "process"), "examples": EXAMPLES,
                             "jobs": 2, "seed": 3, **overrides})


@pytest.fixture(scope="module")
def local_result():
    """The campaign on a local pool of one process: a cluster of two must run the same
    batches."""
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        return run_campaign(config(jobs=1), pool)


def test_cluster_campaign_matches_a_local_run(local_result):
    with open_cluster("local:2") as (executor, info):
        result = run_campaign(config(), executor)
    assert info.workers == 2 and info.address.startswith("tcp://127.0.0.1:")
    assert result.ok and local_result.ok
    assert result.examples == local_result.examples == EXAMPLES
    assert result.digest == local_result.digest
    assert result.property_rows() == local_result.property_rows()


def test_a_lost_worker_loses_and_duplicates_nothing(local_result):
    with local_cluster(2) as client:
        victim = next(iter(client.run(os.getpid).values()))
        killed: list[bool] = []
        after_kill: list[int] = []

        def kill_once(result, shard) -> None:
            if not killed:
                os.kill(victim, signal.SIGKILL)
                killed.append(True)
            else:
                after_kill.append(shard.index)

        with client.get_executor(pure=False) as executor:
            result = run_campaign(config(), executor, progress=kill_once)
    assert after_kill, "the worker must die while shards are still running"
    assert not psutil.pid_exists(victim) or \
        psutil.Process(victim).status() == psutil.STATUS_ZOMBIE
    assert result.examples == EXAMPLES and result.shards == local_result.shards
    assert result.digest == local_result.digest
    assert result.property_rows() == local_result.property_rows()


def test_cluster_catches_and_shrinks_a_violation(tmp_path, monkeypatch):
    examples = os.path.join(os.getcwd(), "docs", "examples")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([os.getcwd(), examples]))
    monkeypatch.syspath_prepend(examples)
    result = CliRunner().invoke(main, [
        "verify", "--cluster", "local:2", "--executor", "tests.broken_executors:OneWave",
        "--backends", "thread", "--examples", "60", "--report", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert "Falsifying example: 2 transactions" in result.output
    summary = next(tmp_path.glob("*/summary.json")).read_text()
    assert '"address": "tcp://127.0.0.1:' in summary and '"workers": 2' in summary


@pytest.mark.parametrize("spec", ["local:0", "local:x", "udp://x", "tcp://"])
def test_bad_cluster_specs_are_input_errors(spec):
    with pytest.raises(InputError, match="--cluster"):
        parse_cluster(spec)


def test_missing_extra_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    result = CliRunner().invoke(main, ["verify", "--cluster", "local:2", "--examples", "2"])
    assert result.exit_code == 2
    assert "pip install -e '.[dask]'" in result.output and "Traceback" not in result.output
