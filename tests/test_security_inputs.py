"""Hostile inputs: no code runs unless the user allowed it, and every input is bounded.

A ``call`` may only name functions of allowed modules (checked at load, without importing,
and again wherever a function is resolved); ``replay`` never imports the executor a file
names. Files are read only if regular and never past a byte limit; duplicate keys, a
non-integer version, deep ``args`` and ids with control characters or Unicode twins are
input errors (exit 2).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from click.testing import CliRunner

from aethel import allowed
from aethel.allowed import ENTRY_POINT_GROUP, ENV, check_allowed
from aethel.batchfile import MAX_ARGS_DEPTH, loads_batch
from aethel.errors import InputError
from aethel.executor import ParallelExecutor
from aethel.files import read_input
from aethel.model import Batch, Transaction
from aethel.operations import Call
from harness.cli import main

ROOT = Path(__file__).resolve().parent.parent
PROBE = "aethel_probe_module"
"""A module that records being imported: nothing may import it unless the user allowed it."""


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def probe(tmp_path, monkeypatch):
    """A module PROBE on sys.path whose import writes the returned marker file."""
    marker = tmp_path / "imported"
    (tmp_path / f"{PROBE}.py").write_text(
        f"open({str(marker)!r}, 'w').close()\n"
        "def f(view, **args):\n    pass\n"
        "def Factory(**kwargs):\n    raise AssertionError('must not be called')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield marker
    sys.modules.pop(PROBE, None)


def write(path: Path, doc) -> Path:
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def calling(function: str, account: str = "a") -> dict:
    return {"accounts": {account: 0}, "transactions": [
        {"id": "t1", "ops": [{"op": "call", "function": function, "reads": [account]}]}]}


def counterexample(batch: dict, executor: str = "aethel") -> dict:
    return {"format": "aethel-counterexample", "version": 1, "executor": executor,
            "backend": "thread", "workers": 1, "batch": batch}


# --- A: no code runs unless the user allowed it -------------------------------------------


def test_a_shell_command_in_a_batch_is_refused_by_run_check_and_replay(tmp_path):
    marker = tmp_path / "pwned"
    batch = write(tmp_path / "b.json", calling("subprocess:getoutput", f"touch {marker}"))
    trace = write(tmp_path / "t.jsonl", '{"format": "aethel-trace", "version": 1}\n')
    saved = write(tmp_path / "ce.json",
                  counterexample(calling("subprocess:getoutput", f"touch {marker}")))
    for args in (["run", batch], ["check", trace, "--batch", batch], ["replay", saved]):
        result = invoke(*args)
        assert result.exit_code == 2, (args, result.output)
        assert ("transactions[0].ops[0].function: 'subprocess' is not an allowed module; allow "
                "it with --allow-module subprocess or AETHEL_ALLOW_MODULES") in result.stderr
        assert "Traceback" not in result.output
    assert not marker.exists()


def test_a_module_that_is_not_allowed_is_never_imported(tmp_path, probe):
    result = invoke("run", write(tmp_path / "b.json", calling(f"{PROBE}:f")))
    assert result.exit_code == 2 and "is not an allowed module" in result.stderr
    assert not probe.exists() and PROBE not in sys.modules
    allowed_run = invoke("run", tmp_path / "b.json", "--allow-module", PROBE)
    assert allowed_run.exit_code == 0, allowed_run.output
    assert probe.exists()


def test_allow_module_reaches_process_workers(tmp_path):
    batch = write(tmp_path / "b.json", {"accounts": {"a": 1}, "transactions": [
        {"id": "t1", "ops": [{"op": "call", "function": "tests.hostile_ops:exit_zero"}]}]})
    out = tmp_path / "out.json"
    refused = invoke("run", batch, "--backend", "process", "--workers", "1")
    assert refused.exit_code == 2 and "--allow-module tests.hostile_ops" in refused.stderr
    ran = invoke("run", batch, "--backend", "process", "--workers", "1", "--out", out,
                 "--allow-module", "tests.hostile_ops")
    assert ran.exit_code == 0, ran.output
    assert json.loads(out.read_text())["outcomes"]["t1"] == {
        "status": "aborted", "reason": "SystemExit: 0"}  # run by the worker, not refused


def test_the_environment_variable_allows_modules(tmp_path, monkeypatch):
    batch = write(tmp_path / "b.json", calling("tests.hostile_ops:exit_zero"))
    assert invoke("run", batch).exit_code == 2
    monkeypatch.setenv(ENV, "json, tests.hostile_ops")
    assert invoke("run", batch).exit_code == 0


def test_only_the_exact_module_is_allowed(monkeypatch):
    for other in ("tests", "tests.hostile", "tests.hostile_ops.sub", "tests.hostile_opsx"):
        monkeypatch.setenv(ENV, other)
        with pytest.raises(InputError, match="'tests.hostile_ops' is not an allowed module"):
            check_allowed("tests.hostile_ops:exit_zero", "here")
    monkeypatch.setenv(ENV, "tests.hostile_ops")
    check_allowed("tests.hostile_ops:exit_zero", "here")
    with pytest.raises(InputError, match="'tests.hostile_ops.sub' is not an allowed"):
        check_allowed("tests.hostile_ops.sub:f", "here")
    check_allowed("aethel.examples:fail", "here")  # the samples: allowed by default


def test_packages_register_modules_through_entry_points(monkeypatch):
    registered = [EntryPoint("hostile", "tests.hostile_ops", ENTRY_POINT_GROUP)]
    monkeypatch.setattr(allowed, "entry_points",
                        lambda group: registered if group == ENTRY_POINT_GROUP else [])
    allowed._registered.cache_clear()
    try:
        check_allowed("tests.hostile_ops:exit_zero", "here")
    finally:
        monkeypatch.undo()
        allowed._registered.cache_clear()
    with pytest.raises(InputError):
        check_allowed("tests.hostile_ops:exit_zero", "here")


@pytest.mark.parametrize("backend", ["serial", "process"])
def test_workers_refuse_a_function_the_loader_never_saw(backend):
    """Defence in depth: a Call built in Python, past the loader, is refused where it runs."""
    batch = Batch({"a": 0}, [Transaction("t1", (Call("tests.hostile_ops:exit_zero"),))])
    with ParallelExecutor(backend, 1, timeout=60) as executor:
        result = executor.execute(batch)
    assert result.outcomes["t1"].status == "aborted"
    assert "'tests.hostile_ops' is not an allowed module" in result.outcomes["t1"].reason


def test_a_bad_allow_module_name_exits_2(tmp_path):
    result = invoke("run", "docs/examples/transfers.json", "--allow-module", "os;rm")
    assert result.exit_code == 2 and "--allow-module: must be a dotted module name" \
        in result.stderr


def test_replay_never_imports_the_executor_a_counterexample_names(tmp_path, probe):
    batch = {"accounts": {"a": 1}, "transactions": [{"id": "t1", "ops": []}]}
    saved = write(tmp_path / "ce.json", counterexample(batch, f"{PROBE}:Factory"))
    result = invoke("replay", saved)
    assert result.exit_code == 2
    assert f"aethel replay {saved} --executor {PROBE}:Factory" in result.stderr
    assert not probe.exists() and PROBE not in sys.modules
    chosen = invoke("replay", saved, "--executor", "aethel", "--repeat", "1")
    assert chosen.exit_code == 0, chosen.output
    assert "on aethel thread" in chosen.output and not probe.exists()


def test_a_counterexample_executor_that_is_not_module_attr_exits_2(tmp_path):
    batch = {"accounts": {"a": 1}, "transactions": []}
    saved = write(tmp_path / "ce.json", counterexample(batch, "x:y\x1b[2J"))
    result = invoke("replay", saved)
    assert result.exit_code == 2 and "executor: must be 'aethel' or MODULE:ATTR" \
        in result.stderr
    assert "\x1b" not in result.stderr


# --- C: bounded input ---------------------------------------------------------------------


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """The real command in a process of its own: a read that blocks fails by timing out."""
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def test_devices_fifos_and_folders_exit_2_without_blocking(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    good = str(ROOT / "docs/examples/transfers.json")
    saved = tmp_path / "report"
    (saved / "summary.json").mkdir(parents=True)
    for args in (["run", "/dev/zero"], ["run", str(fifo)], ["check", str(fifo), "--batch", good],
                 ["check", "/dev/zero", "--batch", good], ["replay", str(fifo)],
                 ["check", str(fifo), "--batch", good, "--result", "/dev/zero"],
                 ["report", str(saved)]):
        done = run_cli(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert "not a regular file" in done.stderr and "Traceback" not in done.stderr


def test_the_byte_limit_does_not_trust_st_size():
    maps = Path("/proc/self/maps")  # a regular file whose st_size is 0
    assert maps.stat().st_size == 0
    with pytest.raises(InputError, match="over the 64-byte limit"):
        read_input(maps, "batch file", limit=64)


def nested_args(depth: int) -> dict:
    value: object = 1
    for _ in range(depth - 1):
        value = [value]
    doc = calling("aethel.examples:fail")
    doc["transactions"][0]["ops"][0]["args"] = {"message": value}
    return doc


def test_call_args_nesting_is_bounded_at_load(tmp_path):
    loads_batch(json.dumps(nested_args(MAX_ARGS_DEPTH)))
    with pytest.raises(InputError, match=r"transactions\[0\].ops\[0\].args: nested more than"):
        loads_batch(json.dumps(nested_args(MAX_ARGS_DEPTH + 1)))
    result = invoke("run", write(tmp_path / "deep.json", nested_args(900)), "--backend",
                    "process")
    assert result.exit_code == 2
    assert "transactions[0].ops[0].args: nested more than 32 levels deep" in result.stderr


def test_duplicate_keys_exit_2_naming_the_key(tmp_path):
    batch = write(tmp_path / "b.json", '{"mode": "atomic", "mode": "independent", '
                                       '"accounts": {}, "transactions": []}')
    result = invoke("run", batch)
    assert result.exit_code == 2 and "duplicate key 'mode'" in result.stderr
    nested = write(tmp_path / "n.json", '{"accounts": {"a": 1, "a": 2}, "transactions": []}')
    assert "duplicate key 'a'" in invoke("run", nested).stderr
    saved = write(tmp_path / "ce.json", json.dumps(counterexample(
        {"accounts": {}, "transactions": []}))[:-1] + ', "workers": 2}')
    result = invoke("replay", saved)
    assert result.exit_code == 2 and "duplicate key 'workers'" in result.stderr
    folder = tmp_path / "report"
    folder.mkdir()
    write(folder / "summary.json", '{"ok": true, "ok": false}')
    result = invoke("report", folder)
    assert result.exit_code == 2 and "duplicate key 'ok'" in result.stderr


@pytest.mark.parametrize("version", ["true", "1.0", '"1"'])
def test_a_version_that_is_not_the_integer_1_exits_2(tmp_path, version):
    batch = write(tmp_path / "b.json",
                  f'{{"version": {version}, "accounts": {{}}, "transactions": []}}')
    result = invoke("run", batch)
    assert result.exit_code == 2 and "version: only version 1 is supported" in result.stderr


@pytest.mark.parametrize("char", ["\r", "\x1b", "\u200b", "\ud800"])
def test_ids_with_control_format_or_surrogate_characters_exit_2(tmp_path, char):
    name = f"a{char}b"
    account = write(tmp_path / "a.json", {"accounts": {name: 1}, "transactions": []})
    result = invoke("run", account)
    assert result.exit_code == 2 and "error: accounts: " in result.stderr
    assert "contains a control, format or surrogate character" in result.stderr
    assert char not in result.output
    txn = write(tmp_path / "t.json", {"accounts": {"a": 1},
                                      "transactions": [{"id": name, "ops": []}]})
    result = invoke("run", txn)
    assert result.exit_code == 2 and "transactions[0].id: " in result.stderr
    assert char not in result.output


def test_ids_equal_after_unicode_normalisation_exit_2(tmp_path):
    composed, decomposed = "caf\u00e9", "cafe\u0301"
    accounts = write(tmp_path / "a.json", {"accounts": {composed: 1, decomposed: 2},
                                           "transactions": []})
    result = invoke("run", accounts)
    assert result.exit_code == 2
    assert "accounts: 'caf\\xe9' and 'cafe\\u0301' are the same name after Unicode " \
           "normalisation" in result.stderr
    txns = write(tmp_path / "t.json", {"accounts": {"K": 1}, "transactions": [
        {"id": "t\u212a", "ops": []}, {"id": "tK", "ops": []}]})
    result = invoke("run", txns)
    assert result.exit_code == 2 and "transactions[1].id: " in result.stderr
    assert "same name after Unicode normalisation" in result.stderr


def test_a_trace_line_with_a_duplicate_key_exits_2_naming_it(tmp_path):
    batch = write(tmp_path / "b.json", {"accounts": {"a": 1},
                                        "transactions": [{"id": "t1", "ops": []}]})
    trace = tmp_path / "t.jsonl"
    trace.write_text('{"event": "START", "txn": "t1", "ts": 1, "ts": 2}\n')
    result = invoke("check", trace, "--batch", batch)
    assert result.exit_code == 2 and "line 1: duplicate key 'ts'" in result.stderr


def test_terminal_output_escapes_control_and_bidi_characters(tmp_path):
    """A user operation's message reaches the terminal as escapes: it cannot clear the
    screen, hide a line behind a carriage return or reorder what is shown."""
    message = "disk \x1b[2J on\r fire \u202e!"
    batch = write(tmp_path / "b.json", {
        "mode": "atomic", "accounts": {"a": 1},
        "transactions": [{"id": "t1", "ops": [
            {"op": "call", "function": "aethel.examples:fail", "args": {"message": message},
             "reads": ["a"]}]}]})
    result = invoke("run", batch, "--backend", "serial")
    assert result.exit_code == 1
    assert "disk \\x1b[2J on\\x0d fire \\u202e!" in result.stderr
    assert not any(c in result.output for c in "\x1b\r\u202e")


@pytest.mark.parametrize("backend, workers", [("thread", 100_000), ("process", 0),
                                              ("serial", 2)])
def test_a_counterexample_cannot_ask_for_an_unbounded_number_of_workers(tmp_path, backend,
                                                                          workers):
    doc = counterexample({"accounts": {}, "transactions": []})
    doc.update(backend=backend, workers=workers)
    result = invoke("replay", write(tmp_path / "ce.json", doc))
    assert result.exit_code == 2 and "workers: must be 1 for the serial backend" in result.stderr
