"""Explanations that name the cause, on traces of the real engine rewritten by hand: a READ
whose recorded version contradicts its value (trace inconsistency) and timestamps that are
not on one clock (clock problem); a correct trace produces neither, on every backend."""

from __future__ import annotations

import pytest

from aethel.executor import ParallelExecutor
from aethel.model import ATOMIC, Batch, Transaction
from aethel.operations import Sleep, Transfer
from aethel.trace import INIT, READ, START, Event
from harness.checks import (
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
    DIRTY,
    LOST_UPDATE,
    STALE,
    TRACE_INCONSISTENCY,
)

N = 4
MINUTES = 180 * 1_000_000_000
BATCH = Batch({**{f"a{i}": 100 for i in range(N)}, **{f"b{i}": 0 for i in range(N)}},
              tuple(Transaction(f"t{i}", (Transfer(f"a{i}", f"b{i}", 10), Sleep(2)))
                    for i in range(N)) +
              tuple(Transaction(f"u{i}", (Transfer(f"b{i}", f"a{(i + 1) % N}", 4),))
                    for i in range(N)))
"""t0…t3 are independent (and sleep, so both workers run some); each u reads two versions
installed by a t."""


@pytest.fixture(scope="module")
def runs() -> dict[str, Observed]:
    """A correct execution of BATCH on two workers of each parallel backend."""
    observed = {}
    for backend in ("thread", "process"):
        with ParallelExecutor(backend, 2) as executor:
            observed[backend] = Observed.from_result(executor.execute(BATCH))
            if backend == "process":  # an atomic batch's installs are the coordinator's
                observed["process-atomic"] = Observed.from_result(
                    executor.execute(BATCH.with_mode(ATOMIC)))
    return observed


@pytest.fixture(params=["thread", "process"])
def observed(request, runs) -> Observed:
    """The correct execution on one backend."""
    return runs[request.param]


def judge(observed: Observed, events: list[Event] | None = None) -> dict[str, Verdict]:
    """Every verdict on ``observed`` (with ``events`` instead of its trace, if given)."""
    if events is not None:
        observed = Observed(events, observed.final_state, observed.outcomes)
    return {v.property: v for v in check_all(derive_facts(BATCH, observed))}


def anomalies(verdicts: dict[str, Verdict]) -> set[str]:
    return {a for v in verdicts.values() for a in v.anomalies()}


def read_of(events: list[Event], txn: str, account: str) -> int:
    return next(i for i, e in enumerate(events)
                if e.kind == READ and e.txn == txn and e.account == account)


@pytest.mark.parametrize("backend,processes",
                         [("thread", 1), ("process", 2), ("process-atomic", 3)])
def test_a_correct_trace_has_no_clock_problem_and_no_trace_inconsistency(runs, backend,
                                                                          processes):
    observed = runs[backend]
    verdicts = judge(observed)
    assert all(v.ok and v.applicable for v in verdicts.values()), verdicts
    assert len({e.worker for e in observed.events}) == 2
    assert len({e.pid for e in observed.events}) == processes


def test_a_read_recorded_with_the_previous_version_is_a_trace_inconsistency(observed):
    events = list(observed.events)
    i = read_of(events, "u0", "b0")
    assert events[i].version == "t0" and events[i].value == 10
    events[i] = events[i]._replace(version=INIT)
    verdicts = judge(observed, events)
    isolation = verdicts[ISOLATION]
    assert anomalies(verdicts) == {TRACE_INCONSISTENCY} and isolation.count == 1
    [found] = isolation.violations
    assert found.txns == ("u0", "t0") and found.accounts == ("b0",)
    assert found.message == (
        "u0's READ of b0 names version init (b0 was 0 initially), but the value it read, "
        "b0=10, is that of version t0 (t0 installed b0=10 and is the last committed writer "
        "of b0 before u0 in serial order): the executor recorded the wrong version; the data "
        "is right")
    assert verdicts[SERIALIZABILITY].ok


