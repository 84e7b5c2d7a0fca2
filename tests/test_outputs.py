"""Outputs never clobber inputs and are never half-written; a failing environment is exit 3.

An output that is (or resolves to, or is a hard link of) the input is refused with exit 2
before any work; a destination that cannot be written is exit 3 before any work; every
file is written to a temporary name and renamed, so a failed write leaves the previous
file or none.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from aethel import files
from aethel.errors import EnvironmentFailure
from aethel.files import write_atomic
from aethel.trace import write_jsonl
from harness.cli import main
from harness.cli import run as run_cli
from harness.cli import verify as verify_cli
from harness.report import bench as bench_report
from harness.report import campaign as campaign_report

EXAMPLE = Path("docs/examples/transfers.json")


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def no_work(monkeypatch):
    """Any execution or campaign fails the test: refusals must come before the work."""

    def forbidden(*args, **kwargs):
        raise AssertionError("the work started")

    monkeypatch.setattr(run_cli, "ParallelExecutor", forbidden)
    monkeypatch.setattr(verify_cli, "run_campaign", forbidden)


@pytest.fixture
def batch(tmp_path) -> Path:
    path = tmp_path / "b.json"
    path.write_bytes(EXAMPLE.read_bytes())
    return path


def one_error_line(result, text: str) -> None:
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), result.stderr
    assert text in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize("option", ["--out", "--trace"])
@pytest.mark.parametrize("link", ["same", "symlink", "hardlink"])
def test_an_output_that_is_the_input_is_refused_before_any_work(batch, tmp_path, no_work,
                                                                 option, link):
    target = {"same": lambda: batch, "symlink": lambda: tmp_path / "sym.json",
              "hardlink": lambda: tmp_path / "hard.json"}[link]()
    if link == "symlink":
        target.symlink_to(batch)
    if link == "hardlink":
        os.link(batch, target)
    result = invoke("run", batch, option, target)
    assert result.exit_code == 2
    one_error_line(result, f"{option}: {target} is the input file {batch}; refusing to "
                           "overwrite it")
    assert batch.read_bytes() == EXAMPLE.read_bytes()


def test_out_and_trace_naming_one_file_are_refused(batch, tmp_path, no_work):
    result = invoke("run", batch, "--out", tmp_path / "x", "--trace", tmp_path / "x")
    assert result.exit_code == 2
    one_error_line(result, "--trace: ")


@pytest.mark.parametrize("where", ["missing folder", "file as folder"])
def test_an_output_folder_that_cannot_be_written_is_exit_3_before_any_work(
        batch, tmp_path, no_work, where):
    (tmp_path / "plain").write_text("")
    parent = tmp_path / ("nope" if where == "missing folder" else "plain")
    for option in ("--out", "--trace"):
        result = invoke("run", batch, option, parent / "x.json")
        assert result.exit_code == 3, result.output
        one_error_line(result, f"{option}: cannot write in folder {parent}")
    result = invoke("verify", "--examples", "1", "--junit", parent / "j.xml", "--report",
                    tmp_path / "reports")
    assert result.exit_code == 3
    one_error_line(result, "--junit: cannot write in folder")
    result = invoke("verify", "--examples", "1", "--report", tmp_path / "plain" / "r")
    assert result.exit_code == 3
    one_error_line(result, "--report: cannot make a report folder")


def test_a_read_only_folder_is_exit_3_before_any_work(batch, tmp_path, no_work, monkeypatch):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        (folder / "probe").touch()
    except PermissionError:
        pass
    else:  # root writes anywhere: make the folder read-only the way the kernel would say it
        (folder / "probe").unlink()
        real_open = os.open

        def read_only(path, flags, *args):
            if Path(path).parent == folder and flags & os.O_CREAT:
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
            return real_open(path, flags, *args)

        monkeypatch.setattr(files.os, "open", read_only)
    try:
        result = invoke("run", batch, "--out", folder / "out.json")
    finally:
        folder.chmod(0o755)
    assert result.exit_code == 3
    one_error_line(result, f"--out: cannot write in folder {folder}")
    assert list(folder.iterdir()) == []


@pytest.fixture
def full_disk(monkeypatch):
    """Every sync of a written file fails as on a full disk."""

    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(files.os, "fsync", no_space)


def test_a_full_disk_leaves_the_previous_file_and_no_temporary(tmp_path, full_disk):
    path = tmp_path / "result.json"
    path.write_text("previous")
    with pytest.raises(EnvironmentFailure, match="No space left on device"):
        write_atomic(path, "new")
    assert path.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_run_on_a_full_disk_exits_3_and_keeps_the_previous_output(batch, tmp_path, full_disk):
    out = tmp_path / "out.json"
    out.write_text("previous")
    result = invoke("run", batch, "--out", out)
    assert result.exit_code == 3
    one_error_line(result, f"cannot write {out}: No space left on device")
    assert out.read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.json", "out.json"]


@pytest.mark.parametrize("writer", ["trace", "campaign report", "bench report"])
def test_every_report_writer_leaves_no_partial_file(tmp_path, full_disk, writer):
    write = {"trace": lambda: write_jsonl([], tmp_path / "t.jsonl"),
             "campaign report": lambda: campaign_report.write_reports({}, tmp_path),
             "bench report": lambda: bench_report.write_report({}, tmp_path)}[writer]
    with pytest.raises(EnvironmentFailure, match="No space left on device"):
        write()
    assert list(tmp_path.iterdir()) == []


def test_an_os_error_of_the_environment_is_exit_3_with_one_line(batch, monkeypatch):
    def denied(path):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))

    monkeypatch.setattr(run_cli, "load_batch", denied)
    result = invoke("run", batch)
    assert result.exit_code == 3
    one_error_line(result, "the environment failed: Permission denied")


def test_outputs_are_complete_files_after_a_run(batch, tmp_path):
    out, trace = tmp_path / "out.json", tmp_path / "trace.jsonl"
    out.write_text("previous")
    result = invoke("run", batch, "--out", out, "--trace", trace)
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["final_states"]
    assert trace.read_text().endswith("\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.json", "out.json", "trace.jsonl"]
