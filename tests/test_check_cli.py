"""``aethel check``: verdicts in plain words; exit 0 all hold, 1 a violation, 2 bad input."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from harness.cli import main

EXAMPLE = "docs/examples/transfers.json"


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def run_files(tmp_path_factory):
    """A trace and a result of the example batch on two threads."""
    folder = tmp_path_factory.mktemp("run")
    trace, out = folder / "trace.jsonl", folder / "result.json"
    result = invoke("run", EXAMPLE, "--backend", "thread", "--workers", "2", "--trace", trace,
                    "--out", out)
    assert result.exit_code == 0, result.output
    return trace, out


def test_a_correct_run_passes_with_and_without_its_result(run_files):
    trace, out = run_files
    for extra in (("--result", out), ()):
        result = invoke("check", trace, "--batch", EXAMPLE, *extra)
        assert result.exit_code == 0, result.output
        assert result.output.count("PASS ") == 7
        assert "all 7 properties hold" in result.output
    assert "final state replayed from the trace" in result.output


def test_a_tampered_read_exits_1_naming_transaction_and_account(run_files, tmp_path):
    trace, out = run_files
    lines = trace.read_text().splitlines()
    events = [json.loads(line) for line in lines[1:]]
    number, doc = next((i, e) for i, e in enumerate(events) if e["event"] == "READ"
                       and e["txn"] == "t2" and e["account"] == "bob")
    assert doc["version"] == "t1"
    events[number] = {**doc, "version": "init", "value": 50}
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_text("\n".join([lines[0], *map(json.dumps, events)]) + "\n")
    result = invoke("check", tampered, "--batch", EXAMPLE, "--result", out)
    assert result.exit_code == 1
    assert "FAIL isolation" in result.output and "VIOLATED: " in result.output
    assert "stale read: t2 read bob@init, but t1, which precedes it in serial order, had " \
        "already installed bob@t1" in result.output


def test_a_wrong_final_state_exits_1(run_files, tmp_path):
    trace, out = run_files
    doc = json.loads(out.read_text())
    doc["final_states"]["dave"] += 1
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps(doc))
    result = invoke("check", trace, "--batch", EXAMPLE, "--result", wrong)
    assert result.exit_code == 1
    assert "FAIL serial equivalence" in result.output
    assert "dave is 16 in the executor's final state but 15 after serial execution" in \
        result.output


@pytest.mark.parametrize(("line", "message"), [
    ("not json", "line 3: not valid JSON"),
    ('{"event": "READ", "txn": "t1", "ts": 5, "worker": 0, "pid": 1, "account": "alice"}',
     "line 3: READ event is missing field 'value'"),
    ('{"event": "FLY", "txn": "t1"}', "line 3: field 'event' must be one of"),
])
def test_an_unreadable_trace_exits_2_naming_the_line(run_files, tmp_path, line, message):
    trace, _ = run_files
    lines = trace.read_text().splitlines()
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join([*lines[:2], line, *lines[2:]]) + "\n")
    result = invoke("check", broken, "--batch", EXAMPLE)
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.output + result.stderr


def test_an_unreadable_result_or_batch_exits_2(run_files, tmp_path):
    trace, out = run_files
    doc = json.loads(out.read_text())
    doc["final_states"]["alice"] = "many"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    result = invoke("check", trace, "--batch", EXAMPLE, "--result", bad)
    assert result.exit_code == 2
    assert "field 'final_states.alice' must be an integer" in result.stderr
    result = invoke("check", trace, "--batch", tmp_path / "missing.json")
    assert result.exit_code == 2 and "missing.json: cannot read batch file" in result.stderr


def test_mode_comes_from_the_run(tmp_path):
    trace, out = tmp_path / "trace.jsonl", tmp_path / "result.json"
    run = invoke("run", EXAMPLE, "--mode", "atomic", "--backend", "serial", "--trace", trace,
                 "--out", out)
    assert run.exit_code == 1
    result = invoke("check", trace, "--batch", EXAMPLE, "--result", out)
    assert result.exit_code == 0, result.output
    assert "note: the run used mode 'atomic'" in result.output
    assert "the atomic batch failed at t5 and all 4 accounts hold their initial balances" in \
        result.output
    result = invoke("check", trace, "--batch", EXAMPLE)
    assert result.exit_code == 0, result.output
    assert "N/A  atomicity: the atomic batch failed at t5" in result.output
    assert "every property that could be judged holds; not judged: atomicity" in result.output


def test_a_trace_of_another_batch_or_out_of_order_exits_2(run_files, tmp_path):
    trace, _ = run_files
    lines = trace.read_text().splitlines()
    foreign = tmp_path / "foreign.jsonl"
    foreign.write_text("\n".join([*lines[:2], lines[2].replace('"txn":"', '"txn":"zz')]) + "\n")
    result = invoke("check", foreign, "--batch", EXAMPLE)
    assert result.exit_code == 2 and "line 3: transaction 'zz" in result.stderr
    shuffled = tmp_path / "shuffled.jsonl"
    shuffled.write_text("\n".join([lines[0], *reversed(lines[1:])]) + "\n")
    result = invoke("check", shuffled, "--batch", EXAMPLE)
    assert result.exit_code == 2 and "must be in timestamp order" in result.stderr


EXIT_ZERO = {"accounts": {"a": 5, "b": 0}, "mode": "atomic", "transactions": [
    {"id": "t1", "ops": [{"op": "transfer", "from": "a", "to": "b", "amount": 2}]},
    {"id": "t2", "ops": [{"op": "call", "function": "tests.hostile_ops:exit_zero"}]}]}


def test_a_user_operation_calling_sys_exit_is_judged_not_obeyed(tmp_path):
    batch = tmp_path / "batch.json"
    batch.write_text(json.dumps(EXIT_ZERO))
    trace, out = tmp_path / "trace.jsonl", tmp_path / "result.json"
    allow = ("--allow-module", "tests.hostile_ops")
    ran = invoke("run", batch, *allow, "--backend", "thread", "--trace", trace, "--out", out)
    assert ran.exit_code == 1 and "SystemExit: 0" in ran.output
    checked = invoke("check", trace, "--batch", batch, "--result", out, *allow)
    assert checked.exit_code == 0, checked.output
    assert "all 7 properties hold" in checked.output
    doc = {"format": "aethel-counterexample", "version": 1, "executor": "aethel",
           "backend": "thread", "workers": 2, "batch": EXIT_ZERO}
    saved = tmp_path / "counterexample.json"
    saved.write_text(json.dumps(doc))
    replayed = invoke("replay", saved, "--repeat", "1", *allow)
    assert replayed.exit_code == 0, replayed.output
    assert "did not reproduce" in replayed.output and "PASS " in replayed.output


def test_check_states_its_default_timeout_and_a_hung_oracle_is_bounded(tmp_path):
    assert "default: 300" in invoke("check", "--help").output
    hang = {"accounts": {"a": 5}, "transactions": [
        {"id": "t1", "ops": [{"op": "call", "function": "aethel.examples:hang",
                              "args": {"seconds": 60}}]}]}
    batch = tmp_path / "batch.json"
    batch.write_text(json.dumps(hang))
    trace = tmp_path / "trace.jsonl"
    trace.write_text('{"format": "aethel-trace", "version": 1}\n')
    result = invoke("check", trace, "--batch", batch, "--timeout", "1")
    assert result.exit_code == 1
    assert "did not return within 1 s" in result.output
