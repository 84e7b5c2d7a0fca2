"""Running one shard: its examples executed on every backend of the executor under test
(through :mod:`harness.campaign.protocol`) and on the serial oracle, each run checked.

Nothing the executor under test does can hang or end a campaign: each execution has a
deadline (``example_timeout``), after which the example is reported as hung and the
processes the executor started are killed; whatever it raises, ``BaseException`` included,
fails the example. Executors are cached per thread of a job process and closed when it ends.

One example in every even shard is a timeout example (:mod:`harness.campaign.timeouts`): the
executor is asked for a short timeout that a slow transaction certainly exceeds, and its
rollback is judged. Each shard counts, per feature of :mod:`harness.campaign.coverage`, the
examples that exercised it.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing import util
from typing import Any, Literal

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Flaky, HypothesisException

from aethel.backends import refuse_new_workers
from aethel.batchfile import batch_to_json
from aethel.errors import describe_exception
from aethel.model import Batch
from aethel.outcome import Outcome
from harness.campaign.bounded import Hung, call_within
from harness.campaign.config import CampaignConfig, derive_seed, gil_switch_interval
from harness.campaign.coverage import exercised
from harness.campaign.protocol import Run, accepts_timeout, execute, load_factory, make_executor
from harness.campaign.strategies import without_local_constants
from harness.campaign.timeouts import (
    executor_timeout,
    for_the_oracle,
    timeout_position,
    with_slow_transaction,
)
from harness.checks import BATCH, Observed, OracleResult, check_all, derive_facts, serial_oracle
from harness.checks.verdict import FAIL, NOT_JUDGED, PASS, Verdict, worst_verdicts
from harness.process import become_job, descendants, terminate_children

CLOSE_TIMEOUT = 10.0
"""Seconds the executors of a process get to close before they are abandoned."""


@dataclass(frozen=True)
class ShardSpec:
    """One unit of work: ``examples`` examples of shard ``index`` (``max_transactions``
    narrows the strategy when searching for a smaller counterexample; ``timeouts`` makes
    every example a timeout example, when shrinking the failure of one). A shrinking shard
    (:mod:`harness.campaign.shrink`) counts an example as failing if any of ``repeats`` runs
    fails, and stops shrinking after ``shrink_seconds``."""

    config: CampaignConfig
    index: int
    examples: int
    shrink: bool = False
    max_transactions: int | None = None
    timeouts: bool = False
    repeats: int = 1
    shrink_seconds: float = float("inf")


HUNG, CRASHED = "hung", "crashed"
"""Kinds of failure besides a violated property: the executor did not return in time, or
raised something other than an :class:`~aethel.errors.ExecutionError`."""


@dataclass
class Failure:
    """A failing example: the batch, where it failed, the verdicts and the trace.

    ``kind`` is ``"violation"`` (a property does not hold), ``"hung"`` or ``"crashed"``;
    ``error`` says what happened in words; ``workers`` and ``executor_timeout`` are what
    the executor was made with. ``final_states`` and ``outcomes`` are the failing run's
    (None when the executor did not return), ``oracle`` the serial oracle's result (None
    when it did not finish)."""

    batch: dict[str, Any]
    backend: str
    workers: int
    verdicts: list[dict[str, Any]]
    trace: list[dict[str, Any]]
    transactions: int
    error: str | None = None
    kind: str = "violation"
    executor_timeout: float | None = None
    final_states: dict[str, int] | None = None
    outcomes: dict[str, Outcome] | None = None
    oracle: OracleResult | None = None

    def failed_properties(self) -> list[str]:
        """The properties that did not hold."""
        return [v["property"] for v in self.verdicts if not v["ok"]]


@dataclass
class ShardResult:
    """What one shard found; ``digest`` fingerprints the batches it ran, in order,
    ``sizes`` lists their transaction counts and ``coverage`` counts, per feature
    (:mod:`harness.campaign.coverage`), the examples that exercised it."""

    index: int
    examples: int = 0
    digest: str = ""
    passed: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    not_judged: dict[str, int] = field(default_factory=dict)
    """Examples per property that no run failed and some run could not judge."""
    reasons: dict[str, str] = field(default_factory=dict)
    """Per property not judged: the explanation of the first verdict not judging it."""
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
    """Initializer of a campaign's job processes: see :func:`harness.process.become_job`."""
    become_job(coordinator, _end_job)


def _end_job() -> None:
    refuse_new_workers()  # a run that loses its workers now must not replace them
    _MAKING.acquire(timeout=JOB_END_CLOSE)  # a factory that hangs does not stop the end
    close_executors(JOB_END_CLOSE)
    terminate_children(timeout=JOB_END_CLOSE)


