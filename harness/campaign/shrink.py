"""Shrinking a campaign's first failure to a minimal counterexample.

The failing shard is re-run locally with Hypothesis's shrinker, at the campaign's GIL switch
interval; then single transactions are dropped while the batch still fails, and smaller
batches are searched for. The counterexample records what ``aethel replay`` needs to run it
as the campaign did: the backend, the worker count, the switch interval, the example timeout,
the timeout the executor was made with, and the serial order runs are judged against. For the
reports it also records both sides of the comparison: the executor's final balances and
outcomes, and the serial oracle's (in the order the run was judged against).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from aethel.batchfile import batch_from_json
from aethel.model import Batch
from aethel.outcome import Outcome
from aethel.trace import Event, event_from_json
from harness.campaign.config import (
    CampaignConfig,
    derive_seed,
    gil_switch_interval,
    is_race_shard,
)
from harness.campaign.shards import (
    HUNG,
    Failure,
    ShardResult,
    ShardSpec,
    check_example,
    run_shard,
)
from harness.campaign.timeouts import executor_timeout
from harness.checks import OracleResult, derive_facts, serial_oracle
from harness.checks.orders import ANY, rolled_back_on_their_own
from harness.checks.verdict import EQUIVALENCE

SHRINK_SECONDS = 30.0
"""Hypothesis's shrinking of a failing shard stops after this many seconds (races make every
try slow); the smallest failure seen by then is kept."""
SMALLER_SEARCH = 200
SMALLER_STRATEGIES = 3
SMALLER_SEARCH_SECONDS = 20.0
"""After shrinking, up to SMALLER_SEARCH examples with fewer transactions are tried from
each of SMALLER_STRATEGIES strategies (:func:`smaller_failure`), repeatedly while time
remains, to escape the shrinker's local minima (each success is shrunk again)."""
SHRINK_REPEATS = 3
"""In the shrinking re-run an example counts as failing if any of this many runs fails, so
that races found once are not lost while shrinking."""


def shrink(config: CampaignConfig, shard: ShardResult,
           should_stop: Callable[[], bool] = lambda: False) -> dict[str, Any]:
    """Re-run a failing shard locally with shrinking, at the campaign's GIL switch interval;
    the counterexample document. Shrinking ends early when ``should_stop()``."""
    with gil_switch_interval(config.switch_interval):
        return _shrink(config, shard, should_stop)


def _shrink(config: CampaignConfig, shard: ShardResult, should_stop: Callable[[], bool]
            ) -> dict[str, Any]:
    assert shard.failure is not None
    spec = ShardSpec(config, shard.index, config.shard_size, shrink=True,
                     timeouts=_timed(shard.failure), repeats=SHRINK_REPEATS,
                     shrink_seconds=SHRINK_SECONDS)
    started = time.perf_counter()
    shrunk = run_shard(spec, should_stop)
    failure = shrunk.failure or shard.failure
    note = shrunk.note if shrunk.failure else "the failure did not reproduce while shrinking"
    failure = drop_transactions(config, failure, should_stop, shard.index)
    deadline = time.perf_counter() + SMALLER_SEARCH_SECONDS
    while (failure.transactions - _timed(failure) > 1 and time.perf_counter() < deadline
           and not should_stop()):
        smaller = smaller_failure(config, failure, shard.index, should_stop)
        if smaller is None:
            break
        failure = drop_transactions(config, smaller, should_stop, shard.index)
    return counterexample_doc(config, shard.index, failure, original=shard.failure,
                              shrink_seconds=time.perf_counter() - started, note=note)


def smaller_failure(config: CampaignConfig, failure: Failure, shard: int,
                    should_stop: Callable[[], bool] = lambda: False) -> Failure | None:
    """A failure with fewer transactions than ``failure`` (of shard ``shard``), shrunk; None
    if none failed. Up to SMALLER_SEARCH examples are drawn from the strategy of ``shard``,
    then of each of the next SMALLER_STRATEGIES - 1 shards that are not race shards (their
    contention differs: a bug may need transactions that do not conflict). A batch of one
    transaction has no other to race with, so it is run once, not SHRINK_REPEATS times."""
    timed = _timed(failure)
    size = failure.transactions - timed - 1
    later = (i for i in itertools.count(shard + 1) if not is_race_shard(i))
    for index in (shard, *itertools.islice(later, SMALLER_STRATEGIES - 1)):
        if should_stop():
            return None
        spec = ShardSpec(config, index, SMALLER_SEARCH, shrink=True, timeouts=timed,
                         repeats=SHRINK_REPEATS if size + timed > 1 else 1,
                         shrink_seconds=SHRINK_SECONDS, max_transactions=size)
        smaller = run_shard(spec, should_stop).failure
        if smaller is not None:
            return smaller
    return None


