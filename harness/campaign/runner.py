"""Running a campaign: its shards go to any :class:`concurrent.futures.Executor` (a local
process pool by default, or a cluster's), their results are folded in shard order, and the
first failure is shrunk (:mod:`harness.campaign.shrink`).

On a violation the campaign stops taking new shards, lets earlier shards finish (so that the
failing shard reported is the first in shard order, whatever the timing), stops waiting for
later ones (they cannot change the verdict; their processes are ended with the pool), and
shrinks that shard's failure locally.
"""

from __future__ import annotations

import hashlib
import statistics
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, BrokenExecutor, Future, wait
from concurrent.futures import Executor as FuturesExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from aethel.backends import signals_held
from aethel.errors import describe_exception
from harness.campaign.config import RACE_SHARDS, CampaignConfig
from harness.campaign.coverage import coverage_json
from harness.campaign.protocol import accepts_timeout, load_factory
from harness.campaign.shards import HUNG, ShardResult, ShardSpec, run_shard
from harness.campaign.shrink import counterexample_doc, shrink
from harness.checks.verdict import PROPERTIES

BUDGET_GRACE = 5.0
"""Seconds shards still running at the end of a time budget get to finish before they are
abandoned (and their processes killed by the command)."""


@dataclass
class CampaignResult:
    """Everything a campaign found, ready for the reports."""

    config: CampaignConfig
    examples: int = 0
    shards: int = 0
    passed: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    not_judged: dict[str, int] = field(default_factory=dict)
    """Examples per property that no run failed and some run could not judge (never a pass)."""
    reasons: dict[str, str] = field(default_factory=dict)
    """Per property not judged: why, as the first verdict not judging it (in shard order) said."""
    seconds: float = 0.0
    counterexample: dict[str, Any] | None = None
    digests: list[str] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    coverage: dict[str, int] = field(default_factory=dict)
    """Examples per feature exercised (:mod:`harness.campaign.coverage`), summed over the shards."""
    complete: bool = True
    note: str | None = None
    cluster: dict[str, Any] | None = None
    lost: str | None = None
    """Why the campaign lost a job process it did not stop itself (None: it lost none)."""

    @property
    def ok(self) -> bool:
        return self.counterexample is None

    @property
    def throughput(self) -> float:
        """Examples per second."""
        return self.examples / self.seconds if self.seconds > 0 else 0.0

    @property
    def digest(self) -> str:
        """A fingerprint of every batch the campaign counted: the SHA-256 of the shards'
        digests in shard order, each the SHA-256 of its batches' canonical JSON in
        generation order."""
        return hashlib.sha256("".join(self.digests).encode()).hexdigest()

    def add(self, shard: ShardResult) -> None:
        """Fold one shard's counts in (shards are added in index order)."""
        self.shards += 1
        self.examples += shard.examples
        self.digests.append(shard.digest)
        self.sizes.extend(shard.sizes)
        for source, target in ((shard.passed, self.passed), (shard.failed, self.failed),
                               (shard.not_judged, self.not_judged),
                               (shard.coverage, self.coverage)):
            for prop, n in source.items():
                target[prop] = target.get(prop, 0) + n
        for prop, reason in shard.reasons.items():
            self.reasons.setdefault(prop, reason)

    def property_rows(self) -> list[tuple[str, int, int]]:
        """(property, examples passed, examples failed) in the canonical order."""
        return [(p, self.passed.get(p, 0), self.failed.get(p, 0)) for p in PROPERTIES]

    def size_stats(self) -> dict[str, float] | None:
        """Transactions per batch: min, median and max (None before any example)."""
        if not self.sizes:
            return None
        return {"min": min(self.sizes), "median": statistics.median(self.sizes),
                "max": max(self.sizes)}

    def to_json(self) -> dict[str, Any]:
        return {
            "config": asdict(self.config),
            "ok": self.ok,
            "complete": self.complete,
            "examples": self.examples,
            "shards": self.shards,
            "shard_size": self.config.shard_size,
            "race_shards": {"every": RACE_SHARDS,
                            "thread_workers": self.config.workers_of("thread", RACE_SHARDS - 1)},
            "seconds": self.seconds,
            "throughput_examples_per_s": self.throughput,
            "batches_digest": self.digest,
            "transactions_per_batch": self.size_stats(),
            "properties": {p: {"passed": ok, "failed": bad,
                               "not_judged": self.not_judged.get(p, 0),
                               "not_judged_reason": self.reasons.get(p)}
                           for p, ok, bad in self.property_rows()},
            "coverage": coverage_json(self.coverage, self.examples),
            "counterexample": self.counterexample,
            "note": self.note,
            "lost": self.lost,
            "cluster": self.cluster,
        }