def test_a_read_recorded_with_a_later_version_is_a_trace_inconsistency(observed):
    events = list(observed.events)
    i = read_of(events, "u0", "a1")
    assert events[i].version == "t1" and events[i].value == 90
    events[i] = events[i]._replace(version="u0")
    [found] = judge(observed, events)[ISOLATION].violations
    assert found.anomaly == TRACE_INCONSISTENCY and found.txns == ("u0", "t1")
    assert "names version u0 (u0 installed a1=94)" in found.message


def test_a_stale_read_with_the_stale_value_is_still_a_lost_update(observed):
    events = list(observed.events)
    i = read_of(events, "u0", "b0")
    events[i] = events[i]._replace(version=INIT, value=0)
    found = anomalies(judge(observed, events))
    assert {STALE, LOST_UPDATE} <= found and TRACE_INCONSISTENCY not in found


def shifted(events: list[Event], chosen, offset: int) -> list[Event]:
    return [e._replace(ts=e.ts + offset) if chosen(e) else e for e in events]


def assert_clock_problem_only(verdicts: dict[str, Verdict]) -> None:
    """A clock problem under isolation, nothing derived from the clock elsewhere."""
    isolation = verdicts[ISOLATION]
    assert not isolation.ok and isolation.anomalies() == {CLOCK}
    assert "real-time checks were skipped because of the clock problem" in \
        isolation.explanation
    assert DIRTY not in anomalies(verdicts)
    assert verdicts[SERIALIZABILITY].ok
    assert "real-time order not checked" in verdicts[SERIALIZABILITY].explanation
    assert verdicts[ORDER].ok and not verdicts[ORDER].applicable
    assert all(v.ok for v in verdicts.values() if v.property != ISOLATION)


@pytest.mark.parametrize("offset", [MINUTES, -MINUTES])
def test_one_worker_minutes_away_is_a_clock_problem(observed, offset):
    events = shifted(list(observed.events), lambda e: e.worker == 1, offset)
    verdicts = judge(observed, events)
    assert_clock_problem_only(verdicts)
    message = verdicts[ISOLATION].counterexample.message
    assert message.startswith("no transaction runs for 1")
    early, late = message.split(" lie 1")
    assert "of worker 1 of process" in (late if offset > 0 else early)


def _reader_process_shifted(observed: Observed, offset: int) -> list[str]:
    """Shift by ``offset`` the clock of the process of a transaction that read a version
    written in the other process; the run must show a clock problem only: its isolation
    messages."""
    started = {e.txn: e.pid for e in observed.events if e.kind == START}
    pid = next(started[e.txn] for e in observed.events if e.kind == READ and
               e.version != INIT and started[e.version] != started[e.txn])
    verdicts = judge(observed, shifted(list(observed.events), lambda e: e.pid == pid, offset))
    assert_clock_problem_only(verdicts)
    return [v.message for v in verdicts[ISOLATION].violations]


@pytest.mark.parametrize("offset", [MINUTES, -MINUTES])
def test_one_process_minutes_away_is_a_clock_problem(runs, offset):
    """The worker process of a transaction that read a version installed by a transaction of
    the other process records its events on a clock minutes away (on the process backend a
    worker records a transaction's WRITE and COMMIT too): a read of a version written in the
    other process lies minutes before its writer started."""
    messages = _reader_process_shifted(runs["process"], offset)
    assert any("read" in m and "before t" in m and "started" in m for m in messages)


@pytest.mark.parametrize("offset", [MINUTES, -MINUTES])
def test_a_worker_process_minutes_from_its_coordinator_is_a_clock_problem(runs, offset):
    """In an atomic batch the coordinator records WRITE and COMMIT: a worker process whose
    clock is minutes away shows transactions committing before their own START, or reading
    before their writer started."""
    messages = _reader_process_shifted(runs["process-atomic"], offset)
    if offset > 0:
        assert any("'s own START" in m for m in messages)
    else:
        assert any("before t" in m and "started" in m for m in messages)
