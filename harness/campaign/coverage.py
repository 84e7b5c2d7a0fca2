"""Coverage of a campaign: which shapes, boundaries and outcomes its examples exercised.

:data:`FEATURES` specifies every feature as data (name, group, one-line description).
:func:`exercised` is a pure function from one example — its batch, the serial oracle's
result, the runs observed and the contention of its shard — to the names of the features
the example exercised; a campaign counts, per feature, the examples that exercised it, and
reports the features no example exercised as such (:func:`coverage_json`).

The slow transaction a timeout example adds (:mod:`harness.campaign.timeouts`) belongs to the
harness, not to the generated batch: every per-transaction feature (shapes, operation
kinds, batch size, boundaries, outcomes, the position of an atomic failure) leaves it out.
Boundaries are judged from the balances serial execution gives just before each operation:
the batch's account operations are replayed in the oracle's serial order, with the
operations' own semantics, on a plain dict (cost-only operations are skipped; a transaction
that fails leaves nothing behind; an atomic batch stops at its failing transaction).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from aethel.context import ExecutionContext, discard
from aethel.errors import AmountOverflowError, InsufficientFundsError, UndeclaredAccessError
from aethel.model import ATOMIC, INDEPENDENT, MAX_AMOUNT, Batch, Transaction
from aethel.operations import Deposit, Operation, Transfer, Withdraw
from aethel.outcome import ABORTED, COMMITTED
from aethel.trace import INIT
from harness.campaign.protocol import Run
from harness.campaign.strategies import ASSIGN_FUNCTION, TOUCH_FUNCTION
from harness.campaign.timeouts import is_slow_transaction
from harness.checks.oracle import OracleResult


@dataclass(frozen=True)
class Feature:
    """One thing an example may exercise."""

    name: str
    group: str
    description: str


NEAR_MAX = 8
"""A credit ends "near 2^63-1" when the balance it leaves is at most this far below it."""
COST_ONLY = ("sleep", "spin", "hash")
"""Operation kinds that touch no account."""
ACCOUNT_KINDS = ("transfer", "deposit", "withdraw", "read", "assign")
"""Operation kinds whose ordered pairs on one account are features."""
OP_KINDS = (*ACCOUNT_KINDS, "touch", "call", *COST_ONLY)
"""Every operation kind: ``assign`` and ``touch`` are the generator's user operations
(a blind write, an undeclared access), ``call`` any other user operation."""
SIZES = ((1, "1"), (4, "2-4"), (8, "5-8"), (16, "9-16"), (None, "17+"))
"""Batch size buckets: (largest size or None, label)."""
OUTCOMES = {
    "committed": "a transaction commits serially",
    "insufficient funds": "a transaction aborts serially on insufficient funds",
    "overflow": "a transaction aborts serially on a balance leaving [0, 2^63-1]",
    "undeclared access": "a transaction aborts serially on an access outside its declared "
                         "accounts",
    "user error": "a transaction aborts serially because a user operation raised",
    "timeout": "a backend stops the batch at its timeout",
}
_REASONS = {InsufficientFundsError.__name__: "insufficient funds",
            AmountOverflowError.__name__: "overflow",
            UndeclaredAccessError.__name__: "undeclared access"}
"""Exception names that start an oracle reason (``Type: message``), by outcome kind."""
_STOPPED_BY_TIMEOUT = "a timeout"
"""How :func:`harness.campaign.protocol.describe_stop` starts for an execution timeout."""

FEATURES: tuple[Feature, ...] = (
    Feature("shape.multi-op-account", "shapes",
            "a transaction with two or more operations on one account"),
    Feature("shape.read-after-write", "shapes",
            "an operation reads an account an earlier operation of its transaction wrote"),
    Feature("shape.write-after-write", "shapes",
            "an operation writes an account an earlier operation of its transaction wrote"),
    Feature("shape.self-transfer", "shapes", "a transfer from an account to itself"),
    Feature("shape.after-earlier", "shapes",
            "'after' names a transaction earlier in batch order"),
    Feature("shape.after-later", "shapes", "'after' names a transaction later in batch order"),
    Feature("shape.unused-read", "shapes",
            "a declared read account that no operation of the transaction touches"),
    Feature("shape.unused-write", "shapes",
            "a declared write account that no operation of the transaction touches"),
    Feature("shape.empty", "shapes", "a transaction without operations"),
    Feature("shape.cost-only", "shapes",
            "a transaction whose operations are all cost-only (sleep, spin, hash)"),
    *(Feature(f"pair.{first}→{then}", "pairs",
              f"{first} then {then} on one account: consecutive operations of a "
              "transaction on that account")
      for first in ACCOUNT_KINDS for then in ACCOUNT_KINDS),
    Feature("boundary.amount-0", "boundaries", "a transfer, deposit or withdrawal of 0"),
    Feature("boundary.amount-1", "boundaries", "a transfer, deposit or withdrawal of 1"),
    Feature("boundary.debit-balance", "boundaries",
            "a transfer or withdrawal of exactly the balance"),
    Feature("boundary.debit-balance+1", "boundaries",
            "a transfer or withdrawal of the balance plus one"),
    Feature("boundary.debit-balance-1", "boundaries",
            "a transfer or withdrawal of the balance minus one"),
    Feature("boundary.credit-near-max", "boundaries",
            f"a credit that leaves a balance within {NEAR_MAX} of 2^63-1 without overflow"),
    Feature("boundary.credit-overflow", "boundaries", "a credit that would exceed 2^63-1"),
    Feature("boundary.atomic-fails-first", "boundaries",
            "an atomic batch whose failing transaction is first in serial order"),
    Feature("boundary.atomic-fails-middle", "boundaries",
            "an atomic batch whose failing transaction is neither first nor last in serial "
            "order"),
    Feature("boundary.atomic-fails-last", "boundaries",
            "an atomic batch whose failing transaction is last in serial order (a "
            "one-transaction batch counts as first and last)"),
    *(Feature(f"op.{kind}", "operations", f"an operation of kind {kind}")
      for kind in OP_KINDS),
    *(Feature(f"mode.{mode}", "modes", f"a batch in {mode} mode")
      for mode in (INDEPENDENT, ATOMIC)),
    Feature("contention.low", "contention", "a batch of a low-contention shard"),
    Feature("contention.high", "contention",
            "a batch of a high-contention shard (half the accesses hit one account)"),
    *(Feature(f"size.{label}", "sizes",
              f"{'one (or no)' if label == '1' else label} generated transaction"
              f"{'' if label == '1' else 's'} in the batch") for _, label in SIZES),
    *(Feature(f"outcome.{kind}", "outcomes", text) for kind, text in OUTCOMES.items()),
    Feature("timeout.example", "timeouts",
            "a timeout example: the batch behind the slow transaction"),
)
NAMES = frozenset(f.name for f in FEATURES)


def exercised(batch: Batch, oracle: OracleResult | None, runs: Iterable[Run] = (),
              contention: str | None = None) -> frozenset[str]:
    """The names of the features one example exercised: ``batch`` as run, the serial
    oracle's result (None if it did not finish: no boundary or outcome is known), the runs
    observed and the contention of the example's shard."""
    generated = [tx for tx in batch.transactions if not is_slow_transaction(tx)]
    found = {f"mode.{batch.mode}", _size(len(generated))}
    if contention is not None:
        found.add(f"contention.{contention}")
    if len(generated) < len(batch.transactions):
        found.add("timeout.example")
    position = {tx.id: i for i, tx in enumerate(batch.transactions)}
    for tx in generated:
        found |= _shapes(tx, position)
    if oracle is not None:
        found |= _boundaries(batch, oracle)
        for tx in generated:
            found |= _outcome(*oracle.outcomes[tx.id])
        found |= _atomic_failure(batch, oracle)
    if any((run.stopped or "").startswith(_STOPPED_BY_TIMEOUT) for run in runs):
        found.add("outcome.timeout")
    return frozenset(found & NAMES)


