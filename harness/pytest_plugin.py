"""The pytest plugin (entry point ``pytest11: aethel``): verify an executor in your own tests.

Fixtures:

* ``aethel_check`` — ``aethel_check(executor, batch)`` runs ``batch`` on ``executor`` (any
  object with ``execute(batch)``, see docs/executor-protocol.md) and on the serial oracle,
  runs every checker, and fails the test with the checkers' explanation on a violation.
  It returns the verdicts.

Strategies for the batches live in :mod:`harness.campaign.strategies`.
"""

from __future__ import annotations

from typing import Any

import pytest

from aethel.model import Batch
from harness.campaign.protocol import execute
from harness.campaign.shards import check_run
from harness.checks import Facts, Observed, Verdict, derive_facts, serial_oracle

__all__ = ["assert_verdicts_hold", "check_executor", "explain", "observe"]


def observe(executor: Any, batch: Batch) -> Facts:
    """Run ``batch`` on ``executor`` and index what it did for the individual checkers."""
    run = execute(executor, batch, "executor", getattr(executor, "workers", 1))
    return derive_facts(batch, Observed.from_result(run))


def explain(verdict: Verdict) -> str:
    """A verdict in plain words (for assertion messages)."""
    return "\n".join(verdict.lines())


def check_executor(executor: Any, batch: Batch, label: str = "executor") -> list[Verdict]:
    """Every checker's verdict on one run of ``batch`` on ``executor``."""
    run = execute(executor, batch, label, getattr(executor, "workers", 1))
    return check_run(batch, run, serial_oracle(batch))


def assert_verdicts_hold(verdicts: list[Verdict]) -> None:
    """Raise AssertionError with every failing verdict in plain words."""
    failing = [v for v in verdicts if not v.ok]
    if failing:
        raise AssertionError("\n".join(explain(v) for v in failing))


@pytest.fixture(scope="session")
def aethel_check():
    """``check(executor, batch) -> verdicts``; fails the test on any violation."""

    def check(executor: Any, batch: Batch) -> list[Verdict]:
        verdicts = check_executor(executor, batch)
        assert_verdicts_hold(verdicts)
        return verdicts

    return check
