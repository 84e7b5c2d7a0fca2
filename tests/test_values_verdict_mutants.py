"""Which mutants the values verdict catches alone, looking at no other verdict.

A mutant is visible in values when the values its transactions read and installed fit no
order consistent with real time: lost updates, stale snapshots, dirty reads, unenforced
declarations, ignored dependencies. A mutant that corrupts only versions or trace metadata
must never be blamed by it (a lost START or COMMIT only widens the choice of orders, a lost
READ removes a constraint; a lost WRITE would make the value it installed look unwritten,
but in UnsynchronisedTrace's wide batches no transaction reads another's write), and the
other mutants' bugs lie in what a transaction computed from what it read, in the final
state or in the batch's serial order, which it does not judge: their values fit.
CompletionOrderInstalls shows in values only when a race lets a reader's snapshot be taken
between two unordered installs of the account it reads, before it starts: then it has read
a value overwritten before it started, and the version checks see that stale read too.
"""

from __future__ import annotations

import pytest

from harness.checks import ISOLATION, VALUES, Verdict
from harness.checks.anomalies import NON_LINEARIZABLE
from harness.mutants import MUTANTS, MutantSpec, hunt, hunt_mutant

VISIBLE = ("IgnoresDependencies", "WholeStateMerge", "StaleSnapshot", "DirtyRead",
           "UndeclaredAccess", "HotAccountLostUpdate")
METADATA = ("WrongReadVersion", "SkewedClock", "UnsynchronisedTrace")
RACED = ("CompletionOrderInstalls",)
VALUES_FIT = ("NonAtomicRollback", "TornInstall",
              "TimeoutKeepsWrites", "OwnWriteNotSeen", "SaturatingOverflow", "OffByOneFunds",
              "IgnoresForwardAfter")
SPECS = {spec.name: spec for spec in MUTANTS}


def values_verdict(verdicts: list[Verdict]) -> Verdict:
    return next(v for v in verdicts if v.property == VALUES)


def values_fail(verdicts: list[Verdict]) -> bool:
    """The predicate of a kill by the values verdict alone."""
    return not values_verdict(verdicts).ok


def values_hunt(spec: MutantSpec):
    with spec.create() as executor:
        return hunt(executor, spec.strategy(), spec.budget, values_fail, spec.switch_interval)


def test_every_mutant_is_classified():
    assert sorted(VISIBLE + METADATA + RACED + VALUES_FIT) == sorted(SPECS)


@pytest.mark.parametrize("name", VISIBLE)
def test_the_values_verdict_alone_catches(name):
    spec = SPECS[name]
    found = values_hunt(spec)
    assert found.found, f"{name} survived {spec.budget} examples"
    verdict = found.verdict(VALUES)
    assert verdict.anomalies() == {NON_LINEARIZABLE}
    assert "no order consistent with real time" in verdict.counterexample.message


@pytest.mark.parametrize("name", METADATA)
def test_corrupt_versions_or_metadata_are_not_blamed_on_right_values(name):
    spec = SPECS[name]
    killed = hunt_mutant(spec)
    assert killed.found and not killed.verdict(spec.killer).ok
    assert values_verdict(list(killed.verdicts)).ok, killed.verdict(VALUES).explanation
    swept = values_hunt(spec)
    assert not swept.found, swept.verdict(VALUES).explanation
    assert swept.examples == spec.budget


@pytest.mark.parametrize("name", VALUES_FIT)
def test_bugs_outside_the_values_seen_are_not_its_to_judge(name):
    spec = SPECS[name]
    swept = values_hunt(spec)
    assert not swept.found, swept.verdict(VALUES).explanation
    assert swept.examples == spec.budget


@pytest.mark.parametrize("name", RACED)
def test_a_raced_mutant_is_blamed_by_values_only_for_what_the_versions_show(name):
    spec = SPECS[name]
    swept = values_hunt(spec)
    if swept.found:
        assert not swept.verdict(ISOLATION).ok, swept.verdict(VALUES).explanation
    else:
        assert swept.examples == spec.budget