def _timed(failure: Failure) -> bool:
    """Whether ``failure`` is that of a timeout example (its batch has the slow transaction,
    which the strategy does not count)."""
    return executor_timeout(batch_from_json(failure.batch)) is not None


def drop_transactions(config: CampaignConfig, failure: Failure,
                      should_stop: Callable[[], bool] = lambda: False,
                      shard: int | None = None) -> Failure:
    """Finish shrinking: remove single transactions while the batch still fails.

    Hypothesis's shrinker does not always delete leading list elements once other draws
    follow them; this pass makes the counterexample minimal with respect to removing any one
    transaction (``after`` references to a removed transaction are dropped with it).
    """
    batch = batch_from_json(failure.batch)
    progress = True
    while progress and len(batch) > 1 and not should_stop():
        progress = False
        for tx in batch.transactions:
            candidate = _without(batch, tx.id)
            _, smaller = check_example(config, candidate, SHRINK_REPEATS, shard=shard)
            if smaller is not None and smaller.kind != HUNG:
                batch, failure, progress = candidate, smaller, True
                break
    return failure


def _without(batch: Batch, tx_id: str) -> Batch:
    return Batch(batch.accounts, tuple(
        replace(tx, after=tuple(a for a in tx.after if a != tx_id))
        for tx in batch.transactions if tx.id != tx_id), batch.mode)


def counterexample_doc(config: CampaignConfig, shard: int, failure: Failure, original: Failure,
                       shrink_seconds: float, note: str | None) -> dict[str, Any]:
    """The content of counterexample.json."""
    return {
        "format": "aethel-counterexample",
        "version": 1,
        "kind": failure.kind,
        "seed": config.seed,
        "shard": shard,
        "shard_seed": derive_seed(config.seed, shard),
        "executor": config.executor,
        "backend": failure.backend,
        "workers": failure.workers,
        "switch_interval": config.switch_interval,
        "example_timeout": config.example_timeout,
        "executor_timeout": failure.executor_timeout,
        "order": config.order,
        "transactions": failure.transactions,
        "transactions_before_shrinking": original.transactions,
        "failed_properties": failure.failed_properties(),
        "batch": failure.batch,
        "verdicts": failure.verdicts,
        "trace": failure.trace,
        "oracle": oracle_json(judged_oracle(
            config.order, batch_from_json(failure.batch), failure.verdicts, failure.oracle,
            [event_from_json(e) for e in failure.trace], failure.final_states,
            {t: (o.status, o.reason) for t, o in (failure.outcomes or {}).items()})),
        "executor_result": (None if failure.final_states is None
                            else run_json(failure.final_states, failure.outcomes or {})),
        "error": failure.error,
        "shrink_seconds": shrink_seconds,
        "note": note,
    }


def judged_oracle(order: str, batch: Batch, verdicts: list[dict[str, Any]],
                  oracle: OracleResult | None, events: Sequence[Event] = (),
                  final_state: Mapping[str, int] | None = None,
                  outcomes: Mapping[str, tuple[str, str | None]] | None = None
                  ) -> OracleResult | None:
    """The serial run a run of ``batch`` was compared with: ``oracle``, or under
    ``--order any`` the oracle run in the witness order serial equivalence chose (as its
    verdict, among ``verdicts``, records), with the transactions that rolled back on their
    own in the run (``events``, ``final_state``, ``outcomes``) run for their outcome only."""
    witness = next((v.get("witness") for v in verdicts if v["property"] == EQUIVALENCE), None)
    if order != ANY or not witness or oracle is None:
        return oracle
    facts = derive_facts(batch, events, final_state, outcomes)
    own = [facts.ids[t] for t in rolled_back_on_their_own(facts)]
    return serial_oracle(batch, witness, rolled_back=own)


def oracle_json(oracle: OracleResult | None) -> dict[str, Any] | None:
    """The serial oracle's order, final balances and outcomes, as the reports show them."""
    if oracle is None:
        return None
    return {"order": list(oracle.order), "final_balances": oracle.final_state,
            "outcomes": {txn: {"status": status, "reason": reason}
                         for txn, (status, reason) in oracle.outcomes.items()}}


def run_json(final_states: dict[str, int], outcomes: dict[str, Outcome]) -> dict[str, Any]:
    """An executor's final balances and outcomes, as the reports show them."""
    return {"final_balances": final_states,
            "outcomes": {txn: {"status": o.status, "reason": o.reason}
                         for txn, o in outcomes.items()}}
