"""The ``aethel`` command line.

Exit codes: 0 success, 1 a failed batch or a violation, 2 bad input (one message naming
the field or line, never a traceback), 3 the environment or Aethel itself failed (a full
disk, a folder that cannot be written, an internal error: its traceback is saved and its
path printed).
"""

from __future__ import annotations

import importlib
import multiprocessing.util
import os
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

import click

from aethel.errors import EnvironmentFailure, InputError, describe_exception
from aethel.files import write_atomic
from harness.report.terminal import echo

THREADS_EXIT_GRACE = 2.0
"""Seconds non-daemon threads get to end after a command (a process pool's manager thread
ends by itself; one that code under test left behind is abandoned)."""
COMMANDS = {"run": "run:run", "bench": "bench:bench", "check": "check:check",
            "history": "history:history", "verify": "verify:verify",
            "replay": "verify:replay", "report": "verify:report"}
"""Each command and where it lives in this package: a command's module is imported only
when it runs (or help lists it), so ``aethel history`` never loads the campaign, the engine
or the plotting libraries."""


class _Cli(click.Group):
    """Turns input errors into exit code 2, and failures of the environment (an
    :class:`EnvironmentFailure` or any ``OSError``) or of Aethel itself (any other
    exception, whose traceback is saved to a file) into exit code 3, with one line on
    stderr."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, _, name = COMMANDS[cmd_name].partition(":")
        return getattr(importlib.import_module(f"{__name__}.{module}"), name)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise  # usage errors and aborts: click reports them itself
        except InputError as exc:
            echo(f"error: {exc}", err=True)
            sys.exit(2)
        except EnvironmentFailure as exc:
            echo(f"error: {exc}", err=True)
            sys.exit(3)
        except OSError as exc:
            echo(f"error: the environment failed: {exc.strerror or exc}"
                 + (f": {exc.filename}" if exc.filename else ""), err=True)
            sys.exit(3)
        except Exception as exc:
            echo(f"error: internal error ({describe_exception(exc)}); "
                 f"{_save_traceback()}", err=True)
            sys.exit(3)


def _save_traceback() -> str:
    """Write the exception being handled to a file in the temporary folder; say where."""
    path = Path(tempfile.gettempdir()) / f"aethel-traceback-{os.getpid()}-{time.time_ns()}.txt"
    try:
        write_atomic(path, traceback.format_exc())
    except EnvironmentFailure as failure:
        return f"its traceback could not be saved ({failure})"
    return f"traceback saved to {path}"


@click.group(cls=_Cli)
@click.version_option(package_name="aethel-synchrony")
def main() -> None:
    """Aethel Synchrony: parallel transaction execution you can trust."""


def entry() -> None:
    """The console script: :func:`main`, then exit even when code under test (an executor or
    a user operation) left non-daemon threads behind, which would keep the interpreter alive
    after the command has finished (they get :data:`THREADS_EXIT_GRACE` seconds)."""
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not isinstance(exc.code, int | None):
            echo(exc.code, err=True)
    deadline = time.monotonic() + THREADS_EXIT_GRACE
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join(max(0.0, deadline - time.monotonic()))
    if any(t.is_alive() and not t.daemon for t in threading.enumerate()
           if t is not threading.main_thread()):
        sys.stdout.flush()
        sys.stderr.flush()
        # what a normal exit does first: unlink the semaphores this process created (a
        # process pool's queues), instead of leaving them to the resource tracker's warning
        multiprocessing.util._run_finalizers(0)
        os._exit(code)
    sys.exit(code)
