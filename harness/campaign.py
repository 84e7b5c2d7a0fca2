"""Verification campaigns: generate batches, run them everywhere, check, shrink, report.

A campaign is a fixed sequence of *shards*. Shard ``i`` runs ``shard_size`` Hypothesis
examples (the last shard of an example count may run fewer) drawn with seed
``derive_seed(seed, i)``: each example is a batch, run on every selected backend of the
executor under test and on the serial oracle, then checked by every checker. The shards, and
so the batches, depend on the seed, the profile and the example count only: ``jobs`` (how
many processes pull shards) changes how fast they run, never what they contain. Shards go to
any :class:`concurrent.futures.Executor` (a local process pool by default, or a cluster's).

Nothing the executor under test does can hang or end a campaign: each execution has a
deadline (``example_timeout``), after which the example is reported as hung and the
processes the executor started are killed; whatever it raises, ``BaseException`` included,
fails the example.

Every fifth shard is a race shard (:data:`RACE_SHARDS`): its batches are wide (20–40
transactions that can all run at once), which thread-safety bugs need to show.

One example in every even shard is a timeout example (:mod:`harness.timeouts`): the executor
is asked for a short timeout that a slow transaction certainly exceeds, and its rollback is
judged.
An executor whose factory takes no ``timeout`` keyword runs it without one, and the
campaign's note says that timeouts were not exercised.

Each shard counts, per feature of :mod:`harness.coverage`, the examples that exercised it;
like the batches, the counts depend on the seed, the profile and the example count only.

On a violation the campaign stops taking new shards, lets earlier shards finish (so that the
failing shard reported is the first in shard order, whatever the timing), stops waiting for
later ones (they cannot change the verdict; their processes are ended with the pool), and
re-runs that
shard locally with Hypothesis's shrinker to a minimal failing batch, at the campaign's GIL
switch interval. The counterexample records what ``aethel replay`` needs to run it as the
campaign did: the backend, the worker count, the switch interval, the example timeout and
the timeout the executor was made with.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, BrokenExecutor, Future, wait
from concurrent.futures import Executor as FuturesExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from multiprocessing import util
from typing import Any, Literal

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import HypothesisException

from aethel.backends import refuse_new_workers, signals_held
from aethel.batchfile import batch_from_json, batch_to_json
from aethel.errors import describe_exception
from aethel.model import Batch
from harness.bounded import Hung, call_within
from harness.checks import Observed, OracleResult, analyse, check_all, serial_oracle
from harness.checks.verdict import PROPERTIES, Verdict
from harness.coverage import coverage_json, exercised
from harness.protocol import BUILTIN, Run, accepts_timeout, execute, load_factory, make_executor
from harness.signals import become_job, descendants, terminate_children
from harness.strategies import CAMPAIGN_OPS, batches, race_batches
from harness.timeouts import (
    executor_timeout,
    timeout_position,
    with_slow_transaction,
)

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
:func:`~harness.strategies.race_batches` (wide batches whose transactions all run at once, or
interleaved chains of updates of hot accounts) instead of the profile's. A race in an
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
BUDGET_GRACE = 5.0
"""Seconds shards still running at the end of a time budget get to finish before they are
abandoned (and their processes killed by the command)."""
CLOSE_TIMEOUT = 10.0
"""Seconds the executors of a process get to close before they are abandoned."""
SHRINK_SECONDS = 30.0
"""Hypothesis's shrinking of a failing shard stops after this many seconds (races make every
try slow); the smallest failure seen by then is kept."""
SMALLER_SEARCH = 200
SMALLER_SEARCH_SECONDS = 20.0
"""After shrinking, up to SMALLER_SEARCH examples with fewer transactions are tried,
repeatedly while time remains, to escape the shrinker's local minima (each success is
shrunk again)."""
SHRINK_REPEATS = 3
"""In the shrinking re-run an example counts as failing if any of this many runs fails, so
that races found once are not lost while shrinking."""


@dataclass(frozen=True)
class CampaignConfig:
    """What to verify and how hard. ``jobs`` is how many processes run shards at once: it
    never changes which batches are run."""

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
        """The batch strategy of a shard: :func:`~harness.strategies.wide_reads` for a race
        shard, else the profile's (with :meth:`contention_of` the shard)."""
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


