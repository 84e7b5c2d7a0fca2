"""Fuzzed loaders: any input yields a batch/trace or the documented InputError, nothing else.

Arbitrary JSON values, near-valid documents with one field replaced, and arbitrary bytes.
The ``thorough`` Hypothesis profile runs thousands of examples; CI runs a bounded number.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aethel.analysis import dependency_graph
from aethel.batchfile import batch_to_json, loads_batch
from aethel.errors import InputError
from aethel.trace import parse_jsonl
from harness.campaign.strategies import batches

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=20,
)


def load_and_analyse(raw: str | bytes) -> None:
    try:
        dependency_graph(loads_batch(raw))
    except InputError as exc:
        assert str(exc)


@given(json_values)
def test_arbitrary_json_values(value):
    load_and_analyse(json.dumps(value))


@given(st.binary(max_size=200))
def test_arbitrary_bytes(raw):
    load_and_analyse(raw)


def _paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            yield from _paths(value, (*prefix, i))


@given(batches(max_transactions=5), st.data())
def test_valid_documents_with_one_field_replaced(batch, data):
    doc = batch_to_json(batch)
    path = data.draw(st.sampled_from([p for p in _paths(doc) if p]))
    replacement = data.draw(json_values | st.integers(min_value=-(2**70), max_value=2**70))
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = replacement
    load_and_analyse(json.dumps(doc))


@given(st.lists(json_values.map(json.dumps) | st.text(max_size=40), max_size=6))
def test_arbitrary_trace_lines(lines):
    try:
        parse_jsonl(lines)
    except InputError as exc:
        assert "line" in str(exc)


def test_huge_integer_literal_is_an_input_error():
    with pytest.raises(InputError, match="batch: not valid JSON"):
        loads_batch('{"accounts": {"a": ' + "9" * 5000 + '}, "transactions": []}')
    with pytest.raises(InputError, match="line 1"):
        parse_jsonl(['{"event": "START", "txn": "t", "ts": ' + "9" * 5000 + "}"])