def check_run(batch: Batch, run: Run, oracle: OracleResult, order: str = BATCH
              ) -> list[Verdict]:
    """Every checker's verdict on one run, judged against ``order`` (``batch`` or ``any``)."""
    return check_all(derive_facts(batch, Observed.from_result(run)), oracle, order)




FROM_BATCH = "batch"
"""``check_example``'s default timeout: the batch's own (:func:`executor_timeout`)."""


def check_example(config: CampaignConfig, batch: Batch, repeats: int = 1, *,
                  shard: int | None = None,
                  timeout: float | None | Literal["batch"] = FROM_BATCH,
                  on_oracle: Callable[[OracleResult], None] | None = None
                  ) -> tuple[list[tuple[Run, list[Verdict]]], Failure | None]:
    """Run ``batch`` on every backend and check each run against the serial oracle.

    The executor is asked for ``timeout`` (by default that of a timeout example:
    :func:`~harness.campaign.timeouts.executor_timeout`; never when its factory takes no
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
        oracle = call_within(lambda: serial_oracle(for_the_oracle(batch)),
                             config.deadline_per_execution, "the serial oracle")
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
                                         f"hung: {exc}; its processes were killed", oracle)
            except BaseException as exc:  # whatever code under test raises fails the example
                return checked, _failure(batch, backend, workers, timeout, CRASHED,
                                         f"the executor {config.executor} ({backend}) raised "
                                         f"{describe_exception(exc)}", oracle)
            verdicts = check_run(batch, run, oracle, config.order)
            checked.append((run, verdicts))
            if not all(v.ok for v in verdicts):
                return checked, Failure(
                    batch_to_json(batch), backend, workers,
                    [v.to_json() for v in verdicts],
                    [e.to_json() for e in run.execution_trace], len(batch), run.error,
                    executor_timeout=timeout, final_states=run.final_states,
                    outcomes=run.outcomes, oracle=oracle)
    return checked, None


def _failure(batch: Batch, backend: str, workers: int, timeout: float | None,
             kind: str, error: str, oracle: OracleResult | None = None) -> Failure:
    return Failure(batch_to_json(batch), backend, workers, [], [],
                   len(batch), error, kind, timeout, oracle=oracle)


def run_shard(spec: ShardSpec, should_stop: Callable[[], bool] = lambda: False,
              on_example: Callable[[int], None] | None = None) -> ShardResult:
    """Run one shard (in whichever process the pool chose); a shrinking shard also ends
    when ``should_stop()``. ``on_example`` is told how many examples have finished after
    each one (it must not raise)."""
    started = time.perf_counter()
    config = spec.config
    result = ShardResult(spec.index)
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
        if spec.shrink and time.perf_counter() > started + spec.shrink_seconds:
            result.note = f"shrinking stopped after {spec.shrink_seconds:g} s"
            return
        if spec.timeouts or (not spec.shrink and result.examples == timed):
            batch = with_slow_transaction(batch)
        oracle: list[OracleResult] = []
        checked, failure = check_example(config, batch, spec.repeats, shard=spec.index,
                                         on_oracle=oracle.append)
        if not spec.shrink:
            result.examples += 1
            result.sizes.append(len(batch))
            digest.update(json.dumps(batch_to_json(batch), sort_keys=True).encode())
            _count(result, checked)
            coverage.update(exercised(batch, oracle[0] if oracle else None,
                                      (run for run, _ in checked), contention))
            if on_example is not None:
                on_example(result.examples)
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
        with gil_switch_interval(config.switch_interval), without_local_constants():
            example()
    except _Violation:
        pass
    except Flaky:
        result.note = result.note or ("shrinking stopped: a smaller example failed once and "
                                      "then passed when run again (the bug depends on timing)")
    except HypothesisException as exc:
        result.note = result.note or \
            f"shrinking stopped: {type(exc).__name__}: {exc}".splitlines()[0]
    result.digest = digest.hexdigest()
    result.coverage = dict(coverage)
    result.seconds = time.perf_counter() - started
    return result


def _count(result: ShardResult, checked: list[tuple[Run, list[Verdict]]]) -> None:
    """Count one example per property: failed if a run failed it, else not judged if a run
    could not judge it (never a pass), else passed."""
    buckets = {PASS: result.passed, FAIL: result.failed, NOT_JUDGED: result.not_judged}
    for prop, verdict in worst_verdicts(verdicts for _, verdicts in checked).items():
        bucket = buckets[verdict.status]
        bucket[prop] = bucket.get(prop, 0) + 1
        if verdict.status == NOT_JUDGED:
            result.reasons.setdefault(prop, verdict.explanation)
