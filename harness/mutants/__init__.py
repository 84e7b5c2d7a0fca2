"""Mutant executors and the hunts that prove the checkers kill them.

A hunt runs an executor on derandomized Hypothesis batches (the same sequence for every
executor and every run, for a given strategy) and stops judging at the first batch on which
the wanted checker reports the wanted anomaly. ``python -m harness.mutants`` prints the
mutant table: mutant → killing checker → examples needed → seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import strategies as st

from aethel.executor import ParallelExecutor
from aethel.model import Batch
from harness.campaign.config import gil_switch_interval
from harness.campaign.protocol import execute
from harness.campaign.strategies import hot_chains, wide_reads
from harness.campaign.timeouts import EXECUTOR_TIMEOUT
from harness.checks import (
    ATOMICITY,
    CONSERVATION,
    EQUIVALENCE,
    ISOLATION,
    ORDER,
    SERIALIZABILITY,
    Observed,
    Verdict,
    check_all,
    derive_facts,
)
from harness.checks.anomalies import (
    CLOCK,
    CREATED,
    DIRTY,
    EARLY_START,
    FINAL_BALANCE,
    G_SINGLE,
    INTEGRITY,
    KEPT_WRITE,
    LOST_UPDATE,
    OUTCOME,
    PARTIAL_ROLLBACK,
    STALE,
    TRACE_INCONSISTENCY,
    UNDECLARED,
)
from harness.mutants import strategies
from harness.mutants.executors import (
    CompletionOrderInstalls,
    DirtyRead,
    HotAccountLostUpdate,
    IgnoresDependencies,
    IgnoresForwardAfter,
    NonAtomicRollback,
    OffByOneFunds,
    OwnWriteNotSeen,
    SaturatingOverflow,
    SkewedClock,
    StaleSnapshot,
    TimeoutKeepsWrites,
    TornInstall,
    UndeclaredAccess,
    UnsynchronisedTrace,
    WholeStateMerge,
    WrongReadVersion,
)

__all__ = ["MUTANTS", "Hunt", "MutantSpec", "any_violation", "hunt", "hunt_mutant", "judge",
           "table"]


@dataclass(frozen=True)
class MutantSpec:
    """A mutant, the batches that exercise its bug, and what must catch it.

    ``killer`` is the property whose verdict must report one of ``anomalies`` within
    ``budget`` examples. ``switch_interval`` (seconds), if set, is the GIL switch interval
    during the hunt, to provoke thread interleavings. ``timeout`` (seconds), if set, is the
    mutant's timeout (for bugs that show only when a batch times out).
    """

    executor: type[ParallelExecutor]
    strategy: Callable[[], st.SearchStrategy[Batch]]
    killer: str
    anomalies: frozenset[str]
    budget: int
    switch_interval: float | None = None
    timeout: float | None = None

    @property
    def name(self) -> str:
        """The mutant's class name."""
        return self.executor.__name__

    @property
    def bug(self) -> str:
        """The bug class, in a few words."""
        return str(self.executor.bug)  # every mutant class states its bug

    def create(self, workers: int = 2) -> ParallelExecutor:
        """The mutant on the thread backend."""
        return self.executor("thread", workers, timeout=self.timeout)


MUTANTS: tuple[MutantSpec, ...] = (
    MutantSpec(IgnoresDependencies, strategies.conflicting, ORDER, frozenset({EARLY_START}), 40),
    MutantSpec(WholeStateMerge, strategies.conflicting, ISOLATION, frozenset({LOST_UPDATE}),
               40),
    MutantSpec(StaleSnapshot, strategies.conflicting, SERIALIZABILITY,
               frozenset({G_SINGLE}), 40),
    MutantSpec(NonAtomicRollback, strategies.failing_atomic, ATOMICITY,
               frozenset({PARTIAL_ROLLBACK}), 40),
    MutantSpec(CompletionOrderInstalls, strategies.blind_writes, EQUIVALENCE,
               frozenset({FINAL_BALANCE}), 40),
    MutantSpec(DirtyRead, strategies.conflicting, ISOLATION, frozenset({DIRTY}), 40),
    MutantSpec(UnsynchronisedTrace, wide_reads, ISOLATION,
               frozenset({INTEGRITY}), 60, switch_interval=1e-6),
    MutantSpec(UndeclaredAccess, strategies.undeclared_touches, ISOLATION,
               frozenset({UNDECLARED}), 40),
    MutantSpec(TornInstall, strategies.conflicting, CONSERVATION,
               frozenset({CREATED}), 40),
    MutantSpec(TimeoutKeepsWrites, strategies.timing_out, ATOMICITY, frozenset({KEPT_WRITE}),
               10, timeout=EXECUTOR_TIMEOUT),
    MutantSpec(OwnWriteNotSeen, strategies.own_writes, EQUIVALENCE,
               frozenset({FINAL_BALANCE, OUTCOME}), 40),
    MutantSpec(SaturatingOverflow, strategies.overflowing, CONSERVATION, frozenset({CREATED}),
               40),
    MutantSpec(OffByOneFunds, strategies.exact_debits, EQUIVALENCE, frozenset({OUTCOME}),
               40),
    MutantSpec(HotAccountLostUpdate, hot_chains, ISOLATION,
               frozenset({LOST_UPDATE, STALE}), 2000, switch_interval=1e-5),
    MutantSpec(WrongReadVersion, strategies.conflicting, ISOLATION,
               frozenset({TRACE_INCONSISTENCY}), 40),
    MutantSpec(SkewedClock, strategies.conflicting, ISOLATION, frozenset({CLOCK}), 40),
    MutantSpec(IgnoresForwardAfter, strategies.forward_afters, ORDER, frozenset({EARLY_START}), 40),
)


