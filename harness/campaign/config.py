"""What a campaign runs: its profiles, shard layout and settings, and the GIL switch interval
its shards run at."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from harness.campaign.protocol import BUILTIN
from harness.campaign.strategies import CAMPAIGN_OPS, batches, race_batches
from harness.checks.orders import BATCH

GENERATION: dict[str, Any] = {"forward_deps": True, "overflow": True}
"""What every profile generates besides the strategy's defaults (shapes and boundaries):
``after`` naming a later transaction, and values within a few units of 2^63-1."""
PROFILES: dict[str, dict[str, Any]] = {
    "quick": {**GENERATION, "examples": 1500, "max_transactions": 8, "max_accounts": 4,
              "max_reads": 2},
    "ci": {**GENERATION, "examples": 1500, "max_transactions": 16, "max_accounts": 8,
           "max_reads": 4},
    "thorough": {**GENERATION, "examples": 3000, "max_transactions": 32, "max_accounts": 12,
                 "max_reads": 8},
    "stress": {**GENERATION, "examples": 600, "max_transactions": 40, "max_accounts": 40,
               "max_reads": 12, "contention": "low", "switch_interval": 1e-6},
}
"""Campaign sizes. ``quick`` (the default) and ``ci`` run 1500 examples: a race that shows
in one example in a few hundred (``HotAccountLostUpdate`` needed 140 to 910 in ten seeds) is
found in nearly every seed, within a minute on two cores. ``stress`` targets thread safety:
many transactions reading many accounts concurrently, with the GIL switched every
microsecond."""
SWITCH_INTERVAL = 1e-5
"""The GIL switch interval (s) while a shard runs, unless the profile sets one: threads are
preempted every 10 µs instead of every 5 ms, which provokes the interleavings that
thread-safety bugs need."""
_SHARD_SETTINGS = ("examples", "contention", "switch_interval")
RACE_SHARDS = 5
"""Every fifth shard (shards 4, 9, 14, ...) is a race shard: it draws
:func:`~harness.campaign.strategies.race_batches` (wide batches whose transactions all run at
once, or interleaved chains of updates of hot accounts) instead of the profile's. A race in an
executor's shared bookkeeping shows in about one wide batch in three, where the profile's
batches show it in one in a few hundred."""
RACE_THREADS = 8
"""The thread backend's worker count in race shards (at least; more if ``workers`` is more):
with a free worker always waiting, a transaction released by an install is dispatched at
once, while the worker that ran its predecessor may still be busy."""
SHARD_SIZE = 20
"""Examples per shard. Hypothesis starts every run with its smallest example and keeps the
first tenth of a run small, so a shard of 20 spends 18 examples on the profile's full size
distribution, whatever the number of jobs."""
EXAMPLE_TIMEOUT = 30.0
"""Seconds one execution of one batch may take before the example is reported as hung."""
@dataclass(frozen=True)
class CampaignConfig:
    """What to verify and how hard. ``jobs`` is how many processes run shards at once: it
    never changes which batches are run. ``order`` is the serial order runs are judged
    against: ``batch`` or ``any`` (:mod:`harness.checks.orders`).

    ``aethel verify``'s default is one job per usable core × 2 engine workers: 2 workers
    are what exercises the parallelism of the engine's backends (one worker cannot show a
    race). On 2 cores (``aethel bench --campaign --repeat 2``, 1,500 examples) it reached
    1.00, 0.98 and 0.94 × the examples per second of the best combination measured in
    three quiet runs (2 jobs × 2 or 1 workers). Before engine workers were forked from a
    fork server it reached only 0.89 and 0.92 × the best: each worker's start-up, again
    after every timeout example, took some 190 ms of a new interpreter (now some 10 ms),
    and the engine's processes used 26 % of the CPU (now 9-10 %)."""

    executor: str = BUILTIN
    backends: tuple[str, ...] = ("thread", "process")
    workers: int = 2
    jobs: int = 1
    examples: int | None = None
    budget: float | None = None
    seed: int = 0
    profile: str = "quick"
    shard_size: int = SHARD_SIZE
    contention: str | None = None
    example_timeout: float = EXAMPLE_TIMEOUT
    order: str = BATCH

    @property
    def switch_interval(self) -> float:
        """The GIL switch interval shards run with."""
        return PROFILES[self.profile].get("switch_interval", SWITCH_INTERVAL)

    @property
    def total_examples(self) -> int | None:
        """The example count to run, or None for a time budget."""
        if self.budget is not None:
            return None
        return self.examples if self.examples is not None else PROFILES[self.profile]["examples"]

    @property
    def shards(self) -> int | None:
        """How many shards the campaign has (None: as many as the budget allows)."""
        total = self.total_examples
        return None if total is None else -(-total // self.shard_size)

    @property
    def deadline_per_execution(self) -> float:
        """The deadline of one execution: the example timeout, and never more than half
        the budget, so that a hung executor is reported within a budget campaign."""
        if self.budget is None:
            return self.example_timeout
        return min(self.example_timeout, max(1.0, self.budget / 2))

    def workers_of(self, backend: str, shard: int | None = None) -> int:
        """The worker count of ``backend``'s executor in ``shard`` (None: not a race shard):
        one for serial, at least :data:`RACE_THREADS` for threads in a race shard."""
        if backend == "serial":
            return 1
        if backend == "thread" and shard is not None and is_race_shard(shard):
            return max(self.workers, RACE_THREADS)
        return self.workers

    def contention_of(self, shard: int) -> str:
        """The contention of a shard: the config's, else the profile's, else it alternates
        between low and high from one shard to the next."""
        contention = self.contention or PROFILES[self.profile].get("contention")
        if contention is None:
            return "high" if shard % 2 else "low"
        return contention

    def strategy(self, shard: int, max_transactions: int | None = None):
        """The batch strategy of a shard: :func:`~harness.campaign.strategies.race_batches`
        for a race shard, else the profile's (with :meth:`contention_of` the shard)."""
        if is_race_shard(shard):
            return race_batches(max_transactions)
        profile = PROFILES[self.profile]
        params = {k: v for k, v in profile.items() if k not in _SHARD_SETTINGS}
        if max_transactions is not None:
            params["max_transactions"] = max_transactions
        return batches(contention=self.contention_of(shard), ops=CAMPAIGN_OPS, **params)


def is_race_shard(shard: int) -> bool:
    """Whether shard ``shard`` is a race shard (see :data:`RACE_SHARDS`)."""
    return shard % RACE_SHARDS == RACE_SHARDS - 1


def derive_seed(campaign_seed: int, shard: int) -> int:
    """The Hypothesis seed of one shard."""
    return (campaign_seed * 1_000_003 + shard) % 2**63


@contextmanager
def gil_switch_interval(seconds: float | None) -> Iterator[None]:
    """Run the block with the GIL switch interval ``seconds`` (None: leave it); the previous
    one after."""
    previous = sys.getswitchinterval()
    if seconds is not None:
        sys.setswitchinterval(seconds)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)
