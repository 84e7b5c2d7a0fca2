"""Verification campaigns: generate batches, run them everywhere, check, shrink, report.

A campaign is a sequence of *jobs*. Job ``i`` runs ``job_size`` Hypothesis examples drawn
with seed ``derive_seed(seed, i)``: each example is a batch, run on every selected backend
of the executor under test and on the serial oracle, then checked by every checker. Jobs
go to any :class:`concurrent.futures.Executor` (a local process pool by default), so that
a cluster's executor can be plugged in without changing this module.

On a violation the campaign stops taking new jobs, lets earlier jobs finish (so that the
failing job reported is the first in job order, whatever the timing), and re-runs that job
locally with Hypothesis's shrinker to a minimal failing batch.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures import Executor as FuturesExecutor
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import HypothesisException

from aethel.batchfile import batch_from_json, batch_to_json
from aethel.model import Batch
from harness.checks import Observed, OracleResult, analyse, check_all, serial_oracle
from harness.checks.verdict import PROPERTIES, Verdict
from harness.protocol import BUILTIN, Run, execute, load_factory
from harness.strategies import CAMPAIGN_OPS, batches

PROFILES: dict[str, dict[str, Any]] = {
    "quick": {"examples": 60, "max_transactions": 8, "max_accounts": 4, "max_reads": 2},
    "ci": {"examples": 300, "max_transactions": 16, "max_accounts": 8, "max_reads": 4},
    "thorough": {"examples": 3000, "max_transactions": 32, "max_accounts": 12, "max_reads": 8},
    "stress": {"examples": 600, "max_transactions": 40, "max_accounts": 40, "max_reads": 12,
               "contention": "low", "switch_interval": 1e-6},
}
"""Campaign sizes. ``stress`` targets thread safety: many transactions reading many accounts
concurrently, with the GIL switched every microsecond."""
SWITCH_INTERVAL = 1e-5
"""The GIL switch interval (s) while a job runs, unless the profile sets one: threads are
preempted every 10 µs instead of every 5 ms, which provokes the interleavings that
thread-safety bugs need."""
_JOB_SETTINGS = ("examples", "contention", "switch_interval")
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
    """What to verify and how hard."""

    executor: str = BUILTIN
    backends: tuple[str, ...] = ("thread", "process")
    workers: int = 2
    jobs: int = 1
    examples: int | None = None
    budget: float | None = None
    seed: int = 0
    profile: str = "quick"
    job_size: int = 10
    contention: str | None = None

    @property
    def switch_interval(self) -> float:
        """The GIL switch interval jobs run with."""
        return PROFILES[self.profile].get("switch_interval", SWITCH_INTERVAL)

    @property
    def total_examples(self) -> int | None:
        """The example count to run, or None for a time budget."""
        if self.budget is not None:
            return None
        return self.examples if self.examples is not None else PROFILES[self.profile]["examples"]

    def strategy(self, job: int, max_transactions: int | None = None):
        """The batch strategy of a job. Contention is the config's, else the profile's, else
        it alternates between low and high from one job to the next."""
        profile = PROFILES[self.profile]
        params = {k: v for k, v in profile.items() if k not in _JOB_SETTINGS}
        if max_transactions is not None:
            params["max_transactions"] = max_transactions
        contention = self.contention or profile.get("contention")
        if contention is None:
            contention = "high" if job % 2 else "low"
        return batches(contention=contention, ops=CAMPAIGN_OPS, **params)


def derive_seed(campaign_seed: int, job: int) -> int:
    """The Hypothesis seed of one job."""
    return (campaign_seed * 1_000_003 + job) % 2**63


@dataclass(frozen=True)
class JobSpec:
    """One unit of work: ``examples`` examples of job ``index`` (``max_transactions`` narrows
    the strategy when searching for a smaller counterexample)."""

    config: CampaignConfig
    index: int
    examples: int
    shrink: bool = False
    max_transactions: int | None = None


@dataclass
class Failure:
    """A failing example: the batch, where it failed, the verdicts and the trace."""

    batch: dict[str, Any]
    backend: str
    workers: int
    verdicts: list[dict[str, Any]]
    trace: list[dict[str, Any]]
    transactions: int
    error: str | None = None

    def failed_properties(self) -> list[str]:
        """The properties that did not hold."""
        return [v["property"] for v in self.verdicts if not v["ok"]]


@dataclass
class JobResult:
    """What one job found; ``digest`` fingerprints the batches it ran, in order."""

    index: int
    examples: int = 0
    digest: str = ""
    passed: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    failure: Failure | None = None
    seconds: float = 0.0
    note: str | None = None


class _Violation(Exception):
    """Raised inside the Hypothesis test to mark a failing example."""


_EXECUTORS: dict[tuple[int, str, str, int], Any] = {}
_EXECUTORS_LOCK = threading.Lock()


def _executor(spec: str, backend: str, workers: int) -> Any:
    """Executors are cached per thread of a worker process, so that pools start once per
    campaign and no executor is ever shared by two jobs running at the same time."""
    key = (threading.get_ident(), spec, backend, workers)
    with _EXECUTORS_LOCK:
        executor = _EXECUTORS.get(key)
    if executor is None:
        factory = load_factory(spec)
        executor = factory(backend=backend, workers=1 if backend == "serial" else workers)
        with _EXECUTORS_LOCK:
            _EXECUTORS[key] = executor
    return executor


def close_executors() -> None:
    """Close every cached executor of this process."""
    with _EXECUTORS_LOCK:
        executors = list(_EXECUTORS.values())
        _EXECUTORS.clear()
    for executor in executors:
        close = getattr(executor, "close", None)
        if close is not None:
            close()


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


def check_example(config: CampaignConfig, batch: Batch, repeats: int = 1
                  ) -> tuple[list[tuple[Run, list[Verdict]]], Failure | None]:
    """Run ``batch`` on every backend and check each run against the serial oracle."""
    oracle = serial_oracle(batch)
    checked = []
    for backend in config.backends:
        executor = _executor(config.executor, backend, config.workers)
        for _ in range(repeats):
            run = execute(executor, batch, backend, config.workers)
            verdicts = check_run(batch, run, oracle)
            checked.append((run, verdicts))
            if not all(v.ok for v in verdicts):
                return checked, Failure(
                    batch_to_json(batch), backend, run.workers,
                    [verdict_to_json(v) for v in verdicts],
                    [e.to_json() for e in run.execution_trace], len(batch), run.error)
    return checked, None


def run_job(spec: JobSpec) -> JobResult:
    """Run one job (in whichever process the executor chose)."""
    started = time.perf_counter()
    config = spec.config
    result = JobResult(spec.index)
    repeats = SHRINK_REPEATS if spec.shrink else 1
    phases = [Phase.generate, Phase.shrink] if spec.shrink else [Phase.generate]

    @seed(derive_seed(config.seed, spec.index))
    @settings(max_examples=spec.examples, database=None, deadline=None, phases=phases,
              derandomize=False, report_multiple_bugs=False, print_blob=False,
              suppress_health_check=list(HealthCheck))
    @given(config.strategy(spec.index, spec.max_transactions))
    def example(batch: Batch) -> None:
        checked, failure = check_example(config, batch, repeats)
        if not spec.shrink:
            result.examples += 1
            digest.update(json.dumps(batch_to_json(batch), sort_keys=True).encode())
            _count(result, checked)
        if failure is not None:
            if result.failure is None or failure.transactions <= result.failure.transactions:
                result.failure = failure
            raise _Violation

    digest = hashlib.sha256()
    previous = sys.getswitchinterval()
    sys.setswitchinterval(config.switch_interval)
    try:
        example()
    except _Violation:
        pass
    except HypothesisException as exc:
        result.note = f"shrinking stopped: {type(exc).__name__}: {exc}".splitlines()[0]
    finally:
        sys.setswitchinterval(previous)
    result.digest = digest.hexdigest()
    result.seconds = time.perf_counter() - started
    return result


def _count(result: JobResult, checked: list[tuple[Run, list[Verdict]]]) -> None:
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
    jobs: int = 0
    passed: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    counterexample: dict[str, Any] | None = None
    digests: list[str] = field(default_factory=list)
    complete: bool = True
    note: str | None = None
    cluster: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.counterexample is None

    @property
    def throughput(self) -> float:
        """Examples per second."""
        return self.examples / self.seconds if self.seconds > 0 else 0.0

    @property
    def digest(self) -> str:
        """A fingerprint of every batch the campaign ran, in job order."""
        return hashlib.sha256("".join(self.digests).encode()).hexdigest()

    def add(self, job: JobResult) -> None:
        """Fold one job's counts in (jobs are added in index order)."""
        self.jobs += 1
        self.examples += job.examples
        self.digests.append(job.digest)
        for source, target in ((job.passed, self.passed), (job.failed, self.failed)):
            for prop, n in source.items():
                target[prop] = target.get(prop, 0) + n

    def property_rows(self) -> list[tuple[str, int, int]]:
        """(property, examples passed, examples failed) in the canonical order."""
        return [(p, self.passed.get(p, 0), self.failed.get(p, 0)) for p in PROPERTIES]

    def to_json(self) -> dict[str, Any]:
        return {
            "config": asdict(self.config),
            "ok": self.ok,
            "complete": self.complete,
            "examples": self.examples,
            "jobs": self.jobs,
            "seconds": self.seconds,
            "throughput_examples_per_s": self.throughput,
            "batches_digest": self.digest,
            "properties": {p: {"passed": ok, "failed": bad}
                           for p, ok, bad in self.property_rows()},
            "counterexample": self.counterexample,
            "note": self.note,
            "cluster": self.cluster,
        }


