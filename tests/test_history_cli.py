"""``aethel history``: exit codes 0/1/2/4, the report, and the help text."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from harness.cli import main

OK = """\
{:process 0 :type :invoke :f :write :value 1}
{:process 0 :type :ok :f :write :value 1}
{:process 1 :type :invoke :f :cas :value [1 2]}
{:process 1 :type :ok :f :cas :value [1 2]}
"""
STALE = OK + """\
{:process 0 :type :invoke :f :read :value nil}
{:process 0 :type :ok :f :read :value 1}
"""


def run(tmp_path, text, *args):
    path = tmp_path / "history.edn"
    path.write_text(text)
    return CliRunner().invoke(main, ["history", str(path), *args])


def test_linearizable_exits_0(tmp_path):
    result = run(tmp_path, OK, "--model", "cas-register")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("linearizable: 2 operations in 1 partition")


def test_violation_exits_1_with_the_culprit_first(tmp_path):
    result = run(tmp_path, STALE, "--model", "cas-register", "--jobs", "1")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].startswith("NOT LINEARIZABLE")
    assert lines[1] == ("Cannot take effect: process 0 read 1 (ok, lines 5-6): it read 1 but "
                        "the register holds 2.")


def test_report_is_written(tmp_path):
    report = tmp_path / "out"
    result = run(tmp_path, STALE, "--model", "cas-register", "--report", str(report))
    assert result.exit_code == 1
    page = (report / "history.html").read_text()
    assert "<svg" in page and "<script" not in page and "#e53935" in page
    summary = json.loads((report / "history.json").read_text())
    assert summary["outcome"] == "not linearizable"
    assert summary["partitions"][0]["culprit"]["value"] == "1"
    assert [p.name for p in report.iterdir()] and not list(report.glob(".*.tmp"))


@pytest.mark.parametrize(("text", "args", "words"), [
    ("{:process 0 :type :invoke :f :read}\n{:process 0 :type :oops :f :read}",
     ["--model", "register"], "line 2: field 'type'"),
    (OK, ["--model", "register"], "line 3: the register model has no operation 'cas'"),
    (OK, ["--model", "kv", "--init", "3"], "--init: the kv model's initial value"),
    (OK, ["--model", "register", "--init", "[1"], "--init: not an EDN or JSON value"),
    (OK, ["--model", "register", "--timeout", "0"], "--timeout: must be a positive"),
    (OK, ["--model", "queue"], "Invalid value for '--model'"),
])
def test_bad_input_exits_2_in_one_sentence(tmp_path, text, args, words):
    result = run(tmp_path, text, *args)
    assert result.exit_code == 2
    assert words in result.output
    assert "Traceback" not in result.output


def test_unknown_exits_4(tmp_path):
    rows = [f"{{:process {p} :type :invoke :f :write :value {p}}}" for p in range(22)]
    rows += [f"{{:process {p} :type :ok :f :write :value {p}}}" for p in range(22)]
    rows += ["{:process 30 :type :invoke :f :read :value nil}",
             "{:process 30 :type :ok :f :read :value -1}"]
    result = run(tmp_path, "\n".join(rows), "--model", "register", "--timeout", "0.2")
    assert result.exit_code == 4
    assert "unknown: the search did not finish within 0.2 s" in result.output


def test_help_states_the_default_timeout_and_exit_4():
    result = CliRunner().invoke(main, ["history", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "[default: 60.0]" in text
    assert "4 unknown" in text
