"""Serial equivalence: final balances and every outcome equal those of serial execution.

Outcomes are read from the trace (COMMIT, ABORT and its reason) and, when the executor's
reported outcomes are given, from those too. In an atomic batch that failed, serial
execution rolls back every transaction before the failing one (the trace must show them
committed before the rollback), aborts the failing one with the same reason and skips the
rest (which may have run, or not, before the failure was known).

A stopped batch (the executor raised an ExecutionError) did not finish: only the
transactions the trace shows committed are judged (serial execution must not abort them),
and its final balances are judged under atomicity.

Under ``--order any`` the oracle ran in a witness order (:mod:`harness.checks.orders`): the
verdict names it, and the checker that found it. A transaction that rolled back on its own
(an operation of its last attempt failed on the values it read) ran there for its outcome
only: a database promises a serial order of committed transactions only, so when serial
execution ends it otherwise, the verdict notes it instead of failing; the executor must
still report it as the trace ends it, and it must leave nothing behind (the oracle's final
balances have none of its writes).
"""

from __future__ import annotations

from collections.abc import Collection
from operator import ne

from aethel.trace import COMMIT
from harness.checks.anomalies import FINAL_BALANCE, OUTCOME, REPORTED_OUTCOME
from harness.checks.facts import (
    ABORTED,
    COMMITTED,
    NOT_RUN,
    SKIPPED,
    UNFINISHED,
    Facts,
)
from harness.checks.isolation import COMMITTED_ONLY, MAX_NOTED
from harness.checks.oracle import ROLLED_BACK, OracleResult
from harness.checks.oracle import SKIPPED as SERIALLY_SKIPPED
from harness.checks.verdict import EQUIVALENCE, Collector, Verdict, plural

_COMMIT_MATCHES = frozenset({SERIALLY_SKIPPED, COMMITTED, ROLLED_BACK})
"""What serial execution may have a transaction the trace shows committed do."""
MAX_SHOWN = 8
"""Transactions of a witness order named in a verdict (all are in :attr:`Verdict.witness`)."""
IN_TRACE = {
    COMMITTED: "commits in the trace",
    ABORTED: "aborts in the trace ({reason})",
    SKIPPED: "is skipped in the trace",
    UNFINISHED: "starts but never ends in the trace",
    NOT_RUN: "has no events in the trace",
}


def _serially(status: str, reason: str | None) -> str:
    if status == ABORTED:
        return f"serial execution aborts it ({reason})"
    if status == ROLLED_BACK:
        return "serial execution commits it before the atomic batch rolls back"
    return f"serial execution has it {status}"


