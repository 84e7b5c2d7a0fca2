"""Atomicity: failures leave nothing behind.

* Any mode: a transaction that ended with ABORT has no WRITE in the trace.
* Atomic mode: if the batch failed (the trace shows a transaction failing, or serial
  execution fails), the final state is exactly the initial state.
"""

from __future__ import annotations

from aethel.model import ATOMIC
from aethel.trace import ABORT
from harness.checks.facts import Facts
from harness.checks.oracle import OracleResult
from harness.checks.verdict import ATOMICITY, Collector, Verdict, plural

ABORTED_WRITE = "aborted write"
PARTIAL_ROLLBACK = "partial rollback"


def check_atomicity(facts: Facts, oracle: OracleResult | None = None) -> Verdict:
    """No write of an aborted transaction; a failed atomic batch restores every balance."""
    c = Collector(ATOMICITY)
    ids = facts.ids
    for _, t, account, value, _ in facts.writes:
        if facts.end_kind[t] == ABORT:
            c.add(ABORTED_WRITE, f"{ids[t]} aborted ({facts.reason[t]}), but the trace shows "
                  f"its install of {account}={value}", (ids[t],), (account,))
    if facts.mode != ATOMIC:
        return c.verdict("no aborted transaction installed a write (independent mode)")
    failing = facts.failure
    culprit = ids[failing] if failing is not None else oracle.failed if oracle else None
    if culprit is None:
        return c.verdict("the atomic batch did not fail and no aborted transaction installed "
                         "a write")
    final = facts.final_state
    if final is None:
        return c.verdict(f"the atomic batch failed at {culprit} and no aborted transaction "
                         "installed a write; the rollback is not checked: no final state was "
                         "given", applicable=False)
    last: dict[str, str] = {}
    for _, t, account, _, _ in facts.writes:
        last[account] = ids[t]
    for account, initial in sorted(facts.batch.accounts.items()):
        got = final.get(account)
        if got != initial:
            by = last.get(account)
            written = f", last installed by {by}" if by else ""
            c.add(PARTIAL_ROLLBACK, f"{account} is {got} after the atomic batch failed at "
                  f"{culprit}, but was {initial} initially{written}",
                  (culprit, *([by] if by else [])), (account,))
    return c.verdict(f"the atomic batch failed at {culprit} and all "
                     f"{plural(len(facts.batch.accounts), 'account')} hold their initial "
                     "balances")
