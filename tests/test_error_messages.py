"""Every failure is one line and an exit code, never a traceback (issue 11, item 6).

Bad input exits 2 naming the field or option; an unexpected internal error exits 3 with one
line that names the file its traceback was saved to.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import main
from tests.documents import summary

ROOT = Path(__file__).resolve().parent.parent


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_error(result, code: int) -> str:
    """The single stderr line of a command that exited with ``code``."""
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_replay_of_deeply_nested_json_exits_2(tmp_path):
    saved = tmp_path / "ce.json"
    saved.write_text("[" * 100_000 + "]" * 100_000)
    assert "JSON nested too deeply" in one_line_error(invoke("replay", saved), 2)


def _with(doc: dict, path: tuple, value) -> dict:
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return doc


@pytest.mark.parametrize(("path", "value", "field"), [
    (("properties",), [], "properties"),
    (("counterexample", "trace"), None, "counterexample.trace"),
    (("properties", "conservation", "passed"), "5", "properties.conservation.passed"),
    (("seconds",), 10**400, "seconds"),
    (("counterexample", "trace", 0, "worker"), None, "counterexample.trace[0].worker"),
    (("counterexample", "verdicts", 0, "lines"), [1], "counterexample.verdicts[0].lines[0]"),
    (("config",), {"backends": "thread"}, "config.backends"),
    (("counterexample", "kind"), "crashed", "counterexample.error"),
])
def test_report_of_a_malformed_summary_exits_2_naming_the_field(tmp_path, path, value, field):
    (tmp_path / "summary.json").write_text(json.dumps(_with(summary(), path, value)))
    line = one_line_error(invoke("report", tmp_path), 2)
    assert f"summary.json: {field}: " in line
    assert not (tmp_path / "index.html").exists()


def test_report_of_a_valid_summary_is_written(tmp_path):
    (tmp_path / "summary.json").write_text(json.dumps(summary()))
    assert invoke("report", tmp_path).exit_code == 0
    assert "Falsifying example" in (tmp_path / "index.html").read_text()


@pytest.fixture
def factories(tmp_path, monkeypatch):
    """A module ``aethel_factories`` with factories that are not executor factories."""
    (tmp_path / "aethel_factories.py").write_text(
        "def boom(**kwargs):\n    raise RuntimeError('constructor exploded')\n"
        "def nothing(**kwargs):\n    return 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("aethel_factories", None)


@pytest.mark.parametrize(("spec", "message"), [
    ("json:dumps", "TypeError: dumps() missing 1 required positional argument"),
    ("aethel_factories:boom", "RuntimeError: constructor exploded"),
    ("aethel_factories:nothing", "returned a int, which has no execute() method"),
])
def test_verify_with_a_callable_that_makes_no_executor_exits_2_before_any_work(
        tmp_path, factories, spec, message):
    result = invoke("verify", "--executor", spec, "--examples", 1, "--jobs", 1,
                    "--backends", "thread", "--report", tmp_path / "reports")
    line = one_line_error(result, 2)
    assert line.startswith("error: --executor: ") and message in line
    assert not (tmp_path / "reports").exists()


def test_a_lone_surrogate_account_exits_2_before_out_is_written(tmp_path):
    batch = tmp_path / "b.json"
    batch.write_text('{"accounts": {"\\ud800": 1}, "transactions": []}')
    out = tmp_path / "out.json"
    assert "accounts: " in one_line_error(invoke("run", batch, "--out", out), 2)
    assert not out.exists()


def test_an_internal_error_is_one_line_exit_3_and_a_saved_traceback(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))

    def broken(*args, **kwargs):
        raise ZeroDivisionError("division by zero in the analysis")

    monkeypatch.setattr("harness.cli.run.conflict_report", broken)
    result = invoke("run", ROOT / "docs/examples/transfers.json")
    line = one_line_error(result, 3)
    match = re.fullmatch(r"error: internal error \(ZeroDivisionError: division by zero in the "
                         r"analysis\); traceback saved to (\S+aethel-traceback-\d+-\d+\.txt)",
                         line)
    assert match, line
    saved = Path(match[1])
    assert saved.parent == tmp_path
    text = saved.read_text()
    assert text.startswith("Traceback") and "in broken" in text


def test_click_usage_errors_still_exit_2_from_click():
    result = invoke("run", "--backend", "nope", ROOT / "docs/examples/transfers.json")
    assert result.exit_code == 2 and "Invalid value for '--backend'" in result.output