Progress = Callable[[CampaignResult, JobResult], None]


def plan(config: CampaignConfig) -> Iterator[JobSpec]:
    """The campaign's jobs in order (endless under a time budget)."""
    total = config.total_examples
    index = 0
    while total is None or index * config.job_size < total:
        size = config.job_size if total is None else min(config.job_size,
                                                         total - index * config.job_size)
        yield JobSpec(config, index, size)
        index += 1


def run_campaign(config: CampaignConfig, pool: FuturesExecutor,
                 progress: Progress | None = None, should_stop: Callable[[], bool] = lambda: False
                 ) -> CampaignResult:
    """Run a campaign on ``pool``; shrink the first violation locally."""
    result = CampaignResult(config)
    started = time.perf_counter()
    deadline = None if config.budget is None else started + config.budget
    jobs = plan(config)
    running: dict[Future, JobSpec] = {}
    done: dict[int, JobResult] = {}
    first_failure: int | None = None
    depth = max(2, 2 * config.jobs)

    def submit_more() -> None:
        while len(running) < depth and first_failure is None and not should_stop():
            if deadline is not None and time.perf_counter() >= deadline:
                return
            spec = next(jobs, None)
            if spec is None:
                return
            running[pool.submit(run_job, spec)] = spec

    submit_more()
    while running:
        if should_stop():
            result.complete = False
            break
        finished, _ = wait(list(running), timeout=0.5, return_when=FIRST_COMPLETED)
        for future in finished:
            del running[future]
            if future.cancelled():
                continue
            job = future.result()
            done[job.index] = job
            if job.failure is not None and (first_failure is None or job.index < first_failure):
                first_failure = job.index
                for other, other_spec in list(running.items()):
                    if other_spec.index > job.index and other.cancel():
                        del running[other]
            if progress is not None:
                progress(result, job)
        submit_more()
    for index in sorted(done):
        if first_failure is None or index <= first_failure:
            result.add(done[index])
    if first_failure is not None:
        failing = done[first_failure]
        if result.complete:
            result.counterexample = shrink(config, failing)
        else:
            assert failing.failure is not None
            result.counterexample = counterexample_doc(
                config, failing.index, failing.failure, failing.failure, 0.0,
                "not shrunk: the campaign was stopped")
    result.seconds = time.perf_counter() - started
    return result