def op_kind(op: Operation) -> str:
    """The kind of ``op``, telling the generator's user operations apart."""
    if op.kind == "call":
        return {ASSIGN_FUNCTION: "assign", TOUCH_FUNCTION: "touch"}.get(
            getattr(op, "function", None), "call")
    return op.kind


def _size(n: int) -> str:
    return "size." + next(label for top, label in SIZES if top is None or n <= top)


def _shapes(tx: Transaction, position: Mapping[str, int]) -> set[str]:
    """Shapes, operation kinds and pairs of one transaction."""
    found: set[str] = set()
    kinds = [op_kind(op) for op in tx.ops]
    found.update(f"op.{kind}" for kind in kinds)
    if not tx.ops:
        found.add("shape.empty")
    elif all(kind in COST_ONLY for kind in kinds):
        found.add("shape.cost-only")
    on_account: dict[str, list[str]] = {}
    touched: set[str] = set()
    written: set[str] = set()
    for op, kind in zip(tx.ops, kinds, strict=True):
        if set(op.reads) & written:
            found.add("shape.read-after-write")
        if set(op.writes) & written:
            found.add("shape.write-after-write")
        written.update(op.writes)
        accounts = set(op.reads) | set(op.writes)
        touched |= accounts
        for account in accounts:
            on_account.setdefault(account, []).append(kind)
        if isinstance(op, Transfer) and op.src == op.dst:
            found.add("shape.self-transfer")
    for sequence in on_account.values():
        if len(sequence) > 1:
            found.add("shape.multi-op-account")
            found.update(f"pair.{a}→{b}" for a, b in pairwise(sequence))
    if tx.reads - touched:
        found.add("shape.unused-read")
    if tx.writes - touched:
        found.add("shape.unused-write")
    here = position[tx.id]
    for dep in tx.after:
        found.add("shape.after-earlier" if position[dep] < here else "shape.after-later")
    return found


