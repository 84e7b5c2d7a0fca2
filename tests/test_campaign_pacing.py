"""What keeps a campaign's cores busy without changing what it checks: the order its shards
are handed to the jobs (a cheap tail), and a serial oracle that does not wait out the
sleep of a timeout example's slow transaction.

No test here asserts a bound on time: they look at the order of shards, at what the
oracle is given and at verdicts.
"""

from __future__ import annotations

from concurrent.futures import Future

from hypothesis import given, settings

from aethel.model import ATOMIC, Batch, Transaction
from aethel.operations import Deposit, Sleep, Withdraw
from harness.campaign import CampaignConfig, close_executors, run_campaign, runner, shards
from harness.campaign.config import is_race_shard
from harness.campaign.runner import plan
from harness.campaign.strategies import batches
from harness.campaign.timeouts import SLOW_MS, for_the_oracle, with_slow_transaction
from harness.checks import serial_oracle


def test_every_shard_is_planned_once_and_a_race_shard_is_never_the_last():
    # a race shard costs some three plain ones: handed out last, it leaves the other jobs
    # idle while it runs
    for examples in (20, 100, 1500, 1510, 3000):
        config = CampaignConfig(examples=examples)
        order = [spec.index for spec in plan(config)]
        assert sorted(order) == list(range(config.shards))
        assert not is_race_shard(order[-1]), (examples, order[-5:])
        assert sum(spec.examples for spec in plan(config)) == examples


def test_a_race_shard_is_handed_out_ahead_of_its_block_only():
    order = [spec.index for spec in plan(CampaignConfig(examples=1500))]
    assert order[:10] == [4, 0, 1, 2, 3, 9, 5, 6, 7, 8]
    # no shard is handed out more than a block ahead of its place
    assert all(later <= place + 4 for place, later in enumerate(order))


def test_a_budget_campaign_hands_its_shards_out_in_order():
    specs = plan(CampaignConfig(budget=10.0))
    assert [next(specs).index for _ in range(12)] == list(range(12))


class _Failing:
    """A pool whose shards finish at once; those in ``failing`` fail."""

    def __init__(self, failing: set[int]) -> None:
        self.failing = failing
        self.submitted: list[int] = []

    def submit(self, fn, spec) -> Future:
        self.submitted.append(spec.index)
        shard = shards.ShardResult(spec.index, examples=spec.examples)
        if spec.index in self.failing:
            shard.failure = shards.Failure({}, "thread", 2, [], [], 1, "broken")
        future: Future = Future()
        future.set_result(shard)
        return future


def test_a_race_shard_that_fails_first_waits_for_the_shards_before_it(monkeypatch):
    monkeypatch.setattr(runner, "shrink", lambda config, shard, *_: {"shard": shard.index})
    for jobs in (1, 2, 4):
        pool = _Failing({4})
        result = run_campaign(CampaignConfig(examples=200, jobs=jobs), pool)
        assert result.counterexample == {"shard": 4} and result.examples == 100, jobs
        assert set(range(5)) <= set(pool.submitted), (jobs, pool.submitted)


def test_the_first_failing_shard_in_shard_order_is_reported_whatever_the_dispatch(monkeypatch):
    monkeypatch.setattr(runner, "shrink", lambda config, shard, *_: {"shard": shard.index})
    for jobs in (1, 2, 4):
        pool = _Failing({2, 4, 9})
        result = run_campaign(CampaignConfig(examples=200, jobs=jobs), pool)
        assert result.counterexample == {"shard": 2} and result.examples == 60, jobs


@settings(max_examples=60, deadline=None, database=None)
@given(batches(max_transactions=6, contention="high"))
def test_the_oracle_of_a_timeout_example_is_that_of_its_batch(batch):
    slow = with_slow_transaction(batch)
    quick = for_the_oracle(slow)
    assert serial_oracle(quick) == serial_oracle(slow)
    assert all(op != Sleep(SLOW_MS) for tx in quick.transactions for op in tx.ops)


def test_a_timeout_example_is_judged_without_the_oracle_waiting_for_the_sleep(monkeypatch):
    given_to_oracle: list[Batch] = []

    def oracle(batch: Batch):
        given_to_oracle.append(batch)
        return serial_oracle(batch)

    monkeypatch.setattr(shards, "serial_oracle", oracle)
    batch = with_slow_transaction(Batch({"a": 10, "b": 0}, (
        Transaction("t1", (Withdraw("a", 3), Deposit("b", 3))),
        Transaction("t2", (Withdraw("a", 30),)))))
    assert batch.mode == ATOMIC
    try:
        checked, failure = shards.check_example(CampaignConfig(backends=("thread",)), batch)
    finally:
        close_executors()
    assert failure is None and checked and all(v.ok for _, verdicts in checked
                                               for v in verdicts)
    assert given_to_oracle == [for_the_oracle(batch)]
    assert all(op != Sleep(SLOW_MS) for tx in given_to_oracle[0].transactions for op in tx.ops)