def check_equivalence(facts: Facts, oracle: OracleResult, found_by: str | None = None,
                      own: Collection[int] = ()) -> Verdict:
    """Final balances and per-transaction outcomes against the serial oracle; ``found_by``
    names the property whose checker found the order the oracle ran in (None: it ran in
    serial order). The transactions of ``own`` (indices: they rolled back on their own,
    under ``--order any``; the oracle ran them for their outcome only) must be reported as
    the trace ends them; an outcome of theirs serial execution does not share is noted."""
    c = Collector(EQUIVALENCE)
    if found_by is None:
        where, note, witness = "in serial order", "", None
    else:
        shown = ", ".join(oracle.order[:MAX_SHOWN]) + (", …" if len(oracle.order) > MAX_SHOWN
                                                       else "")
        where = f"in the witness order {shown or '(empty)'} (found by {found_by})"
        note, witness = f"serial execution ran {where}", oracle.order
    if facts.stopped is not None:
        return _check_stopped(c, facts, oracle, note, witness)
    final = facts.final_state
    if final is not None:
        last_install = {account: facts.ids[t] for account, (_, t) in facts.last_install.items()}
        for account in sorted(set(oracle.final_state) | set(final)):
            got, want = final.get(account), oracle.final_state.get(account)
            if got != want:
                source = "the executor's final state" if facts.final_source == "result" \
                    else "the trace's installs"
                c.add(FINAL_BALANCE,
                      f"{account} is {got} in {source} but {want} after serial execution "
                      f"(last written serially by {oracle.last_writer.get(account, 'nobody')}, "
                      f"last installed in the trace by {last_install.get(account, 'nobody')})",
                      accounts=(account,))
    own = frozenset(own)
    unheld: list[int] = []
    outcomes, end_kind = oracle.outcomes, facts.end_kind
    for t, tx_id in enumerate(facts.ids):
        want_status, want_reason = outcomes[tx_id]
        if end_kind[t] == COMMIT and want_status in _COMMIT_MATCHES:
            continue
        seen = facts.status(t)
        reason = facts.reason[t]
        if want_status == SERIALLY_SKIPPED:
            ok = seen != UNFINISHED
        elif want_status in (COMMITTED, ROLLED_BACK):
            ok = seen == COMMITTED
        else:
            ok = seen == ABORTED and reason == want_reason
        if ok:
            continue
        if t in own:
            unheld.append(t)
        else:
            c.add(OUTCOME, f"{tx_id} {IN_TRACE[seen].format(reason=reason)}, but "
                  f"{_serially(want_status, want_reason)}", txns=(tx_id,))
    if facts.claimed is not None and (own or any(map(ne, map(facts.claimed.get, facts.ids),
                                                      map(outcomes.__getitem__, facts.ids)))):
        for t, tx_id in enumerate(facts.ids):
            claimed = facts.claimed.get(tx_id)
            if t in own:
                if claimed != (ABORTED, facts.reason[t]):
                    c.add(REPORTED_OUTCOME, f"the executor reported {tx_id} as "
                          f"{_describe(claimed)}, but it rolled back on its own in the trace "
                          f"({facts.reason[t]})", txns=(tx_id,))
                continue
            want = oracle.outcomes[tx_id]
            if claimed != want:
                c.add(REPORTED_OUTCOME,
                      f"the executor reported {tx_id} as {_describe(claimed)}, but "
                      f"{_serially(*want)}", txns=(tx_id,))
    outcomes = plural(len(facts.ids) - len(unheld), "transaction")
    if final is not None:
        holds = (f"the final balances of {plural(len(oracle.final_state), 'account')} and the "
                 f"outcomes of {outcomes} match serial execution {where}")
    else:
        holds = (f"the outcomes of {outcomes} match serial execution {where} (balances not "
                 "compared: the atomic batch failed and no final state was given)")
    held = _not_held(facts, oracle, unheld)
    if held:
        holds += f"; {held}"
        note = f"{note}; {held}" if note else held
    return c.verdict(holds, witness, note=note)


def _not_held(facts: Facts, oracle: OracleResult, unheld: list[int]) -> str:
    """The outcomes of transactions that rolled back on their own that serial execution
    does not share, in words (empty if none)."""
    if not unheld:
        return ""
    shown = []
    for t in unheld[:MAX_NOTED]:
        tx_id = facts.ids[t]
        status, reason = oracle.outcomes[tx_id]
        serially = "commits it" if status == COMMITTED else \
            f"aborts it ({reason})" if status == ABORTED else f"has it {status}"
        shown.append(f"{tx_id} rolled back on its own ({facts.reason[t]}), but serial execution "
                     f"in {facts.serial_order} {serially}")
    if len(unheld) > MAX_NOTED:
        shown.append(f"{plural(len(unheld) - MAX_NOTED, 'other')} too")
    whose = "its outcome is not compared and it contributes" if len(unheld) == 1 else \
        "their outcomes are not compared and they contribute"
    return f"{', '.join(shown)}; {COMMITTED_ONLY}, so {whose} no writes"


def _check_stopped(c: Collector, facts: Facts, oracle: OracleResult, note: str,
                   witness: tuple[str, ...] | None) -> Verdict:
    """A stopped batch: every transaction the trace shows committed commits serially too."""
    committed = [tx_id for t, tx_id in enumerate(facts.ids) if facts.committed[t]]
    for tx_id in committed:
        want_status, want_reason = oracle.outcomes[tx_id]
        if want_status == ABORTED:
            c.add(OUTCOME, f"{tx_id} commits in the trace before the executor reported "
                  f"{facts.stopped}, but {_serially(want_status, want_reason)}", txns=(tx_id,))
    return c.verdict(f"the batch did not finish (the executor reported {facts.stopped}); the "
                     f"{plural(len(committed), 'transaction')} the trace shows committed commit "
                     "serially too; the final balances are judged under atomicity"
                     f"{f'; {note}' if note else ''}", witness, note=note)


def _describe(outcome: tuple[str, str | None] | None) -> str:
    if outcome is None:
        return "missing"
    status, reason = outcome
    return f"{status} ({reason})" if reason else status
