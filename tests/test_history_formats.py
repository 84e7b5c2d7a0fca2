"""Reading histories: each format, its detection, and bad input named by line."""

from __future__ import annotations

import math

import pytest

from harness.history import HistoryError, make_model, parse_history, read_history
from harness.history.formats import Event, detect
from harness.history.operations import operations

EDN_LINES = """\
{:process 0, :type :invoke, :f :write, :value 3, :time 10}
{:process 0, :type :ok, :f :write, :value 3, :time 20}
{:process :nemesis, :type :info, :f :start, :value nil, :time 25}
{:process 1, :type :invoke, :f :cas, :value [3 4], :time 30, :index 3}
{:process 1, :type :fail, :f :cas, :value [3 4], :time 40}
"""
EDN_VECTOR = """\
; a history
[{:process 0 :type :invoke :f :read :value nil}
 {:process 0 :type :ok :f :read :value 1}]
"""
JSON_ARRAY = """[
  {"type": "invoke", "f": "write", "process": 0, "time": 1, "value": 2},
  {"type": "ok", "f": "write", "process": 0, "time": 5, "value": 2}
]"""
JSON_LINES = """\
{"type":"invoke","f":"get","process":0,"key":"x","value":null}
{"type":"ok","f":"get","process":0,"key":"x","value":"ab"}
"""
LOG = """\
INFO  jepsen.core - Running test
INFO  jepsen.util - 3\t:invoke\t:cas\t[1 4]
INFO  jepsen.util - :nemesis\t:info\t:start\tnil
INFO  jepsen.util - 3\t:fail\t:cas\t[1 4]
INFO  jepsen.util - 4\t:invoke\t:write\t2
INFO  jepsen.util - 4\t:info\t:write\t:timed-out
"""


def test_edn_lines():
    events = parse_history(EDN_LINES)
    assert events[0] == Event(0, "invoke", "write", 3, None, 10, 1)
    assert [e.line for e in events] == [1, 2, 4, 5]
    assert events[2].value == [3, 4] and events[3].type == "fail"


def test_edn_vector():
    events = parse_history(EDN_VECTOR)
    assert [(e.type, e.value, e.line) for e in events] == [("invoke", None, 2), ("ok", 1, 3)]


def test_json_array_and_lines():
    array = parse_history(JSON_ARRAY)
    assert [(e.type, e.value, e.time, e.line) for e in array] == [
        ("invoke", 2, 1, 2), ("ok", 2, 5, 3)]
    lines = parse_history(JSON_LINES)
    assert [(e.f, e.key, e.value, e.line) for e in lines] == [
        ("get", "x", None, 1), ("get", "x", "ab", 2)]


def test_log_lines():
    events = parse_history(LOG)
    assert [(e.process, e.type, e.f, e.value, e.line) for e in events] == [
        (3, "invoke", "cas", [1, 4], 2), (3, "fail", "cas", [1, 4], 4),
        (4, "invoke", "write", 2, 5), (4, "info", "write", "timed-out", 6)]


def test_detection():
    assert detect(EDN_LINES) == detect(EDN_VECTOR) == "edn"
    assert detect(JSON_ARRAY) == detect(JSON_LINES) == detect("[]") == "json"
    assert detect(LOG) == "log"
    assert detect("hello") is None


def test_read_history_file(tmp_path):
    path = tmp_path / "h.edn"
    path.write_text(EDN_VECTOR)
    assert len(read_history(path)) == 2
    raw = tmp_path / "raw"
    raw.write_bytes(b'{"type": "invoke"}\n\xff\n')
    with pytest.raises(HistoryError, match="line 2: the history is not UTF-8"):
        read_history(raw)
    with pytest.raises(HistoryError, match="cannot read history"):
        read_history(tmp_path / "missing")


@pytest.mark.parametrize(("text", "line", "words"), [
    ("{:process 0 :type :invoke :f :read}\n{:process 0 :type :done :f :read}", 2,
     "field 'type' must be one of invoke, ok, fail, info"),
    ("{:process 0 :type :invoke}", 1, "has no 'f'"),
    ("{:type :invoke :f :read}", 1, "has no 'process'"),
    ("{:process [1] :type :invoke :f :read}", 1, "field 'process'"),
    ("{:process 0 :type :invoke :f :read :time :x}", 1, "field 'time'"),
    ("[{:process 0 :type :invoke :f :read}\n 7]", 2, "must be a map"),
    ("{:process 0 :type :invoke\n :f :read :value [1 2}", 2, "not valid EDN"),
    ('[{"process": 0,\n "type": "invoke", "f": "read"}\n {"x": 1}]', 3, "expected ','"),
    ('{"process": 0, "process": 1, "type": "invoke", "f": "read"}', 1, "duplicate key"),
    ('{"process": 0, "type": "invoke", "f": "read"}\n{"type": }', 2, "not valid JSON"),
    ('[{"process": 0, "type": "invoke", "f": "read"}] x', 1, "nothing may follow"),
    ("INFO x - 1\t:invoke\t:read\t[1 2", 1, "not EDN"),
    ("hello", 1, "not a history"),
])
def test_bad_input_names_the_line(text, line, words):
    with pytest.raises(HistoryError) as info:
        parse_history(text, "h.edn")
    assert f"h.edn: line {line}: " in str(info.value)
    assert words in str(info.value)
    assert isinstance(info.value, ValueError)


def _ops(text, model="cas-register", fail="drop"):
    return operations(parse_history(text, "h"), make_model(model), fail, "h")


def test_operations_pair_invocations_with_completions():
    ops = _ops(EDN_LINES)
    assert [(o.f, o.status, o.call, o.ret) for o in ops] == [("write", "ok", 10, 20)]
    kept = _ops(EDN_LINES, fail="assert")
    assert [(o.f, o.status, o.value) for o in kept] == [("write", "ok", 3), ("cas", "fail", [3, 4])]
    crashed = _ops(LOG)
    assert [(o.f, o.status, o.value, o.ret) for o in crashed] == [("write", "info", 2, math.inf)]
    read = _ops(EDN_VECTOR)
    assert (read[0].value, read[0].call, read[0].ret) == (1, 0, 1)


@pytest.mark.parametrize(("text", "line", "words"), [
    ("{:process 0 :type :invoke :f :read}\n{:process 0 :type :invoke :f :read}", 2,
     "invokes again"),
    ("{:process 0 :type :ok :f :read}", 1, "never invoked"),
    ("{:process 0 :type :invoke :f :read}\n{:process 0 :type :ok :f :write}", 2,
     "is not the invocation's"),
    ("{:process 0 :type :invoke :f :incr}\n{:process 0 :type :ok :f :incr}", 1,
     "has no operation 'incr'"),
    ("{:process 0 :type :invoke :f :cas :value 3}\n{:process 0 :type :fail :f :cas}", 1,
     "must be [old new]"),
    ("{:process 0 :type :invoke :f :read :time 1}\n{:process 0 :type :ok :f :read}", 2,
     "have a time"),
    ("{:process 0 :type :invoke :f :read :time 5}\n{:process 0 :type :ok :f :read :time 1}",
     2, "before its invocation"),
])
def test_bad_operations_name_the_line(text, line, words):
    with pytest.raises(HistoryError) as info:
        _ops(text, fail="assert")
    assert f"h: line {line}: " in str(info.value)
    assert words in str(info.value)
