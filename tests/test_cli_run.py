"""``aethel run``: summary, outputs and exit codes."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from aethel.executor import ParallelExecutor
from aethel.trace import read_jsonl
from harness.cli import main
from harness.cli import run as run_cli

EXAMPLE = "docs/examples/transfers.json"


def invoke(*args):
    return CliRunner().invoke(main, list(args))


def test_run_prints_a_summary_and_writes_trace_and_result(tmp_path):
    trace, out = tmp_path / "trace.jsonl", tmp_path / "result.json"
    result = invoke("run", EXAMPLE, "--backend", "process", "--workers", "2",
                    "--trace", str(trace), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "7 transactions on process ×2 (dataflow, independent): 1 aborted, 6 committed" \
        in result.output
    doc = json.loads(out.read_text())
    assert doc["final_states"] == {"alice": 63, "bob": 20, "carol": 67, "dave": 15}
    assert doc["outcomes"]["t5"]["status"] == "aborted"
    assert {"average_parallelism", "critical_path_bound"} <= set(doc["metrics"])
    header, events = read_jsonl(trace)
    assert header["backend"] == "process" and len({e.txn for e in events}) == 7


def test_atomic_failure_exits_1_and_names_the_transaction():
    result = invoke("run", EXAMPLE, "--mode", "atomic", "--backend", "serial")
    assert result.exit_code == 1
    assert "transaction t5 failed" in result.output


def test_bad_batch_exits_2_with_one_message(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"accounts": {"a": 1}, "transactions": [{"id": "t1", "ops": '
                   '[{"op": "deposit", "account": "a", "amount": -4}]}]}')
    result = invoke("run", str(bad))
    assert result.exit_code == 2
    assert "transactions[0].ops[0].amount: must be in [0, 2^63-1], got -4" in result.output
    assert "Traceback" not in result.output


def test_bad_flags_exit_2():
    assert invoke("run", EXAMPLE, "--workers", "0").exit_code == 2
    assert invoke("run", EXAMPLE, "--backend", "gpu").exit_code == 2
    assert invoke("run", EXAMPLE, "--timeout", "-1").exit_code == 2
    assert invoke("run", "no/such/file.json").exit_code == 2


def test_explicit_cycle_exits_2_naming_it_and_writes_nothing(tmp_path):
    cyclic = tmp_path / "cycle.json"
    cyclic.write_text('{"accounts": {"a": 1}, "transactions": ['
                      '{"id": "t1", "ops": [{"op": "read", "account": "a"}], "after": ["t2"]},'
                      '{"id": "t2", "ops": [{"op": "read", "account": "a"}], "after": ["t1"]}]}')
    trace, out = tmp_path / "trace.jsonl", tmp_path / "out.json"
    result = invoke("run", str(cyclic), "--trace", str(trace), "--out", str(out))
    assert result.exit_code == 2
    assert "t1 → t2 → t1" in result.output or "t2 → t1 → t2" in result.output
    assert not trace.exists() and not out.exists()


def test_run_help_states_the_default_timeout():
    result = invoke("run", "--help")
    assert result.exit_code == 0
    assert "--timeout" in result.output and "default: 300" in result.output


@pytest.mark.parametrize("flag, expected", [((), 300.0), (("--timeout", "none"), None),
                                            (("--timeout", "auto"), "auto"),
                                            (("--timeout", "2.5"), 2.5)])
def test_run_timeout_defaults_to_300_seconds_and_none_disables_it(monkeypatch, flag, expected):
    chosen = []

    class Recording(ParallelExecutor):
        def execute(self, batch, graph=None):
            chosen.append(self.timeout)
            return super().execute(batch, graph)

    monkeypatch.setattr(run_cli, "ParallelExecutor", Recording)
    result = invoke("run", EXAMPLE, "--backend", "serial", *flag)
    assert result.exit_code == 0, result.output
    assert chosen == [expected]