@dataclass(frozen=True)
class ShardSpec:
    """One unit of work: ``examples`` examples of shard ``index`` (``max_transactions``
    narrows the strategy when searching for a smaller counterexample; ``timeouts`` makes
    every example a timeout example, when shrinking the failure of one)."""

    config: CampaignConfig
    index: int
    examples: int
    shrink: bool = False
    max_transactions: int | None = None
    timeouts: bool = False


HUNG, CRASHED = "hung", "crashed"
"""Kinds of failure besides a violated property: the executor did not return in time, or
raised something other than an :class:`~aethel.errors.ExecutionError`."""


@dataclass
class Failure:
    """A failing example: the batch, where it failed, the verdicts and the trace.

    ``kind`` is ``"violation"`` (a property does not hold), ``"hung"`` or ``"crashed"``;
    ``error`` says what happened in words; ``workers`` and ``executor_timeout`` are what
    the executor was made with."""

    batch: dict[str, Any]
    backend: str
    workers: int
    verdicts: list[dict[str, Any]]
    trace: list[dict[str, Any]]
    transactions: int
    error: str | None = None
    kind: str = "violation"
    executor_timeout: float | None = None

    def failed_properties(self) -> list[str]:
        """The properties that did not hold."""
        return [v["property"] for v in self.verdicts if not v["ok"]]


@dataclass
class ShardResult:
    """What one shard found; ``digest`` fingerprints the batches it ran, in order,
    ``sizes`` lists their transaction counts and ``coverage`` counts, per feature
    (:mod:`harness.coverage`), the examples that exercised it."""

    index: int
    examples: int = 0
    digest: str = ""
    passed: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    failure: Failure | None = None
    seconds: float = 0.0
    note: str | None = None
    sizes: list[int] = field(default_factory=list)
    coverage: dict[str, int] = field(default_factory=dict)


class _Violation(Exception):
    """Raised inside the Hypothesis test to mark a failing example."""


_Key = tuple[int, str, str, int, float | None]


@dataclass
class _Cached:
    executor: Any
    before: set[int]
    """Descendant processes that existed before the executor was made (not its own)."""
    key: _Key
    """Where it is cached: thread, spec, backend, workers and the timeout it was made with."""


_EXECUTORS: dict[_Key, _Cached] = {}
_EXECUTORS_LOCK = threading.Lock()
_FINALIZER: list[Any] = []
_MAKING = threading.Lock()
"""Held while an executor is made; an ending job takes it for good (no process may be
starting while the job unlinks the semaphores its children are handed)."""


def _executor(spec: str, backend: str, workers: int, timeout: float | None) -> _Cached:
    """Executors (asked for ``timeout``, if not None) are cached per thread of a worker
    process, so that pools start once per
    campaign and no executor is ever shared by two shards running at the same time. They are
    closed when the process exits (:func:`close_executors`), before multiprocessing closes
    the queues their own pools may still need (a higher exit priority)."""
    if timeout is not None and not accepts_timeout(load_factory(spec)):
        timeout = None  # the factory is never passed one: its executor serves every example
    key = (threading.get_ident(), spec, backend, workers, timeout)
    with _EXECUTORS_LOCK:
        cached = _EXECUTORS.get(key)
        if not _FINALIZER:
            _FINALIZER.append(util.Finalize(None, close_executors, args=(None,),
                                            exitpriority=100))
    if cached is None:
        factory = load_factory(spec)
        before = descendants()
        with _MAKING:
            cached = _Cached(_make(factory, spec, backend, workers, timeout), before, key)
        with _EXECUTORS_LOCK:
            _EXECUTORS[key] = cached
    return cached


