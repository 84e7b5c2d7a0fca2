"""Helpers of the database-target tests (tests/test_targets_*.py)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from aethel.model import Batch
from aethel.trace import ABORT, START, Event
from harness.checks import ANY, Observed, Verdict, check_all, derive_facts
from harness.cli import main


def verdicts(batch: Batch, result: object, order: str = ANY) -> dict[str, Verdict]:
    """Every checker's verdict on one execution, by property, judged in ``order`` (by
    default in any serial order, as a database promises)."""
    facts = derive_facts(batch, Observed.from_result(result))
    return {v.property: v for v in check_all(facts, order=order)}


def failures(batch: Batch, result: object, order: str = ANY) -> list[str]:
    """The lines of the verdicts that fail, judged in ``order``."""
    return [line for v in verdicts(batch, result, order).values() if not v.ok
            for line in v.lines()]


def retried_aborts(trace: list[Event]) -> list[Event]:
    """The ABORTs of attempts that were run again: each followed by a START of its
    transaction."""
    started_again = []
    for i, event in enumerate(trace):
        if event.kind == ABORT and any(e.kind == START and e.txn == event.txn
                                       for e in trace[i + 1:]):
            started_again.append(event)
    return started_again


def verify(executor: str, report: Path, examples: int = 30, env: dict[str, str] | None = None,
           order: str = ANY) -> Result:
    """``aethel verify`` of ``executor`` on the thread backend, in one job process, judged
    in ``order``."""
    return CliRunner().invoke(main, [
        "verify", "--executor", executor, "--backends", "thread", "--jobs", "1",
        "--examples", str(examples), "--order", order, "--report", str(report)], env=env)
