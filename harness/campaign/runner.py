"""Running a campaign: its shards go to any :class:`concurrent.futures.Executor` (a local
process pool by default, or a cluster's), their results are folded in shard order, and the
first failure is shrunk (:mod:`harness.campaign.shrink`).

On a violation the campaign stops taking new shards, lets earlier shards finish and runs any
earlier shard not yet handed out (so that the failing shard reported is the first in shard
order, whatever the timing and the order shards are handed out in), stops waiting for
later ones (they cannot change the verdict; their processes are ended with the pool), and
shrinks that shard's failure locally.

Progress: whoever watches a campaign (``on_tally``) gets a :class:`Tally` a few times a
second. Each job reports its shard's finished examples through :class:`ExampleCounts`, a
datagram socket of the campaign that it never waits for; the examples of a job that cannot
reach it (on another machine of a cluster) are counted when their shard ends. Nothing the
verdict depends on reads these reports.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import socket
import statistics
import struct
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, BrokenExecutor, Future, wait
from concurrent.futures import Executor as FuturesExecutor
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from functools import partial
from types import TracebackType
from typing import Any

from aethel.backends import signals_held
from aethel.errors import describe_exception
from harness.campaign.config import RACE_SHARDS, CampaignConfig, is_race_shard
from harness.campaign.coverage import coverage_json
from harness.campaign.protocol import accepts_timeout, load_factory
from harness.campaign.shards import HUNG, ShardResult, ShardSpec, run_shard
from harness.campaign.shrink import counterexample_doc, shrink
from harness.checks.verdict import PROPERTIES, plural

BUDGET_GRACE = 5.0
"""Seconds shards still running at the end of a time budget get to finish before they are
abandoned (and their processes killed by the command)."""
TICK = 0.2
"""Seconds between two looks of the campaign at its jobs' reports (the latest of each
shard) and between two tallies."""
STARTING, CHECKING, SHRINKING, DONE = "starting jobs", "checking", "shrinking", "done"
"""The phases a :class:`Tally` names: jobs starting (until one reports), examples generated
and checked, the first failure shrunk, the campaign over."""


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
        """Examples checked per second, leaving out the time spent shrinking a failure."""
        shrinking = (self.counterexample or {}).get("shrink_seconds") or 0.0
        checking = self.seconds - shrinking
        return self.examples / checking if checking > 0 else 0.0

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


@dataclass(frozen=True)
class Tally:
    """How far a campaign is: its phase (``detail`` says more, e.g. which failure is being
    shrunk), the examples checked (those jobs reported from shards still running included),
    the failing examples and the shards finished among them, the seconds since it started,
    and whether it has been complete so far (not stopped, no job lost). As in the result,
    once a shard fails the shards after it no longer count: the last tally (phase
    :data:`DONE`) has the result's counts."""

    phase: str
    examples: int
    failures: int
    shards: int
    seconds: float
    detail: str = ""
    complete: bool = True


_REPORT = struct.Struct("!QI")
"""One report of a job: the shard's index and how many of its examples have finished."""