def check_factory(spec: str, backends: tuple[str, ...], workers: int) -> None:
    """Before a campaign: make (and close) one executor per backend, so that a factory
    that raises or returns no executor is an :class:`InputError` naming --executor."""
    factory = load_factory(spec)
    for backend in backends:
        _close_within(_make(factory, spec, backend, workers), CLOSE_TIMEOUT)


def _make(factory: Any, spec: str, backend: str, workers: int, timeout: float | None = None
          ) -> Any:
    """An executor for ``backend``."""
    return make_executor(factory, spec, backend, _workers(backend, workers), timeout)


def _workers(backend: str, workers: int) -> int:
    """The worker count of an executor for ``backend`` (the serial backend has one)."""
    return 1 if backend == "serial" else workers


def _discard_executor(cached: _Cached) -> None:
    """Forget a hung executor and kill the processes it started; its close() is tried in
    the background (it may hang too)."""
    with _EXECUTORS_LOCK:
        _EXECUTORS.pop(cached.key, None)
    terminate_children(keep=cached.before)
    threading.Thread(target=_close, args=(cached.executor,), daemon=True).start()


def _close(executor: Any) -> None:
    close = getattr(executor, "close", None)
    if close is not None:
        try:
            close()
        except BaseException:  # a broken close() must not stop the others being closed
            pass


def close_executors(timeout: float | None = CLOSE_TIMEOUT) -> None:
    """Close every cached executor of this process, each within ``timeout`` seconds (None:
    inline, as at process exit, where closing from another thread can deadlock; the
    campaign kills a process that does not exit in time)."""
    with _EXECUTORS_LOCK:
        executors = [c.executor for c in _EXECUTORS.values()]
        _EXECUTORS.clear()
    for executor in executors:
        _close_within(executor, timeout)


def _close_within(executor: Any, timeout: float | None) -> None:
    """``executor.close()``, abandoned after ``timeout`` seconds (the campaign kills the
    processes of an executor whose close() hangs)."""
    try:
        call_within(lambda: _close(executor), timeout, "close()")
    except Hung:
        return


JOB_END_CLOSE = 1.0
"""Seconds an ending job process gives each of its executors to close before it kills
their processes."""


def start_job(coordinator: int) -> None:
    """Initializer of a campaign's job processes: see :func:`harness.signals.become_job`."""
    become_job(coordinator, _end_job)


def _end_job() -> None:
    refuse_new_workers()  # a run that loses its workers now must not replace them
    _MAKING.acquire(timeout=JOB_END_CLOSE)  # a factory that hangs does not stop the end
    close_executors(JOB_END_CLOSE)
    terminate_children(timeout=JOB_END_CLOSE)


def check_run(batch: Batch, run: Run, oracle: OracleResult) -> list[Verdict]:
    """Every checker's verdict on one run."""
    return check_all(analyse(batch, Observed.from_result(run)), oracle)


def verdict_to_json(verdict: Verdict) -> dict[str, Any]:
    """A verdict for the reports: its fields, the counterexample and its lines in words."""
    return {
        "property": verdict.property,
        "ok": verdict.ok,
        "applicable": verdict.applicable,
        "explanation": verdict.explanation,
        "count": verdict.count,
        "counterexample": asdict(verdict.counterexample) if verdict.counterexample else None,
        "lines": verdict.lines(),
    }


FROM_BATCH = "batch"
"""``check_example``'s default timeout: the batch's own (:func:`executor_timeout`)."""


