"""Fuzzed file readers: any file yields a document or exit 2 with one line, nothing else.

Every reader (batch, trace, counterexample, summary, result) is given arbitrary bytes,
arbitrary JSON and valid documents with one field replaced by an arbitrary JSON value. The
library readers return or raise :class:`InputError`; the commands exit 0, 1 or 2 without a
traceback. Example counts stay small: the commands run in-process, some render or execute.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aethel.batchfile import load_batch
from aethel.errors import InputError
from aethel.trace import read_jsonl
from harness.cli import main
from tests.documents import BATCH, counterexample, summary
from tests.test_fuzz_loaders import _paths, json_values

FEW = settings(max_examples=30, suppress_health_check=[HealthCheck.too_slow])
replacements = json_values | st.integers(min_value=-(2**70), max_value=2**70)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A folder with a valid batch, trace and result of that batch."""
    path = tmp_path_factory.mktemp("readers")
    (path / "batch.json").write_text(json.dumps(BATCH))
    done = CliRunner().invoke(main, ["run", str(path / "batch.json"), "--trace",
                                     str(path / "trace.jsonl"), "--out",
                                     str(path / "result.json")])
    assert done.exit_code == 0, done.output
    return path


@st.composite
def one_field_replaced(draw: st.DrawFn, valid: Callable[[], Any]) -> Any:
    """``valid()`` with one field (at any depth) replaced by an arbitrary JSON value."""
    doc = valid()
    path = draw(st.sampled_from([p for p in _paths(doc) if p]))
    value = draw(replacements)
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return doc


def contents(valid: Callable[[], Any]) -> st.SearchStrategy[bytes]:
    """Arbitrary bytes, arbitrary JSON, or ``valid()`` with one field replaced."""
    return st.one_of(st.binary(max_size=200), json_values.map(json.dumps).map(str.encode),
                     one_field_replaced(valid).map(json.dumps).map(str.encode))


def read_or_input_error(read, path: Path) -> None:
    try:
        read(path)
    except InputError as exc:
        assert str(exc)


def exits_cleanly(*args: Any) -> None:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code in (0, 1, 2), (result.exit_code, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    assert "Traceback" not in result.output
    if result.exit_code == 2:
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@settings(max_examples=100)
@given(raw=contents(lambda: json.loads(json.dumps(BATCH))))
def test_batch_files(folder, raw):
    (folder / "fuzzed-batch.json").write_bytes(raw)
    read_or_input_error(load_batch, folder / "fuzzed-batch.json")


@settings(max_examples=100)
@given(lines=st.lists(st.binary(max_size=40) | json_values.map(json.dumps).map(str.encode),
                      max_size=5), data=st.data())
def test_trace_files(folder, lines, data):
    valid = (folder / "trace.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in valid]
    mutated = (json.dumps(data.draw(one_field_replaced(lambda: events))[0])
               if data.draw(st.booleans()) else None)
    body = b"\n".join(lines) if mutated is None else "\n".join(
        [mutated, *valid[1:]]).encode()
    (folder / "fuzzed.jsonl").write_bytes(body)
    read_or_input_error(read_jsonl, folder / "fuzzed.jsonl")


@FEW
@given(raw=contents(counterexample))
def test_counterexamples_through_replay(folder, raw):
    (folder / "ce.json").write_bytes(raw)
    exits_cleanly("replay", folder / "ce.json", "--repeat", 1, "--timeout", 5)


@FEW
@given(raw=contents(summary))
def test_summaries_through_report(folder, raw):
    report = folder / "report"
    report.mkdir(exist_ok=True)
    (report / "summary.json").write_bytes(raw)
    exits_cleanly("report", report)


@FEW
@given(data=st.data())
def test_results_through_check(folder, data):
    valid = json.loads((folder / "result.json").read_text())
    raw = data.draw(contents(lambda: json.loads(json.dumps(valid))))
    (folder / "fuzzed-result.json").write_bytes(raw)
    exits_cleanly("check", folder / "trace.jsonl", "--batch", folder / "batch.json",
                  "--result", folder / "fuzzed-result.json")
