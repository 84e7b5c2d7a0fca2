"""Verification campaigns: generate batches, run them everywhere, check, shrink.

A campaign is a fixed sequence of *shards*. Shard ``i`` runs ``shard_size`` Hypothesis
examples (the last shard of an example count may run fewer) drawn with seed
``derive_seed(seed, i)``: each example is a batch (:mod:`~harness.campaign.strategies`), run
on every selected backend of the executor under test through the executor protocol
(:mod:`~harness.campaign.protocol`) and on the serial oracle, then checked by every checker
(:mod:`harness.checks`). The shards, and so the batches, depend on the seed, the profile and
the example count only: ``jobs`` (how many processes pull shards) changes how fast they run,
never what they contain.

- :mod:`~harness.campaign.config`: profiles, shard layout, the GIL switch interval;
- :mod:`~harness.campaign.shards`: one shard's examples, executed and checked;
- :mod:`~harness.campaign.shrink`: the first failure, shrunk to a counterexample;
- :mod:`~harness.campaign.runner`: the shards on a pool, folded into a result;
- :mod:`~harness.campaign.cluster`: a Dask cluster as the pool.

Every fifth shard is a race shard (:data:`~harness.campaign.config.RACE_SHARDS`): its
batches are wide (20–40 transactions that can all run at once), which thread-safety bugs need
to show. An executor whose factory takes no ``timeout`` keyword runs the timeout examples
without one, and the campaign's note says that timeouts were not exercised.
"""

from harness.campaign.config import EXAMPLE_TIMEOUT, PROFILES, SWITCH_INTERVAL, CampaignConfig
from harness.campaign.runner import CampaignResult, run_campaign
from harness.campaign.shards import check_example, close_executors
from harness.campaign.strategies import batches

__all__ = ["EXAMPLE_TIMEOUT", "PROFILES", "SWITCH_INTERVAL", "CampaignConfig", "CampaignResult",
           "batches", "check_example", "close_executors", "run_campaign"]