def check_example(config: CampaignConfig, batch: Batch, repeats: int = 1, *,
                  shard: int | None = None,
                  timeout: float | None | Literal["batch"] = FROM_BATCH,
                  on_oracle: Callable[[OracleResult], None] | None = None
                  ) -> tuple[list[tuple[Run, list[Verdict]]], Failure | None]:
    """Run ``batch`` on every backend and check each run against the serial oracle.

    The executor is asked for ``timeout`` (by default that of a timeout example:
    :func:`~harness.timeouts.executor_timeout`; never when its factory takes no
    ``timeout``). ``on_oracle`` is given the serial oracle's result once it is known. An
    execution that does not return within the config's deadline, or that raises anything
    but an :class:`~aethel.errors.ExecutionError`, is a failure of its own kind. ``shard``
    (None: not a race shard) sets the worker counts (:meth:`CampaignConfig.workers_of`)."""
    checked: list[tuple[Run, list[Verdict]]] = []
    if timeout == FROM_BATCH:
        timeout = executor_timeout(batch)
    if timeout is not None and not accepts_timeout(load_factory(config.executor)):
        timeout = None
    try:
        oracle = call_within(lambda: serial_oracle(batch), config.deadline_per_execution,
                             "the serial oracle")
    except Hung as exc:
        return checked, _failure(batch, "serial", 1, timeout, HUNG,
                                 f"hung: {exc}: the batch itself does not finish serially")
    if on_oracle is not None:
        on_oracle(oracle)
    for backend in config.backends:
        workers = config.workers_of(backend, shard)
        cached = _executor(config.executor, backend, workers, timeout)
        for _ in range(repeats):
            try:
                run = call_within(
                    lambda c=cached, b=backend, w=workers: execute(c.executor, batch, b, w),
                    config.deadline_per_execution, f"the executor {config.executor} ({backend})")
            except Hung as exc:
                _discard_executor(cached)
                return checked, _failure(batch, backend, workers, timeout, HUNG,
                                         f"hung: {exc}; its processes were killed")
            except BaseException as exc:  # whatever code under test raises fails the example
                return checked, _failure(batch, backend, workers, timeout, CRASHED,
                                         f"the executor {config.executor} ({backend}) raised "
                                         f"{describe_exception(exc)}")
            verdicts = check_run(batch, run, oracle)
            checked.append((run, verdicts))
            if not all(v.ok for v in verdicts):
                return checked, Failure(
                    batch_to_json(batch), backend, workers,
                    [verdict_to_json(v) for v in verdicts],
                    [e.to_json() for e in run.execution_trace], len(batch), run.error,
                    executor_timeout=timeout)
    return checked, None


def _failure(batch: Batch, backend: str, workers: int, timeout: float | None,
             kind: str, error: str) -> Failure:
    return Failure(batch_to_json(batch), backend, workers, [], [],
                   len(batch), error, kind, timeout)