class ExampleCounts:
    """Where jobs report their shards' finished examples: a datagram socket named in Linux's
    abstract namespace (nothing on disk, nothing for a resource tracker to clean up),
    drained by a thread of its own as reports arrive (the kernel queues only a few), which
    keeps the latest count of each shard until :meth:`read`. Any local process can write to
    it, so reports are only hints: the campaign keeps those naming a running shard and a
    count that shard can reach."""

    def __init__(self) -> None:
        self.address: str | None = None
        self._counts: dict[int, int] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._thread: threading.Thread | None = None
        name = f"\0aethel-campaign-{os.getpid()}-{secrets.token_hex(8)}"
        try:
            self._socket.bind(name)
        except OSError:  # no abstract namespace: shards are counted when they end
            self._socket.close()
            return
        self.address = name
        self._thread = threading.Thread(target=self._drain, name="aethel-example-counts",
                                        daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while not self._closing.is_set():
            try:
                data = self._socket.recv(_REPORT.size + 1)
            except OSError:
                return
            if len(data) == _REPORT.size:
                shard, finished = _REPORT.unpack(data)
                with self._lock:
                    self._counts[shard] = max(finished, self._counts.get(shard, 0))

    def read(self) -> dict[int, int]:
        """Examples finished per shard, as the reports since the last read say."""
        with self._lock:
            counts, self._counts = self._counts, {}
        return counts

    def close(self) -> None:
        """Stop reading (at once: the thread's wait for a report is cut short)."""
        if self._thread is not None:
            self._closing.set()
            self._socket.shutdown(socket.SHUT_RDWR)
            self._thread.join()
            self._socket.close()
            self._thread = None

    def __enter__(self) -> ExampleCounts:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()


class _Reporter:
    """A job's reports of one shard to :class:`ExampleCounts` at ``address`` (a datagram
    of a few bytes, a few microseconds, per example), never waiting: a report the campaign
    has no room for is dropped (the next one says more), and reporting stops once the
    campaign is out of reach."""

    def __init__(self, address: str, shard: int) -> None:
        self._address = address
        self._shard = shard
        self._socket: socket.socket | None = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.setblocking(False)

    def __call__(self, finished: int) -> None:
        if self._socket is None:
            return
        try:
            self._socket.sendto(_REPORT.pack(self._shard, finished), self._address)
        except BlockingIOError:
            pass
        except OSError:  # another machine's campaign, or one that has ended
            self.close()

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def run_counted_shard(spec: ShardSpec, address: str | None = None) -> ShardResult:
    """:func:`run_shard` in a job, reporting the shard's finished examples (none yet, then
    each one) to the :class:`ExampleCounts` at ``address`` (None: to nobody)."""
    if address is None:
        return run_shard(spec)
    report = _Reporter(address, spec.index)
    try:
        report(0)
        return run_shard(spec, on_example=report)
    finally:
        report.close()


TIMEOUTS_NOT_EXERCISED = ("timeouts not exercised: the factory {executor} takes no 'timeout' "
                          "keyword, so its timeout examples ran without a timeout")


def shard_spec(config: CampaignConfig, index: int) -> ShardSpec:
    """Shard ``index`` of the campaign (the last one of an example count may run fewer)."""
    total = config.total_examples
    size = config.shard_size
    return ShardSpec(config, index, size if total is None else min(size, total - index * size))


def plan(config: CampaignConfig) -> Iterator[ShardSpec]:
    """The campaign's shards in the order they are handed to the jobs (endless under a time
    budget, in shard order).

    A campaign of a known size hands each race shard out first in its block of
    :data:`~harness.campaign.config.RACE_SHARDS` shards (4, 0, 1, 2, 3, 9, 5, ...): a race
    shard costs some three plain ones, and handed out last it would leave every other job
    idle while it runs. No shard is handed out more than a block early, and the order
    changes no result: shards are folded in shard order, and a failure waits for every
    shard before it (:func:`run_campaign`)."""
    shards = config.shards
    if shards is None:
        index = 0
        while True:
            yield shard_spec(config, index)
            index += 1
    for start in range(0, shards, RACE_SHARDS):
        for index in sorted(range(start, min(start + RACE_SHARDS, shards)),
                            key=lambda i: not is_race_shard(i)):
            yield shard_spec(config, index)


def run_campaign(config: CampaignConfig, pool: FuturesExecutor,
                 progress: Progress | None = None, should_stop: Callable[[], bool] = lambda: False,
                 on_tally: Callable[[Tally], None] | None = None) -> CampaignResult:
    """Run a campaign on ``pool``; shrink the first violation locally.

    ``progress`` is called with each shard that finishes; ``on_tally`` every :data:`TICK`
    seconds (and at each change of phase) with a :class:`Tally`, the last one of phase
    :data:`DONE`. Under a time budget no shard starts after the deadline, and shards still
    running :data:`BUDGET_GRACE` seconds after it are abandoned (noted in the result)."""
    with ExampleCounts() if on_tally is not None else nullcontext() as counts:
        return _run(config, pool, progress, should_stop, on_tally or (lambda tally: None),
                    counts)


def _run(config: CampaignConfig, pool: FuturesExecutor, progress: Progress | None,
         should_stop: Callable[[], bool], on_tally: Callable[[Tally], None],
         counts: ExampleCounts | None) -> CampaignResult:
    result = CampaignResult(config)
    started = time.perf_counter()
    deadline = None if config.budget is None else started + config.budget
    shards = plan(config)
    running: dict[Future, ShardSpec] = {}
    submitted: set[int] = set()
    done: dict[int, ShardResult] = {}
    live: dict[int, int] = {}  # examples finished per running shard, as its job reported
    first_failure: int | None = None
    depth = max(2, 2 * config.jobs)
    phase = STARTING
    told = 0.0  # when the last tally was made
    task = partial(run_counted_shard, address=counts and counts.address)

    def counted(index: int) -> bool:
        return first_failure is None or index <= first_failure

    def tally(detail: str = "") -> None:
        nonlocal told
        told = time.perf_counter()
        finished = [shard for index, shard in done.items() if counted(index)]
        reported = sum(live.get(spec.index, 0) for spec in running.values()
                       if counted(spec.index))
        on_tally(Tally(phase, sum(s.examples for s in finished) + reported,
                       sum(s.failure is not None for s in finished), len(finished),
                       time.perf_counter() - started, detail, result.complete))

    def submit_more() -> None:
        while len(running) < depth and result.complete and not should_stop():
            if first_failure is not None:  # only the shards before it are still needed
                spec = next((shard_spec(config, index) for index in range(first_failure)
                             if index not in submitted), None)
            elif deadline is not None and time.perf_counter() >= deadline:
                return
            else:
                spec = next(shards, None)
            if spec is None:
                return
            with signals_held():  # a local pool may start a job process within submit()
                running[pool.submit(task, spec)] = spec
            submitted.add(spec.index)

    tally()
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
        finished, _ = wait(list(running), timeout=TICK, return_when=FIRST_COMPLETED)
        if should_stop():
            result.complete = False  # what ends after a signal may have been cut short by it
            break
        sizes = {spec.index: spec.examples for spec in running.values()}
        for index, examples in (counts.read() if counts else {}).items():
            if index in sizes and examples <= sizes[index]:
                live[index] = max(examples, live.get(index, 0))
                phase = CHECKING
        for future in finished:
            spec = running.pop(future, None)
            if spec is None or future.cancelled():
                continue  # abandoned after an earlier shard failed, or cancelled
            live.pop(spec.index, None)
            try:
                shard = future.result()
            except BrokenExecutor as exc:
                result.complete = False
                if not should_stop():
                    result.lost = f"a job process died ({describe_exception(exc)})"
                running.clear()
                break
            phase = CHECKING
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
        tally()
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
            phase = SHRINKING
            detail = (f"the failure of shard {failing.index} "
                      f"({plural(failing.failure.transactions, 'transaction')})")
            tally(detail)

            def stop_shrinking() -> bool:
                """``should_stop``, polled between two tries of the shrinker: a tally too."""
                if time.perf_counter() - told >= TICK:
                    tally(detail)
                return should_stop()

            result.counterexample = shrink(config, failing, stop_shrinking)
            if should_stop():
                result.complete = False
                result.counterexample = counterexample_doc(
                    config, failing.index, failing.failure, failing.failure, 0.0,
                    "not shrunk: the campaign was stopped while shrinking")
    result.seconds = time.perf_counter() - started
    on_tally(Tally(DONE, result.examples, 0 if result.ok else 1, result.shards,
                   result.seconds, complete=result.complete))
    return result

