"""Helpers of the database-target tests (tests/test_targets_*.py)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from aethel.model import Batch
from harness.checks import (
    ATOMICITY,
    CONSERVATION,
    ISOLATION,
    SERIALIZABILITY,
    VALUES,
    Observed,
    Verdict,
    check_all,
    derive_facts,
)
from harness.checks.anomalies import FUTURE, STALE, WRITE_ORDER
from harness.cli import main

ORDER_FREE = (SERIALIZABILITY, CONSERVATION, ATOMICITY, VALUES)
"""The properties that do not depend on which serial order a database chose."""
ORDER_ANOMALIES = (STALE, FUTURE, WRITE_ORDER)
"""The isolation anomalies that say only that a database chose another serial order than
batch order."""


def verdicts(batch: Batch, result: object) -> dict[str, Verdict]:
    """Every checker's verdict on one execution, by property."""
    return {v.property: v for v in check_all(derive_facts(batch, Observed.from_result(result)))}


def failures(batch: Batch, result: object, properties: tuple[str, ...] | None = None
             ) -> list[str]:
    """The lines of the verdicts that fail (among ``properties``, default all)."""
    return [line for name, v in verdicts(batch, result).items()
            if not v.ok and (properties is None or name in properties) for line in v.lines()]


def unexplained(batch: Batch, result: object) -> list[str]:
    """The violations a serializable database must not show, whichever serial order it
    chose: those of :data:`ORDER_FREE`'s verdicts and isolation's other than
    :data:`ORDER_ANOMALIES`."""
    judged = verdicts(batch, result)
    return [line for name in ORDER_FREE if not judged[name].ok
            for line in judged[name].lines()] + \
        [line for v in judged[ISOLATION].violations if v.anomaly not in ORDER_ANOMALIES
         for line in v.lines()]


def verify(executor: str, report: Path, examples: int = 30, env: dict[str, str] | None = None
           ) -> Result:
    """``aethel verify`` of ``executor`` on the thread backend, in one job process."""
    return CliRunner().invoke(main, [
        "verify", "--executor", executor, "--backends", "thread", "--jobs", "1",
        "--examples", str(examples), "--report", str(report)], env=env)
