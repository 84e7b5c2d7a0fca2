"""GuardedWithdraw: its serial semantics, its JSON form, the engine's backends against the
serial oracle, and the campaign generator's guarded withdrawals (both outcomes, write skew,
shrinking)."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings

from aethel.batchfile import batch_from_json, batch_to_json
from aethel.context import ExecutionContext, run_transaction
from aethel.errors import BatchFormatError, UndeclaredAccessError, UnknownAccountError
from aethel.executor import ParallelExecutor
from aethel.model import MAX_AMOUNT, Batch, Transaction
from aethel.operations import Context, GuardedWithdraw
from aethel.trace import INIT, READ, WRITE, Event
from harness.campaign.strategies import CAMPAIGN_OPS, OPS, batches
from harness.checks import serial_oracle
from tests.test_strategies import examples, minimal

BACKENDS = ("serial", "thread", "process")
PASSED, BLOCKED, FAILED = "passed", "blocked", "failed"


@pytest.fixture(scope="module")
def executors():
    made = {backend: ParallelExecutor(backend, 1 if backend == "serial" else 2)
            for backend in BACKENDS}
    yield made
    for executor in made.values():
        executor.close()


def run_one(op: GuardedWithdraw, accounts: dict[str, int]):
    """Run ``op`` as the only operation of a transaction: (result, events recorded)."""
    events: list[Event] = []
    tx = Transaction("t", (op,))
    snapshot = {a: (accounts[a], INIT) for a in tx.accounts}
    return run_transaction(0, tx, snapshot, 0, 0, events.append), events


# Semantics


@pytest.mark.parametrize(("floor", "writes"), [(6, {"a": 2}), (7, {"a": 2}), (8, {})])
def test_the_guard_passes_down_to_exactly_the_floor_and_blocks_one_above(floor, writes):
    """a + b - amount = 5 + 5 - 3 = 7: a floor of 7 passes, 8 blocks."""
    result, _ = run_one(GuardedWithdraw("a", "b", 3, floor), {"a": 5, "b": 5})
    assert result.ok and result.writes == writes


def test_a_blocked_withdrawal_has_no_effect_and_does_not_fail():
    result, _ = run_one(GuardedWithdraw("a", "b", 50, 0), {"a": 1, "b": 1})
    assert result.ok and result.reason is None and result.writes == {}


def test_a_withdrawal_the_guard_lets_through_fails_like_withdraw_if_the_account_is_short():
    result, _ = run_one(GuardedWithdraw("a", "b", 5, 0), {"a": 4, "b": 10})
    assert not result.ok
    assert result.reason == ("InsufficientFundsError: insufficient funds: a has 4, "
                             "withdrawal needs 5")


@pytest.mark.parametrize(("amount", "ok", "writes"), [(3, True, {"a": 0}), (4, False, {}),
                                                      (9, True, {})])
def test_a_negative_floor_lets_the_guard_pass_beyond_the_pair_total(amount, ok, writes):
    """a + b = 3 with a floor of -5: amounts up to 8 pass the guard, and a can pay 3."""
    result, _ = run_one(GuardedWithdraw("a", "b", amount, -5), {"a": 3, "b": 0})
    assert result.ok is ok and result.writes == writes


@pytest.mark.parametrize(("floor", "writes"), [(6, {"a": 6}), (7, {})])
def test_an_account_guarded_with_itself_is_counted_once(floor, writes):
    """10 - 4 = 6: a floor of 6 passes, 7 blocks."""
    op = GuardedWithdraw("a", "a", 4, floor)
    assert op.reads == ("a", "a") and op.writes == ("a",)
    result, events = run_one(op, {"a": 10})
    assert result.ok and result.writes == writes
    assert [e.account for e in events if e.kind == READ] == ["a"]


@pytest.mark.parametrize(("floor", "installed"), [(1, ["a"]), (2, [])])
def test_reads_both_accounts_and_writes_at_most_its_own(executors, floor, installed):
    op = GuardedWithdraw("a", "b", 1, floor)
    assert op.kind == "guarded_withdraw" and op.reads == ("a", "b") and op.writes == ("a",)
    tx = Transaction("t", (op,))
    assert tx.reads == {"a", "b"} and tx.writes == {"a"}
    _, events = run_one(op, {"a": 1, "b": 1})
    assert [e.account for e in events if e.kind == READ] == ["a", "b"]
    for executor in executors.values():
        result = executor.execute(Batch({"a": 1, "b": 1}, (tx,)))
        assert sorted(e.account for e in result.execution_trace if e.kind == READ) == ["a", "b"]
        assert [e.account for e in result.execution_trace if e.kind == WRITE] == installed
        assert result.final_versions == {"a": "t" if installed else INIT, "b": INIT}


@dataclass(frozen=True)
class HidingOther:
    """A guarded withdrawal that does not declare its ``other`` account."""

    op: GuardedWithdraw
    kind: str = "hiding"

    @property
    def reads(self) -> tuple[str, ...]:
        return (self.op.account,)

    @property
    def writes(self) -> tuple[str, ...]:
        return (self.op.account,)

    def apply(self, ctx: Context, cancel: threading.Event | None) -> None:
        self.op.apply(ctx, cancel)

    def cost_us(self) -> float:
        return self.op.cost_us()


def test_every_access_goes_through_the_context_which_rejects_undeclared_ones(executors):
    batch = Batch({"a": 5, "b": 5}, (Transaction("t", (HidingOther(GuardedWithdraw(
        "a", "b", 1, 0)),)),))
    for executor in executors.values():
        result = executor.execute(batch)
        assert result.outcomes["t"].status == "aborted"
        assert result.outcomes["t"].reason == ("UndeclaredAccessError: read of undeclared "
                                               "account 'b'")
        assert result.final_states == {"a": 5, "b": 5}
    reading = Transaction("r", (), reads=frozenset({"a", "b"}))
    ctx = ExecutionContext(reading, {"a": (5, INIT), "b": (5, INIT)}, 0, 0, lambda e: None)
    with pytest.raises(UndeclaredAccessError, match="write to undeclared account 'a'"):
        GuardedWithdraw("a", "b", 1, 0).apply(ctx, None)


# The batch format


def doc(**fields) -> dict:
    op = {"op": "guarded_withdraw", "account": "a", "other": "b", "amount": 1, "floor": 0}
    op.update(fields)
    return {"accounts": {"a": 1, "b": 1},
            "transactions": [{"id": "t1", "ops": [{k: v for k, v in op.items()
                                                   if v is not None}]}]}


@pytest.mark.parametrize("floor", [0, 1, -1, MAX_AMOUNT, -MAX_AMOUNT])
def test_json_round_trip(floor):
    batch = batch_from_json(doc(floor=floor))
    assert batch.transactions[0].ops == (GuardedWithdraw("a", "b", 1, floor),)
    assert batch_to_json(batch)["transactions"][0]["ops"] == [
        {"op": "guarded_withdraw", "account": "a", "other": "b", "amount": 1, "floor": floor}]
    assert batch_from_json(json.loads(json.dumps(batch_to_json(batch)))) == batch


def test_an_account_guarded_with_itself_round_trips():
    batch = batch_from_json(doc(other="a"))
    assert batch.transactions[0].ops == (GuardedWithdraw("a", "a", 1, 0),)
    assert batch_from_json(batch_to_json(batch)) == batch


@pytest.mark.parametrize(("fields", "where", "message"), [
    ({"other": None}, "transactions[0].ops[0]", "missing field 'other'"),
    ({"floor": None}, "transactions[0].ops[0]", "missing field 'floor'"),
    ({"other": ""}, "transactions[0].ops[0].other", "must be a non-empty account name, got ''"),
    ({"account": 7}, "transactions[0].ops[0].account", "must be a non-empty account name, got 7"),
    ({"amount": -1}, "transactions[0].ops[0].amount", "must be in [0, 2^63-1], got -1"),
    ({"amount": 2**63}, "transactions[0].ops[0].amount", f"must be in [0, 2^63-1], got {2**63}"),
    ({"floor": 1.5}, "transactions[0].ops[0].floor", "must be an integer, got 1.5"),
    ({"floor": True}, "transactions[0].ops[0].floor", "must be an integer, got True"),
    ({"floor": "0"}, "transactions[0].ops[0].floor", "must be an integer, got '0'"),
    ({"floor": 2**63}, "transactions[0].ops[0].floor",
     f"must be in [-(2^63-1), 2^63-1], got {2**63}"),
    ({"floor": -2**63}, "transactions[0].ops[0].floor",
     f"must be in [-(2^63-1), 2^63-1], got {-2**63}"),
    ({"limit": 3}, "transactions[0].ops[0]", "unknown field 'limit'"),
])
def test_invalid_fields_are_named_in_one_sentence(fields, where, message):
    with pytest.raises(BatchFormatError) as err:
        batch_from_json(doc(**fields))
    assert err.value.where == where
    assert str(err.value) == f"{where}: {message}"


def test_an_unknown_other_account_is_rejected():
    with pytest.raises(UnknownAccountError) as err:
        batch_from_json(doc(other="zed"))
    assert err.value.where == "transactions[0]" and "'zed'" in str(err.value)


@pytest.mark.parametrize("floor", [2**63, -2**63, 0.5])
def test_a_batch_built_in_python_checks_the_floor_too(floor):
    with pytest.raises(BatchFormatError) as err:
        Batch({"a": 1, "b": 1}, (Transaction("t", (GuardedWithdraw("a", "b", 1, floor),)),))
    assert err.value.where == "transactions[0].ops[0].floor"


def test_the_documented_write_skew_example_runs_as_documented(executors):
    text = Path("docs/batch-format.md").read_text()
    [example] = [block for block in re.findall(r"```json\n(.*?)```", text, re.S)
                 if "guarded_withdraw" in block]
    batch = batch_from_json(json.loads(example))
    oracle = serial_oracle(batch)
    assert oracle.final_state == {"alice": 0, "bob": 1}
    assert oracle.outcomes == {"t1": ("committed", None), "t2": ("committed", None)}
    for executor in executors.values():
        result = executor.execute(batch)
        assert result.final_states == oracle.final_state
        assert {t: o.status for t, o in result.outcomes.items()} == {"t1": "committed",
                                                                     "t2": "committed"}


# The engine against the serial oracle


def has_guarded(batch: Batch) -> bool:
    return any(isinstance(op, GuardedWithdraw) for tx in batch.transactions for op in tx.ops)


@settings(max_examples=12)
@given(batch=batches(max_transactions=8, contention="high", ops=CAMPAIGN_OPS)
       .filter(has_guarded))
def test_every_backend_agrees_with_the_serial_oracle(executors, batch):
    oracle = serial_oracle(batch)
    for executor in executors.values():
        result = executor.execute(batch)
        assert result.final_states == oracle.final_state
        assert {t: (o.status, o.reason) for t, o in result.outcomes.items()} == oracle.outcomes


# The generator


class _Spy:
    """A context that notes whether the operation applied through it wrote."""

    def __init__(self, ctx: ExecutionContext) -> None:
        self.ctx = ctx
        self.wrote = False

    def read(self, account: str) -> int:
        return self.ctx.read(account)

    def write(self, account: str, value: int) -> None:
        self.wrote = True
        self.ctx.write(account, value)


def guard_outcomes(batch: Batch) -> list[tuple[str, GuardedWithdraw, str]]:
    """Every guarded withdrawal of ``batch`` run serially, in serial order, with its
    transaction and whether it passed, was blocked or failed."""
    oracle = serial_oracle(batch)
    by_id = {tx.id: tx for tx in batch.transactions}
    state = dict(batch.accounts)
    found = []
    for tx_id in oracle.order:
        tx = by_id[tx_id]
        ctx = ExecutionContext(tx, {a: (state[a], INIT) for a in tx.accounts}, 0, 0,
                               lambda e: None)
        ok = True
        for op in tx.ops:
            spy = _Spy(ctx)
            try:
                op.apply(spy, None)
            except Exception:
                ok = False
            if isinstance(op, GuardedWithdraw):
                found.append((tx_id, op, FAILED if not ok else PASSED if spy.wrote else BLOCKED))
            if not ok:
                break
        if ok:
            state.update(ctx.writes)
        if tx_id == oracle.failed:
            break
    return found


def is_write_skew(batch: Batch) -> bool:
    """Whether a guarded withdrawal passes and a later one, in another transaction, from the
    other side of the same pair is blocked (the serial half of write skew)."""
    outcomes = guard_outcomes(batch)
    return any(t != u and x.account != x.other and (y.account, y.other) == (x.other, x.account)
               and r == PASSED and s == BLOCKED
               for i, (t, x, r) in enumerate(outcomes) for u, y, s in outcomes[i + 1:])


def test_the_campaign_mix_has_guarded_withdrawals_and_the_default_mix_does_not():
    assert "guarded_withdraw" in CAMPAIGN_OPS and "guarded_withdraw" not in OPS
    assert not any(map(has_guarded, examples(100)))


def test_guards_passing_and_guards_blocking_are_both_common_in_the_campaign_mix():
    outcomes = [r for batch in examples(400, ops=CAMPAIGN_OPS)
                for _, _, r in guard_outcomes(batch)]
    assert len(outcomes) >= 150
    for kind in (PASSED, BLOCKED):
        assert outcomes.count(kind) / len(outcomes) >= 0.25
    assert FAILED in outcomes


def test_withdrawals_from_the_two_sides_of_a_pair_make_write_skew():
    assert sum(map(is_write_skew, examples(200, ops=("guarded_withdraw",)))) >= 5


def test_write_skew_shrinks_to_two_transactions_on_two_accounts_holding_one():
    batch = minimal(is_write_skew, ops=("guarded_withdraw",))
    assert batch.accounts == {"acct0": 1, "acct1": 1}
    assert [tx.ops for tx in batch.transactions] == [
        (GuardedWithdraw("acct0", "acct1", 1, 0),), (GuardedWithdraw("acct1", "acct0", 1, 1),)]


def test_a_blocked_guarded_withdrawal_shrinks_to_one_transaction():
    batch = minimal(lambda b: BLOCKED in [r for _, _, r in guard_outcomes(b)], ops=CAMPAIGN_OPS)
    assert batch.accounts == {"acct0": 1, "acct1": 1}
    assert [tx.ops for tx in batch.transactions] == [(GuardedWithdraw("acct0", "acct1", 1, 2),)]


def test_a_passing_guarded_withdrawal_shrinks_to_one_transaction_with_a_floor_of_zero():
    batch = minimal(lambda b: PASSED in [r for _, _, r in guard_outcomes(b)], ops=CAMPAIGN_OPS)
    [tx] = batch.transactions
    assert tx.ops[0] == GuardedWithdraw("acct0", "acct1", 1, 0)