@contextmanager
def gil_switch_interval(seconds: float) -> Iterator[None]:
    """Run the block with the GIL switch interval ``seconds``; the previous one after."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(seconds)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def run_shard(spec: ShardSpec, should_stop: Callable[[], bool] = lambda: False
              ) -> ShardResult:
    """Run one shard (in whichever process the pool chose); a shrinking shard also ends
    when ``should_stop()``."""
    started = time.perf_counter()
    config = spec.config
    result = ShardResult(spec.index)
    repeats = SHRINK_REPEATS if spec.shrink else 1
    phases = [Phase.generate, Phase.shrink] if spec.shrink else [Phase.generate]
    timed = timeout_position(spec.index, derive_seed(config.seed, spec.index), spec.examples)

    @seed(derive_seed(config.seed, spec.index))
    @settings(max_examples=spec.examples, database=None, deadline=None, phases=phases,
              derandomize=False, report_multiple_bugs=False, print_blob=False,
              suppress_health_check=list(HealthCheck))
    @given(config.strategy(spec.index, spec.max_transactions))
    def example(batch: Batch) -> None:
        if result.failure is not None and not spec.shrink:
            raise _Violation  # Hypothesis replays the failing example: it already failed
        if spec.shrink and should_stop():
            return  # every further try passes, so the shrinker stops
        if spec.shrink and time.perf_counter() > started + SHRINK_SECONDS:
            result.note = f"shrinking stopped after {SHRINK_SECONDS:g} s"
            return
        if spec.timeouts or (not spec.shrink and result.examples == timed):
            batch = with_slow_transaction(batch)
        oracle: list[OracleResult] = []
        checked, failure = check_example(config, batch, repeats, shard=spec.index,
                                         on_oracle=oracle.append)
        if not spec.shrink:
            result.examples += 1
            result.sizes.append(len(batch))
            digest.update(json.dumps(batch_to_json(batch), sort_keys=True).encode())
            _count(result, checked)
            coverage.update(exercised(batch, oracle[0] if oracle else None,
                                      (run for run, _ in checked), contention))
        if failure is not None:
            if spec.shrink and failure.kind == HUNG:
                return  # a hang met while shrinking another failure is not that failure
            if result.failure is None or failure.transactions <= result.failure.transactions:
                result.failure = failure
            raise _Violation

    digest = hashlib.sha256()
    coverage: Counter[str] = Counter()
    contention = config.contention_of(spec.index)
    try:
        with gil_switch_interval(config.switch_interval):
            example()
    except _Violation:
        pass
    except HypothesisException as exc:
        result.note = result.note or \
            f"shrinking stopped: {type(exc).__name__}: {exc}".splitlines()[0]
    result.digest = digest.hexdigest()
    result.coverage = dict(coverage)
    result.seconds = time.perf_counter() - started
    return result


def _count(result: ShardResult, checked: list[tuple[Run, list[Verdict]]]) -> None:
    holds: dict[str, bool] = {}
    for _, verdicts in checked:
        for v in verdicts:
            holds[v.property] = holds.get(v.property, True) and v.ok
    for prop, ok in holds.items():
        bucket = result.passed if ok else result.failed
        bucket[prop] = bucket.get(prop, 0) + 1


@dataclass
class CampaignResult:
    """Everything a campaign found, ready for the reports."""

    config: CampaignConfig
    examples: int = 0
    shards: int = 0
    passed: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    counterexample: dict[str, Any] | None = None
    digests: list[str] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    coverage: dict[str, int] = field(default_factory=dict)
    """Examples per feature exercised (:mod:`harness.coverage`), summed over the shards."""
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
                               (shard.coverage, self.coverage)):
            for prop, n in source.items():
                target[prop] = target.get(prop, 0) + n

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
            "properties": {p: {"passed": ok, "failed": bad}
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
                     timeouts=_timed(shard.failure))
    started = time.perf_counter()
    shrunk = run_shard(spec, should_stop)
    failure = shrunk.failure or shard.failure
    note = shrunk.note if shrunk.failure else "the failure did not reproduce while shrinking"
    failure = drop_transactions(config, failure, should_stop, shard.index)
    deadline = time.perf_counter() + SMALLER_SEARCH_SECONDS
    while (failure.transactions - _timed(failure) > 1 and time.perf_counter() < deadline
           and not should_stop()):
        smaller = run_shard(replace(spec, examples=SMALLER_SEARCH, timeouts=_timed(failure),
                                    max_transactions=failure.transactions - _timed(failure) - 1),
                            should_stop).failure
        if smaller is None:
            break
        failure = drop_transactions(config, smaller, should_stop, shard.index)
    return counterexample_doc(config, shard.index, failure, original=shard.failure,
                              shrink_seconds=time.perf_counter() - started, note=note)


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
        "transactions": failure.transactions,
        "transactions_before_shrinking": original.transactions,
        "failed_properties": failure.failed_properties(),
        "batch": failure.batch,
        "verdicts": failure.verdicts,
        "trace": failure.trace,
        "error": failure.error,
        "shrink_seconds": shrink_seconds,
        "note": note,
    }
