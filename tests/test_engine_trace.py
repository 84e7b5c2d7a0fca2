"""Trace export and import (docs/trace-format.md)."""

from __future__ import annotations

import pytest

from aethel.context import run_transaction
from aethel.errors import InputError
from aethel.executor import ParallelExecutor
from aethel.model import Batch, Transaction
from aethel.operations import Read, Transfer, Withdraw
from aethel.trace import Event, TraceColumns, parse_jsonl, read_jsonl, write_jsonl


def test_trace_round_trips_through_jsonl(tmp_path):
    batch = Batch({"a": 10, "b": 0}, [
        Transaction("t1", (Transfer("a", "b", 4),)),
        Transaction("t2", (Read("b"), Withdraw("a", 100))),
    ])
    with ParallelExecutor("thread", 2) as executor:
        result = executor.execute(batch)
    path = tmp_path / "trace.jsonl"
    write_jsonl(result.execution_trace, path, {"backend": "thread"})
    header, events = read_jsonl(path)
    assert header["format"] == "aethel-trace" and header["backend"] == "thread"
    assert events == result.execution_trace
    abort = next(e for e in events if e.kind == "ABORT")
    assert abort.txn == "t2" and "insufficient funds" in abort.reason


@pytest.mark.parametrize("lines, message", [
    (['{"event": "START", "txn": "t1", "ts": 1, "worker": 0, "pid": 1}', "{oops"],
     "line 2: not valid JSON"),
    (['[1, 2]'], "line 1: expected a JSON object"),
    (['{"event": "JUMP", "txn": "t1"}'], "line 1: field 'event' must be one of"),
    (['{"event": "WRITE", "txn": "t1", "ts": 1, "account": "a"}'],
     "line 1: WRITE event is missing field 'value'"),
    (['{"event": "START", "txn": 5}'], "line 1: field 'txn' must be a string"),
    (['{"event": "START", "txn": "t1", "ts": "soon"}'], "line 1: field 'ts' must be an integer"),
    (['{"format": "other"}'], "line 1: format must be 'aethel-trace'"),
])
def test_malformed_trace_lines_are_reported_with_their_number(lines, message):
    with pytest.raises(InputError) as err:
        parse_jsonl(lines)
    assert message in str(err.value)


def test_unreadable_trace_file_names_the_path(tmp_path):
    with pytest.raises(InputError, match="cannot read trace"):
        read_jsonl(tmp_path / "missing.jsonl")


def test_trace_of_another_batch_or_out_of_order_is_an_input_error():
    start = '{"event": "START", "txn": "%s", "ts": %d, "worker": 0, "pid": 1}'
    with pytest.raises(InputError, match="line 2: transaction 'ghost' is not in the batch"):
        parse_jsonl([start % ("t1", 1), start % ("ghost", 2)], transactions={"t1"})
    with pytest.raises(InputError, match="line 2: events must be in timestamp order"):
        parse_jsonl([start % ("t1", 5), start % ("t2", 4)])


@pytest.mark.parametrize("ops", [(Transfer("a", "b", 3),), (Withdraw("a", 99),),
                                 (Read("b"), Transfer("b", "a", 1))])
def test_plain_events_are_the_events_fields_and_make_the_same_columns(ops):
    """A run that records plain tuples (a process worker's, an oracle's) records exactly
    the fields of the events an ordinary run records, and they transpose into the same
    columns."""
    tx = Transaction("t", ops)
    snapshot = {"a": (5, "init"), "b": (7, "t0")}
    runs = {}
    for plain in (False, True):
        events: list = []
        result = run_transaction(0, tx, snapshot, 1, 42, events.append, plain=plain)
        runs[plain] = (result, events)
    (result, events), (plain_result, rows) = runs[False], runs[True]
    assert all(type(e) is Event for e in events) and all(type(r) is tuple for r in rows)
    assert plain_result[:4] == result[:4]
    assert [e._replace(ts=0) for e in events] == [Event(*r)._replace(ts=0) for r in rows]
    block = TraceColumns.exact_block(rows, {"t": 0})
    assert block is not None
    assert [e._replace(ts=0) for e in block.events(["t"])] == \
        [e._replace(ts=0) for e in events]