Progress = Callable[[CampaignResult, ShardResult], None]
TIMEOUTS_NOT_EXERCISED = ("timeouts not exercised: the factory {executor} takes no 'timeout' "
                          "keyword, so its timeout examples ran without a timeout")


def plan(config: CampaignConfig) -> Iterator[ShardSpec]:
    """The campaign's shards in order (endless under a time budget)."""
    total = config.total_examples
    size = config.shard_size
    index = 0
    while total is None or index * size < total:
        yield ShardSpec(config, index, size if total is None else min(size, total - index * size))
        index += 1


def run_campaign(config: CampaignConfig, pool: FuturesExecutor,
                 progress: Progress | None = None, should_stop: Callable[[], bool] = lambda: False
                 ) -> CampaignResult:
    """Run a campaign on ``pool``; shrink the first violation locally.

    Under a time budget no shard starts after the deadline, and shards still running
    :data:`BUDGET_GRACE` seconds after it are abandoned (noted in the result)."""
    result = CampaignResult(config)
    started = time.perf_counter()
    deadline = None if config.budget is None else started + config.budget
    shards = plan(config)
    running: dict[Future, ShardSpec] = {}
    done: dict[int, ShardResult] = {}
    first_failure: int | None = None
    depth = max(2, 2 * config.jobs)

    def submit_more() -> None:
        while (len(running) < depth and first_failure is None and result.complete
               and not should_stop()):
            if deadline is not None and time.perf_counter() >= deadline:
                return
            spec = next(shards, None)
            if spec is None:
                return
            with signals_held():  # a local pool may start a job process within submit()
                running[pool.submit(run_shard, spec)] = spec

    submit_more()
    while running:
        if should_stop():
            result.complete = False
            break
        if deadline is not None and time.perf_counter() > deadline + BUDGET_GRACE:
            result.note = (f"{len(running)} shard(s) still running {BUDGET_GRACE:g} s after "
                           "the budget were abandoned")
            for future in running:
                future.cancel()
            break
        finished, _ = wait(list(running), timeout=0.5, return_when=FIRST_COMPLETED)
        if should_stop():
            result.complete = False  # what ends after a signal may have been cut short by it
            break
        for future in finished:
            if running.pop(future, None) is None or future.cancelled():
                continue  # abandoned after an earlier shard failed, or cancelled
            try:
                shard = future.result()
            except BrokenExecutor as exc:
                result.complete = False
                if not should_stop():
                    result.lost = f"a job process died ({describe_exception(exc)})"
                running.clear()
                break
            done[shard.index] = shard
            if shard.failure is not None and (first_failure is None
                                              or shard.index < first_failure):
                first_failure = shard.index
                for other, other_spec in list(running.items()):
                    if other_spec.index > shard.index:
                        other.cancel()  # a later shard cannot change the verdict: not waited for
                        del running[other]
            if progress is not None:
                progress(result, shard)
        submit_more()
    for index in sorted(done):
        if first_failure is None or index <= first_failure:
            result.add(done[index])
    if not accepts_timeout(load_factory(config.executor)):
        result.note = "; ".join(filter(None, (result.note, TIMEOUTS_NOT_EXERCISED.format(
            executor=config.executor))))
    if first_failure is not None:
        failing = done[first_failure]
        assert failing.failure is not None
        if not result.complete:
            result.counterexample = counterexample_doc(
                config, failing.index, failing.failure, failing.failure, 0.0,
                "not shrunk: the campaign was stopped")
        elif failing.failure.kind == HUNG:
            result.counterexample = counterexample_doc(
                config, failing.index, failing.failure, failing.failure, 0.0,
                "not shrunk: every try of a hung example waits for its timeout")
        else:
            result.counterexample = shrink(config, failing, should_stop)
            if should_stop():
                result.complete = False
                result.counterexample = counterexample_doc(
                    config, failing.index, failing.failure, failing.failure, 0.0,
                    "not shrunk: the campaign was stopped while shrinking")
    result.seconds = time.perf_counter() - started
    return result

