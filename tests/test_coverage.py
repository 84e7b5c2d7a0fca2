"""Campaign coverage: every feature is recognised on a batch made to exercise it and not on
one made not to; campaigns count features per example, the same whatever ``--jobs``, and
every report shows them, the features never exercised named as such."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from aethel.model import ATOMIC, INDEPENDENT, MAX_AMOUNT, Batch, Transaction
from aethel.operations import (
    Call,
    Deposit,
    Hash,
    Operation,
    Read,
    Sleep,
    Spin,
    Transfer,
    Withdraw,
)
from harness.campaign import close_executors
from harness.campaign.coverage import ACCOUNT_KINDS, FEATURES, NAMES, coverage_json, exercised
from harness.campaign.protocol import Run
from harness.campaign.strategies import ASSIGN_FUNCTION, FAILING_FUNCTION, TOUCH_FUNCTION
from harness.campaign.timeouts import with_slow_transaction
from harness.checks.oracle import serial_oracle
from harness.cli import main
from harness.report.campaign import render_html, render_markdown

ACCOUNTS = {"a": 5, "b": 5, "c": 5, "d": 5}


@pytest.fixture(autouse=True)
def _close_cached_executors():
    yield
    close_executors()


@dataclass(frozen=True)
class Example:
    """One example as a campaign sees it."""

    batch: Batch
    runs: tuple[Run, ...] = ()
    contention: str | None = None

    def features(self) -> frozenset[str]:
        return exercised(self.batch, serial_oracle(self.batch), self.runs, self.contention)


def batch(*txs: Transaction | tuple[Operation, ...], mode: str = INDEPENDENT,
          accounts: dict[str, int] | None = None) -> Example:
    """An example of transactions t0, t1, … (a tuple of operations is one transaction)."""
    made = [tx if isinstance(tx, Transaction) else Transaction(f"t{i}", tx)
            for i, tx in enumerate(txs)]
    return Example(Batch(accounts or ACCOUNTS, made, mode))


def one(*ops: Operation, **kwargs) -> Example:
    """An example of one transaction."""
    return batch(tuple(ops), **kwargs)


def on(kind: str, account: str, other: str) -> Operation:
    """An operation of ``kind`` on ``account`` (a transfer pays ``other``)."""
    return {"transfer": lambda: Transfer(account, other, 1),
            "deposit": lambda: Deposit(account, 1),
            "withdraw": lambda: Withdraw(account, 1),
            "read": lambda: Read(account),
            "assign": lambda: Call(ASSIGN_FUNCTION, (), (account,),
                                   (("account", account), ("value", 3)))}[kind]()


def stopped(reason: str | None) -> Example:
    run = Run("thread", 2, {}, {}, [], stopped=reason)
    return Example(one(Read("a")).batch, (run,))


def sized(n: int) -> Example:
    return batch(*((Read("a"),) for _ in range(n)))


FAILS = Withdraw("a", 100)
CASES: dict[str, tuple[Callable[[], Example], Callable[[], Example]]] = {
    "shape.multi-op-account": (lambda: one(Deposit("a", 1), Withdraw("a", 1)),
                               lambda: one(Deposit("a", 1), Withdraw("b", 1))),
    "shape.read-after-write": (lambda: one(Deposit("a", 1), Read("a")),
                               lambda: one(Read("a"), Deposit("a", 1))),
    "shape.write-after-write": (lambda: one(Deposit("a", 1), Withdraw("a", 1)),
                                lambda: one(Read("a"), Deposit("a", 1))),
    "shape.self-transfer": (lambda: one(Transfer("a", "a", 1)),
                            lambda: one(Transfer("a", "b", 1))),
    "shape.after-earlier": (lambda: batch((Read("a"),), Transaction("t1", (Read("a"),),
                                                                    after=("t0",))),
                            lambda: batch((Read("a"),), (Read("a"),))),
    "shape.after-later": (lambda: batch(Transaction("t0", (Read("a"),), after=("t1",)),
                                        Transaction("t1", (Read("a"),))),
                          lambda: batch((Read("a"),), Transaction("t1", (Read("a"),),
                                                                  after=("t0",)))),
    "shape.unused-read": (lambda: batch(Transaction("t0", (Deposit("a", 1),),
                                                    reads=frozenset({"b"}))),
                          lambda: one(Deposit("a", 1), Read("b"))),
    "shape.unused-write": (lambda: batch(Transaction("t0", (Read("a"),),
                                                     writes=frozenset({"b"}))),
                           lambda: one(Read("a"), Deposit("b", 1))),
    "shape.empty": (lambda: batch((), (Read("a"),)), lambda: one(Read("a"))),
    "shape.cost-only": (lambda: one(Spin(us=1), Sleep(0.0)), lambda: one(Spin(us=1), Read("a"))),
    **{f"pair.{first}→{then}": (
        lambda first=first, then=then: one(on(first, "a", "b"), on(then, "a", "c")),
        lambda first=first, then=then: one(on(first, "a", "b"), on(then, "c", "d")))
       for first in ACCOUNT_KINDS for then in ACCOUNT_KINDS},
    "boundary.amount-0": (lambda: one(Deposit("a", 0)), lambda: one(Deposit("a", 2))),
    "boundary.amount-1": (lambda: one(Deposit("a", 1)), lambda: one(Deposit("a", 2))),
    "boundary.debit-balance": (lambda: one(Withdraw("a", 5)), lambda: one(Withdraw("a", 3))),
    "boundary.debit-balance+1": (lambda: one(Transfer("a", "b", 6)),
                                 lambda: one(Transfer("a", "b", 7))),
    "boundary.debit-balance-1": (lambda: one(Withdraw("a", 4)), lambda: one(Withdraw("a", 3))),
    "boundary.credit-near-max": (
        lambda: one(Transfer("b", "a", 5), accounts={"a": MAX_AMOUNT - 10, "b": 5}),
        lambda: one(Transfer("b", "a", 1), accounts={"a": MAX_AMOUNT - 100, "b": 5})),
    "boundary.credit-overflow": (
        lambda: one(Deposit("a", 1), accounts={"a": MAX_AMOUNT}),
        lambda: one(Deposit("a", 0), accounts={"a": MAX_AMOUNT})),
    "boundary.atomic-fails-first": (lambda: batch((FAILS,), (Read("a"),), mode=ATOMIC),
                                    lambda: batch((FAILS,), (Read("a"),))),
    "boundary.atomic-fails-middle": (
        lambda: batch((Read("a"),), (FAILS,), (Read("a"),), mode=ATOMIC),
        lambda: batch((Read("a"),), (Read("a"),), (FAILS,), mode=ATOMIC)),
    "boundary.atomic-fails-last": (lambda: batch((Read("a"),), (FAILS,), mode=ATOMIC),
                                   lambda: batch((Read("a"),), (Read("b"),), mode=ATOMIC)),
    **{f"op.{kind}": (lambda kind=kind: one(on(kind, "a", "b")), lambda: one(Read("b"),
                                                                             Hash(1)))
       for kind in ACCOUNT_KINDS if kind != "read"},
    "op.read": (lambda: one(Read("a")), lambda: one(Deposit("a", 1))),
    "op.touch": (lambda: one(Call(TOUCH_FUNCTION, (), (), (("account", "a"),))),
                 lambda: one(Read("a"))),
    "op.call": (lambda: one(Call(FAILING_FUNCTION)),
                lambda: one(Call(TOUCH_FUNCTION, (), (), (("account", "a"),)))),
    "op.sleep": (lambda: one(Sleep(0.0)), lambda: one(Spin(us=1))),
    "op.spin": (lambda: one(Spin(iterations=1)), lambda: one(Sleep(0.0))),
    "op.hash": (lambda: one(Hash(1)), lambda: one(Read("a"))),
    "mode.independent": (lambda: one(Read("a")), lambda: one(Read("a"), mode=ATOMIC)),
    "mode.atomic": (lambda: one(Read("a"), mode=ATOMIC), lambda: one(Read("a"))),
    "contention.low": (lambda: Example(one(Read("a")).batch, contention="low"),
                       lambda: Example(one(Read("a")).batch, contention="high")),
    "contention.high": (lambda: Example(one(Read("a")).batch, contention="high"),
                        lambda: Example(one(Read("a")).batch)),
    "size.1": (lambda: sized(1), lambda: sized(2)),
    "size.2-4": (lambda: sized(4), lambda: sized(5)),
    "size.5-8": (lambda: sized(5), lambda: sized(9)),
    "size.9-16": (lambda: sized(16), lambda: sized(8)),
    "size.17+": (lambda: sized(17), lambda: sized(16)),
    "outcome.committed": (lambda: one(Read("a")), lambda: one(FAILS)),
    "outcome.insufficient funds": (lambda: one(FAILS), lambda: one(Withdraw("a", 5))),
    "outcome.overflow": (lambda: one(Deposit("a", 1), accounts={"a": MAX_AMOUNT}),
                         lambda: one(Deposit("a", 1))),
    "outcome.undeclared access": (lambda: one(Call(TOUCH_FUNCTION, (), (), (("account", "a"),))),
                                  lambda: one(Call(FAILING_FUNCTION))),
    "outcome.user error": (lambda: one(Call(FAILING_FUNCTION)), lambda: one(FAILS)),
    "outcome.timeout": (lambda: stopped("a timeout (batch exceeded its 0.05 s timeout)"),
                        lambda: stopped("a WorkerCrashedError (worker 1 died)")),
    "timeout.example": (lambda: Example(with_slow_transaction(one(Read("a")).batch)),
                        lambda: batch(Transaction("slow", (Sleep(1.0),)), mode=ATOMIC)),
}


def test_every_feature_has_a_case_and_a_unique_name():
    assert len(NAMES) == len(FEATURES)
    assert set(CASES) == NAMES
    assert all(f.description and f.group for f in FEATURES)


@pytest.mark.parametrize("name", list(CASES))
def test_a_feature_is_exercised_by_its_example_and_not_by_its_counterpart(name):
    make, counterpart = CASES[name]
    found = make().features()
    assert name in found and found <= NAMES, sorted(found)
    assert name not in counterpart().features()


def test_boundaries_are_judged_from_the_serial_balance_before_the_operation():
    # a (5) after t0's deposit of 2 holds 7, so a withdrawal of 7 takes exactly the balance
    later = batch((Deposit("a", 2),), (Withdraw("a", 7),)).features()
    within = one(Deposit("a", 2), Withdraw("a", 8)).features()
    after_failure = batch((Deposit("a", 2), FAILS), (Withdraw("a", 6),)).features()
    assert "boundary.debit-balance" in later and "boundary.debit-balance" not in \
        one(Withdraw("a", 7)).features()
    assert "boundary.debit-balance+1" in within
    assert "boundary.debit-balance+1" in after_failure  # t0 failed: a still holds 5
    # a transaction ordered after a later one runs after it serially
    forward = batch(Transaction("t0", (Withdraw("a", 8),), after=("t1",)),
                    Transaction("t1", (Deposit("a", 3),))).features()
    assert "boundary.debit-balance" in forward


def test_the_slow_transaction_of_a_timeout_example_is_the_harness_s_not_the_batch_s():
    found = Example(with_slow_transaction(one(Read("a")).batch)).features()
    assert {"timeout.example", "size.1", "mode.atomic", "op.read"} <= found
    assert not {"op.sleep", "shape.cost-only", "size.2-4"} & found
    assert "boundary.atomic-fails-first" in Example(
        with_slow_transaction(one(FAILS).batch)).features()


def test_without_the_oracle_only_what_the_batch_shows_is_counted():
    example = one(Withdraw("a", 5))
    found = exercised(example.batch, None, (), "low")
    assert found == {"op.withdraw", "mode.independent", "size.1", "contention.low"}


def test_the_summary_section_lists_every_feature_and_the_never_exercised():
    section = coverage_json({"mode.atomic": 3, "op.read": 2}, 4)
    assert section["examples"] == 4 and section["features_exercised"] == 2
    assert section["features_total"] == len(FEATURES)
    assert [f["feature"] for f in section["features"]] == [f.name for f in FEATURES]
    assert set(section["never_exercised"]) == NAMES - {"mode.atomic", "op.read"}
    summary = {"ok": True, "complete": True, "examples": 4, "seconds": 1.0,
               "throughput_examples_per_s": 4.0, "properties": {},
               "config": {"executor": "aethel", "backends": ["thread"], "workers": 2,
                          "jobs": 1, "examples": 4, "profile": "quick", "seed": 0},
               "coverage": section}
    markdown = render_markdown(summary)
    assert "## Coverage" in markdown and "2 of " in markdown
    assert "| modes | mode.atomic | 3 | exercised |" in markdown
    assert "| shapes | shape.empty | 0 | never exercised |" in markdown
    assert "never exercised: shape.multi-op-account" in markdown
    page = render_html(summary)
    assert "<h2>Coverage</h2>" in page and page.count("never exercised") >= len(FEATURES) - 2


def verify(tmp_path: Path, jobs: int) -> tuple[dict, str, Path]:
    result = CliRunner().invoke(main, ["verify", "--backends", "thread", "--examples", "60",
                                       "--seed", "3", "--jobs", str(jobs), "--report",
                                       str(tmp_path / str(jobs))])
    assert result.exit_code == 0, result.output
    folder = next((tmp_path / str(jobs)).iterdir())
    return json.loads((folder / "summary.json").read_text()), result.output, folder


def test_coverage_is_the_same_for_any_jobs_and_in_every_report(tmp_path):
    one_job, output, folder = verify(tmp_path, 1)
    two_jobs, _, _ = verify(tmp_path, 2)
    assert one_job["coverage"] == two_jobs["coverage"]
    assert one_job["batches_digest"] == two_jobs["batches_digest"]
    coverage = one_job["coverage"]
    counts = {f["feature"]: f["examples"] for f in coverage["features"]}
    assert coverage["examples"] == 60 and set(counts) == NAMES
    assert counts["contention.low"] + counts["contention.high"] == 60
    assert counts["mode.atomic"] + counts["mode.independent"] == 60
    assert sum(n for name, n in counts.items() if name.startswith("size.")) == 60
    assert counts["timeout.example"] == 2  # shards 0 and 2
    assert coverage["never_exercised"] == [n for n, c in counts.items() if not c]
    line = re.search(r"coverage: (\d+) of (\d+) features exercised in 60 examples", output)
    assert line and int(line.group(2)) == len(FEATURES)
    assert int(line.group(1)) == coverage["features_exercised"]
    for never in coverage["never_exercised"]:
        assert never in output
    markdown = (folder / "summary.md").read_text()
    page = (folder / "index.html").read_text()
    assert "## Coverage" in markdown and "<h2>Coverage</h2>" in page
    for feature in coverage["features"]:
        assert f"| {feature['feature']} | {feature['examples']} |" in markdown