@dataclass(frozen=True)
class Hunt:
    """The outcome of a hunt: examples judged, seconds spent, and the first batch found
    with its verdicts (``batch`` is ``None`` if the budget ran out)."""

    examples: int
    seconds: float
    batch: Batch | None
    verdicts: tuple[Verdict, ...]

    @property
    def found(self) -> bool:
        """Whether a wanted batch was found within the budget."""
        return self.batch is not None

    def verdict(self, prop: str) -> Verdict:
        """The verdict on ``prop`` for the batch found."""
        return next(v for v in self.verdicts if v.property == prop)


def judge(executor: ParallelExecutor, batch: Batch) -> list[Verdict]:
    """Run ``batch`` on ``executor`` (as the protocol does: a timeout is judged with what
    its error carries) and check the execution."""
    run = execute(executor, batch, executor.backend, executor.workers)
    return check_all(derive_facts(batch, Observed.from_result(run)))


def any_violation(verdicts: list[Verdict]) -> bool:
    """True if some verdict does not hold."""
    return not all(v.ok for v in verdicts)


class _Found(Exception):
    """Ends a hunt's search at the batch found."""


def hunt(executor: ParallelExecutor, strategy: st.SearchStrategy[Batch], budget: int,
         wanted: Callable[[list[Verdict]], bool], interval: float | None = None) -> Hunt:
    """Judge up to ``budget`` derandomized batches; stop at the first that is ``wanted``
    (Hypothesis generates no more)."""
    found: list[tuple[Batch, list[Verdict], float]] = []
    examples = 0
    started = time.perf_counter()

    @settings(max_examples=budget, derandomize=True, database=None, deadline=None,
              phases=(Phase.generate,), suppress_health_check=list(HealthCheck),
              verbosity=Verbosity.quiet, report_multiple_bugs=False, print_blob=False)
    @given(strategy)
    def explore(batch: Batch) -> None:
        nonlocal examples
        if found:
            raise _Found  # Hypothesis replays the batch found: it is not judged again
        examples += 1
        verdicts = judge(executor, batch)
        if wanted(verdicts):
            found.append((batch, verdicts, time.perf_counter() - started))
            raise _Found

    with gil_switch_interval(interval), suppress(_Found):
        explore()
    if not found:
        return Hunt(examples, time.perf_counter() - started, None, ())
    batch, verdicts, seconds = found[0]
    return Hunt(examples, seconds, batch, tuple(verdicts))


def kills(spec: MutantSpec) -> Callable[[list[Verdict]], bool]:
    """The predicate of a kill: the spec's checker reports one of its anomalies."""
    def killed(verdicts: list[Verdict]) -> bool:
        verdict = next(v for v in verdicts if v.property == spec.killer)
        return bool(verdict.anomalies() & spec.anomalies)
    return killed


def hunt_mutant(spec: MutantSpec, workers: int = 2) -> Hunt:
    """Hunt ``spec``'s mutant with its strategy and budget."""
    with spec.create(workers) as executor:
        return hunt(executor, spec.strategy(), spec.budget, kills(spec), spec.switch_interval)


def table(specs: tuple[MutantSpec, ...] = MUTANTS, workers: int = 2) -> list[str]:
    """The mutant table as Markdown lines."""
    lines = ["| # | mutant | bug class | killed by | anomaly | examples | seconds "
             "| also flagged by |", "|---|---|---|---|---|---|---|---|"]
    for number, spec in enumerate(specs, start=1):
        result = hunt_mutant(spec, workers)
        if result.found:
            verdict = result.verdict(spec.killer)
            anomaly = ", ".join(sorted(verdict.anomalies() & spec.anomalies))
            others = ", ".join(v.property for v in result.verdicts
                               if not v.ok and v.property != spec.killer) or "—"
            examples = str(result.examples)
        else:
            anomaly, others, examples = "SURVIVED", "—", f">{spec.budget}"
        lines.append(f"| {number} | {spec.name} | {spec.bug} | {spec.killer} | {anomaly} | "
                     f"{examples} | {result.seconds:.2f} | {others} |")
    return lines