def shrink(config: CampaignConfig, job: JobResult) -> dict[str, Any]:
    """Re-run a failing job locally with shrinking; the counterexample document."""
    assert job.failure is not None
    spec = JobSpec(config, job.index, config.job_size, shrink=True)
    started = time.perf_counter()
    shrunk = run_job(spec)
    failure = shrunk.failure or job.failure
    note = shrunk.note if shrunk.failure else "the failure did not reproduce while shrinking"
    failure = drop_transactions(config, failure)
    deadline = time.perf_counter() + SMALLER_SEARCH_SECONDS
    while failure.transactions > 1 and time.perf_counter() < deadline:
        smaller = run_job(replace(spec, examples=SMALLER_SEARCH,
                                  max_transactions=failure.transactions - 1)).failure
        if smaller is None:
            break
        failure = drop_transactions(config, smaller)
    return counterexample_doc(config, job.index, failure, original=job.failure,
                              shrink_seconds=time.perf_counter() - started, note=note)


def drop_transactions(config: CampaignConfig, failure: Failure) -> Failure:
    """Finish shrinking: remove single transactions while the batch still fails.

    Hypothesis's shrinker does not always delete leading list elements once other draws
    follow them; this pass makes the counterexample minimal with respect to removing any one
    transaction (``after`` references to a removed transaction are dropped with it).
    """
    batch = batch_from_json(failure.batch)
    progress = True
    while progress and len(batch) > 1:
        progress = False
        for tx in batch.transactions:
            candidate = _without(batch, tx.id)
            _, smaller = check_example(config, candidate, SHRINK_REPEATS)
            if smaller is not None:
                batch, failure, progress = candidate, smaller, True
                break
    return failure


def _without(batch: Batch, tx_id: str) -> Batch:
    return Batch(batch.accounts, tuple(
        replace(tx, after=tuple(a for a in tx.after if a != tx_id))
        for tx in batch.transactions if tx.id != tx_id), batch.mode)


def counterexample_doc(config: CampaignConfig, job: int, failure: Failure, original: Failure,
                       shrink_seconds: float, note: str | None) -> dict[str, Any]:
    """The content of counterexample.json."""
    return {
        "format": "aethel-counterexample",
        "version": 1,
        "seed": config.seed,
        "job": job,
        "job_seed": derive_seed(config.seed, job),
        "executor": config.executor,
        "backend": failure.backend,
        "workers": failure.workers,
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


def default_job_size(examples: int | None, jobs: int) -> int:
    """Examples per job: enough jobs to keep every worker busy, at most 25 examples each."""
    if examples is None:
        return 10
    return max(1, min(25, math.ceil(examples / (4 * max(1, jobs)))))


def with_defaults(config: CampaignConfig) -> CampaignConfig:
    """Fill in the job size from the example count and job count."""
    return replace(config, job_size=default_job_size(config.total_examples, config.jobs))
