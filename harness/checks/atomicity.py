"""Atomicity: failures leave nothing behind.

* Any mode: a transaction that ended with ABORT, or an attempt of it that was run again,
  has no WRITE in the trace.
* Atomic mode: if the batch failed (the trace shows a transaction failing, or serial
  execution fails), the final state is exactly the initial state.
* A stopped batch (the executor raised an ExecutionError: a timeout, a lost worker): the
  final state it carried is exactly the initial state or, in independent mode, exactly the
  state after the transactions the trace shows committed, run serially in the order the
  facts are judged in (by the checker); any transaction the trace does not show committed
  left nothing.
"""

from __future__ import annotations

from aethel.model import ATOMIC
from aethel.trace import ABORT
from harness.checks.anomalies import ABORTED_WRITE, KEPT_WRITE, PARTIAL_ROLLBACK
from harness.checks.facts import Facts
from harness.checks.oracle import OracleResult, serial_state
from harness.checks.verdict import ATOMICITY, Collector, Verdict, plural


def check_atomicity(facts: Facts, oracle: OracleResult | None = None) -> Verdict:
    """No write of an aborted transaction; a failed atomic batch restores every balance."""
    c = Collector(ATOMICITY)
    ids, plain = facts.ids, facts.plain
    # in a plain trace every transaction with an install ended: aborted, or committed
    writes = facts.writes if plain is None or not plain.committed[plain.wt].all() else ()
    for _, t, account, value, _ in writes:
        if facts.end_kind[t] == ABORT:
            c.add(ABORTED_WRITE, f"{ids[t]} aborted ({facts.reason[t]}), but the trace shows "
                  f"its install of {account}={value}", (ids[t],), (account,))
    for p, t, account, value, _ in facts.retried_writes:
        reason = facts.attempt_reason(t, p)
        why = f" ({reason})" if reason else ""
        c.add(ABORTED_WRITE, f"an attempt of {ids[t]} aborted{why} and was run again, but the "
              f"trace shows its install of {account}={value}", (ids[t],), (account,))
    if facts.stopped is not None:
        return _check_stopped(c, facts)
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
    last = {account: ids[t] for account, (_, t) in facts.last_install.items()}
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


def _check_stopped(c: Collector, facts: Facts) -> Verdict:
    """A stopped batch: rolled back, or (independent mode) exactly its committed part."""
    ids, initial = facts.ids, facts.batch.accounts
    final = dict(facts.final_state or {})
    committed = [ids[t] for t in facts.order if facts.committed[t]]
    accounts = plural(len(initial), "account")
    if final == initial:
        return c.verdict(f"the executor reported {facts.stopped} and all {accounts} hold their "
                         "initial balances")
    after = serial_state(facts.batch, set(committed), facts.order) \
        if facts.mode != ATOMIC else None
    shown = f"{plural(len(committed), 'transaction')} the trace shows committed"
    if final == after:
        return c.verdict(f"the executor reported {facts.stopped} and all {accounts} hold the "
                         f"balances after exactly the {shown}, run serially")
    last = {account: ids[t] for account, (_, t) in facts.last_install.items()}
    for account, want in sorted(initial.items()):
        got = final.get(account)
        if got == want or (after is not None and got == after[account]):
            continue
        if got is None:
            kept = f"its final balances omit {account} (initially {want})"
        elif account in last:
            kept = f"its final balances keep {last[account]}'s write to {account}: {got} " \
                   f"instead of {want}"
        else:
            kept = f"its final balance of {account} is {got} instead of {want}"
        if after is not None:
            kept += f" (or {after[account]} after exactly the {shown}, run serially)"
        c.add(KEPT_WRITE, f"the executor reported {facts.stopped}, but {kept}",
              tuple(t for t in [last.get(account)] if t), (account,))
    if not c.count:
        c.add(KEPT_WRITE, f"the executor reported {facts.stopped}, but its final balances "
              f"are neither all initial nor all those after exactly the {shown}, run "
              f"serially: they mix both", accounts=tuple(sorted(initial)))
    return c.verdict("")
