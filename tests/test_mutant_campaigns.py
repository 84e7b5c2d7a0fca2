"""Mutant campaigns: ``aethel verify --executor harness.mutants:NAME`` catches every mutant
at the default budget, whatever ``--jobs`` is, exits 1 and shrinks the counterexample to the
minimal size for its bug class."""

from __future__ import annotations

import json
import re
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import pytest
from click.testing import CliRunner

from harness.campaign import CampaignConfig, run_campaign, runner
from harness.campaign.shrink import counterexample_doc
from harness.cli import main

pytestmark = pytest.mark.slow  # whole campaigns per mutant: minutes, run by `tox -e slow`

MINIMAL = {
    "IgnoresDependencies": 2,      # two conflicting transactions run concurrently
    "WholeStateMerge": 2,          # two independent transactions, one merge reverts the other
    "StaleSnapshot": 2,            # a dependant started before its predecessor installed
    "NonAtomicRollback": 2,        # one commit, one failure: the rollback forgets a write
    "CompletionOrderInstalls": 2,  # two blind writes installed in the wrong order
    "DirtyRead": 2,                # a failing writer and a reader of its write
    "UndeclaredAccess": 1,         # one transaction touching an undeclared account
    "TornInstall": 1,              # one transfer installed in part
    "TimeoutKeepsWrites": 2,       # the slow transaction and one committed write
    "OwnWriteNotSeen": 1,          # one transaction reading an account it wrote
    "SaturatingOverflow": 1,       # one credit beyond 2^63-1
    "OffByOneFunds": 1,            # one debit of exactly the balance
    "WrongReadVersion": 2,         # a write and a read of the version it installed
    "SkewedClock": 1,              # any transaction: its events are on two clocks
    "IgnoresForwardAfter": 2,      # a transaction and the later one it runs after
}


def verify(tmp_path, mutant: str, *extra: str):
    result = CliRunner().invoke(main, [
        "verify", "--executor", f"harness.mutants:{mutant}", "--backends", "thread",
        "--jobs", "2", "--report", str(tmp_path), *extra])
    saved = re.search(r"saved (\S+counterexample\.json)", result.output)
    return result, json.loads(open(saved.group(1)).read()) if saved else None


JOBS = (1, 2, 16)


@pytest.fixture(scope="module")
def pools():
    """Spawned process pools of 1, 2 and 16 processes (a pool starts a process per shard in
    flight, so at most one per shard of the default budget is ever started)."""
    made = {jobs: ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) for jobs in JOBS}
    yield made
    for pool in made.values():
        pool.shutdown(cancel_futures=True)


RACES = ("UnsynchronisedTrace",)
"""Mutants with no minimal size (a lost event needs a wide batch), caught by race shards."""


@pytest.mark.parametrize("mutant", sorted((*MINIMAL, *RACES)))
def test_mutant_is_caught_at_the_default_budget_whatever_the_jobs(pools, monkeypatch, mutant):
    # shrinking runs locally and does not depend on the jobs; it is tested below
    monkeypatch.setattr(runner, "shrink", lambda config, shard, *_: counterexample_doc(
        config, shard.index, shard.failure, shard.failure, 0.0, "not shrunk"))
    # (which example shows a bug can depend on thread timing, so only the catch is compared;
    # every mutant shows on the thread backend, so the process backend is not run here)
    for jobs, pool in pools.items():
        config = CampaignConfig(executor=f"harness.mutants:{mutant}", backends=("thread",),
                                jobs=jobs)
        result = run_campaign(config, pool)
        assert not result.ok, f"{mutant} not caught with --jobs {jobs}"
        assert result.counterexample["failed_properties"] or result.counterexample["error"]


@pytest.mark.parametrize("mutant, size", sorted(MINIMAL.items()))
def test_mutant_is_caught_and_shrunk_to_its_minimal_size(tmp_path, mutant, size):
    result, counterexample = verify(tmp_path, mutant)
    assert result.exit_code == 1, result.output
    assert counterexample is not None
    assert counterexample["transactions"] <= size, counterexample["batch"]
    assert counterexample["failed_properties"]


def test_hot_account_lost_update_is_caught_by_a_long_campaign(tmp_path):
    # The update is lost only if a worker is switched out between handing back a write of a
    # hot account and caching it while the next transaction on that account is dispatched:
    # campaigns of seeds 0-4 needed 296 to 1133 examples (median 609); at one example in
    # 700, 5000 examples miss it with probability below 1e-3.
    result, counterexample = verify(tmp_path, "HotAccountLostUpdate", "--examples", "5000")
    assert result.exit_code == 1, result.output
    # the dispatched transaction read the previous writer's version: a stale read, and a
    # lost update if it wrote the account
    assert "isolation" in counterexample["failed_properties"]
