"""The batch JSON format: round trips and errors that name the field."""

from __future__ import annotations

import json

import pytest

from aethel.allowed import ENV
from aethel.batchfile import batch_from_json, batch_to_json, load_batch, loads_batch
from aethel.errors import (
    BatchFormatError,
    DuplicateTransactionError,
    InputError,
    UnknownAccountError,
    UnknownDependencyError,
)
from aethel.operations import Call, Deposit, Hash, Read, Sleep, Spin, Transfer, Withdraw

EXAMPLE = "docs/examples/transfers.json"


def test_example_file_loads_and_round_trips():
    batch = load_batch(EXAMPLE)
    assert len(batch) == 7
    kinds = {type(op) for tx in batch.transactions for op in tx.ops}
    assert kinds == {Transfer, Deposit, Withdraw, Read, Spin, Hash, Sleep, Call}
    again = batch_from_json(json.loads(json.dumps(batch_to_json(batch))))
    assert again == batch


def test_extra_declared_accounts_are_added_to_the_sets():
    batch = batch_from_json({"accounts": {"a": 1, "b": 2}, "transactions": [
        {"id": "t1", "ops": [{"op": "read", "account": "a"}], "reads": ["b"], "writes": ["b"]}]})
    tx = batch.transactions[0]
    assert tx.reads == {"a", "b"} and tx.writes == {"b"}
    assert batch_from_json(batch_to_json(batch)) == batch


def doc(**tx_fields):
    return {"accounts": {"a": 10, "b": 0},
            "transactions": [{"id": "t1", "ops": [{"op": "transfer", "from": "a", "to": "b",
                                                   "amount": 1}], **tx_fields}]}


@pytest.mark.parametrize("amount", [-1, 1.5, True, 2**63, "5", None])
def test_bad_amounts_name_the_field(amount):
    bad = doc()
    bad["transactions"][0]["ops"][0]["amount"] = amount
    with pytest.raises(BatchFormatError) as err:
        batch_from_json(bad)
    assert err.value.where == "transactions[0].ops[0].amount"


@pytest.mark.parametrize("mutate, where, error", [
    (lambda d: d.pop("accounts"), "accounts", BatchFormatError),
    (lambda d: d.update(mode="sometimes"), "mode", BatchFormatError),
    (lambda d: d["accounts"].update(a=-3), "accounts.a", BatchFormatError),
    (lambda d: d["transactions"][0].update(id=7), "transactions[0].id", BatchFormatError),
    (lambda d: d["transactions"][0]["ops"][0].update(op="steal"), "transactions[0].ops[0].op",
     BatchFormatError),
    (lambda d: d["transactions"][0]["ops"][0].pop("to"), "transactions[0].ops[0]",
     BatchFormatError),
    (lambda d: d["transactions"][0]["ops"][0].update(to="zed"), "transactions[0]",
     UnknownAccountError),
    (lambda d: d["transactions"][0].update(after=["t9"]), "transactions[0].after",
     UnknownDependencyError),
    (lambda d: d["transactions"].append(dict(d["transactions"][0])), "transactions[1].id",
     DuplicateTransactionError),
    (lambda d: d["transactions"][0].update(colour="red"), "transactions[0]", BatchFormatError),
])
def test_invalid_documents_name_the_field(mutate, where, error):
    bad = doc()
    mutate(bad)
    with pytest.raises(error) as err:
        batch_from_json(bad)
    assert err.value.where == where


def test_unimportable_user_operation_is_rejected_at_load(monkeypatch):
    monkeypatch.setenv(ENV, "no.such.module")
    bad = doc()
    bad["transactions"][0]["ops"] = [{"op": "call", "function": "no.such.module:fn"}]
    with pytest.raises(BatchFormatError, match="cannot import 'no.such.module:fn'"):
        batch_from_json(bad)


def test_not_json_and_oversized_files_are_rejected(tmp_path):
    with pytest.raises(InputError, match="not valid JSON"):
        loads_batch(b"{nope")
    path = tmp_path / "big.json"
    path.write_text(json.dumps(doc()))
    with pytest.raises(InputError, match="over the 10-byte limit"):
        load_batch(path, max_bytes=10)
    with pytest.raises(InputError, match="cannot read"):
        load_batch(tmp_path / "missing.json")
