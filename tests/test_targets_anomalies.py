"""The anomaly table of docs/targets.md, short: campaign examples on each PostgreSQL isolation
level, run without stopping at a failure (docs/examples/measure_databases.py)."""

from __future__ import annotations

import importlib

import pytest

from harness.checks.anomalies import G2, LOST_UPDATE
from harness.targets.pgserver import PostgresServer
from harness.targets.postgres import DSN_ENV, ISOLATION_ENV

SCRIPT = "docs/examples"
RC_EXAMPLES = 60
"""READ COMMITTED loses an update in example 4 or 5 of seed 0 in every run measured, and in
one example in four: 60 leaves a wide margin."""
RR_EXAMPLES = 200
"""In 24 runs of seed 0 (150 or 250 examples at 4 workers), REPEATABLE READ first showed
write skew in examples 30–48, and in 2–7 examples of every run; one CI run of 200 showed
none (write skew needs two transactions to overlap, which the machine's load decides)."""
RR_SEEDS = 5
"""Seeds of :data:`RR_EXAMPLES` examples each tried in turn until one shows write skew:
a single run of 200 shows none about once in fifty."""


@pytest.fixture(scope="module")
def measure():
    with PostgresServer() as pg, pytest.MonkeyPatch.context() as env:
        env.setenv(DSN_ENV, pg.dsn)
        env.delenv(ISOLATION_ENV, raising=False)
        env.syspath_prepend(SCRIPT)
        yield importlib.import_module("measure_databases")


def found(measure, target: str, examples: int, seed: int = 0) -> dict[str, int]:
    """Per anomaly class shown in ``examples`` examples of ``target`` (campaign seed
    ``seed``), the first example showing it."""
    executor = measure.TARGETS[target][1]
    result = measure.survey(measure.campaign_config(executor, seed), examples)
    assert result.examples == examples
    return result.first


def test_read_committed_loses_updates(measure):
    first = found(measure, "read-committed", RC_EXAMPLES)
    assert LOST_UPDATE in first, first


def test_repeatable_read_shows_write_skew_and_no_lost_update(measure):
    shown: list[dict[str, int]] = []
    for seed in range(RR_SEEDS):
        shown.append(found(measure, "repeatable-read", RR_EXAMPLES, seed))
        if G2 in shown[-1]:
            break
    assert G2 in shown[-1], shown
    assert not any(LOST_UPDATE in first for first in shown), shown


def test_serializable_shows_nothing_in_as_many_examples(measure):
    """No class of the table, and nothing else: a transaction that rolls back on its own may
    have read a state no serial order of the committed transactions has, which PostgreSQL
    does not promise otherwise; under ``--order any`` that is noted, not failed
    (docs/targets.md, *Beyond the table*)."""
    first = found(measure, "serializable", RR_EXAMPLES)
    assert not first, first