def _boundaries(batch: Batch, oracle: OracleResult) -> set[str]:
    """Amounts, debits and credits judged against the serial balances before each
    operation."""
    found: set[str] = set()
    state = dict(batch.accounts)
    by_id = {tx.id: tx for tx in batch.transactions}
    for tx_id in oracle.order:
        tx = by_id[tx_id]
        ctx = ExecutionContext(tx, {a: (state[a], INIT) for a in tx.accounts}, 0, 0, discard)
        ok = True
        for op in tx.ops:
            if op.kind in COST_ONLY:
                continue
            found |= _operation_boundaries(op, ctx.writes, state)
            try:
                op.apply(ctx, None)
            # As in the oracle (aethel.context.run_transaction), whatever an operation
            # raises only aborts its transaction.
            except BaseException:
                ok = False
                break
        if ok:
            state.update(ctx.writes)
        if tx_id == oracle.failed:
            break
    return found


def _operation_boundaries(op: Operation, writes: Mapping[str, int], state: Mapping[str, int]
                          ) -> set[str]:
    """The boundaries ``op`` hits, given its transaction's writes so far and the serial
    balances before the transaction."""

    def balance(account: str) -> int:
        return writes.get(account, state[account])

    found: set[str] = set()
    if not isinstance(op, Transfer | Deposit | Withdraw):
        return found
    amount = op.amount
    if amount in (0, 1):
        found.add(f"boundary.amount-{amount}")
    if isinstance(op, Deposit):
        found |= _credit(balance(op.account) + amount)
        return found
    source = op.src if isinstance(op, Transfer) else op.account
    have = balance(source)
    found.update({0: {"boundary.debit-balance"}, 1: {"boundary.debit-balance+1"},
                  -1: {"boundary.debit-balance-1"}}.get(amount - have, set()))
    if isinstance(op, Transfer) and amount <= have:
        found |= _credit(balance(op.dst) - (amount if op.dst == op.src else 0) + amount)
    return found


def _credit(result: int) -> set[str]:
    if result > MAX_AMOUNT:
        return {"boundary.credit-overflow"}
    if result >= MAX_AMOUNT - NEAR_MAX:
        return {"boundary.credit-near-max"}
    return set()


def _outcome(status: str, reason: str | None) -> set[str]:
    if status == COMMITTED:
        return {"outcome.committed"}
    if status != ABORTED:
        return set()  # rolled back or skipped: the atomic failure is counted on its own
    name = (reason or "").partition(":")[0]
    return {f"outcome.{_REASONS.get(name, 'user error')}"}


def _atomic_failure(batch: Batch, oracle: OracleResult) -> set[str]:
    if batch.mode != ATOMIC or oracle.failed is None:
        return set()
    slow = {tx.id for tx in batch.transactions if is_slow_transaction(tx)}
    order = [tx_id for tx_id in oracle.order if tx_id not in slow]
    if oracle.failed not in order:
        return set()
    index = order.index(oracle.failed)
    found = set()
    if index == 0:
        found.add("boundary.atomic-fails-first")
    if index == len(order) - 1:
        found.add("boundary.atomic-fails-last")
    if 0 < index < len(order) - 1:
        found.add("boundary.atomic-fails-middle")
    return found


def coverage_json(counts: Mapping[str, int], examples: int) -> dict[str, Any]:
    """The coverage section of ``summary.json``: every feature with the number of examples
    that exercised it, in specification order, and the names of those none exercised."""
    features = [{"feature": f.name, "group": f.group, "description": f.description,
                 "examples": counts.get(f.name, 0)} for f in FEATURES]
    never = [f["feature"] for f in features if not f["examples"]]
    return {"examples": examples, "features_total": len(features),
            "features_exercised": len(features) - len(never), "features": features,
            "never_exercised": never}


def group_lines(coverage: Mapping[str, Any]) -> list[str]:
    """One line per group of a coverage section: how many of its features were exercised,
    and which never were."""
    lines = []
    for group in dict.fromkeys(f["group"] for f in coverage["features"]):
        rows = [f for f in coverage["features"] if f["group"] == group]
        never = [f["feature"] for f in rows if not f["examples"]]
        line = f"{group}: {len(rows) - len(never)} of {len(rows)} exercised"
        lines.append(line + (f"; never exercised: {', '.join(never)}" if never else ""))
    return lines
