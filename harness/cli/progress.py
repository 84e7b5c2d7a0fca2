"""The progress display of long commands (``aethel verify``, ``aethel bench``): a rich
progress bar on an interactive terminal; in CI mode, the plain lines the command chooses to
print.

CI mode is when the console is not an interactive terminal (output to a file or a pipe, as
a CI runner captures it, or ``TERM=dumb``) or when the environment variable ``CI`` is set
to anything but ``""``, ``0`` or ``false`` (as CI services set it, even when they fake a
terminal with ``FORCE_COLOR``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from harness.report.terminal import printable


def ci_mode(console: Console) -> bool:
    """Whether progress goes to ``console`` as plain lines (see the module)."""
    return (not console.is_interactive
            or os.environ.get("CI", "").strip().lower() not in ("", "0", "false"))


class ProgressDisplay:
    """Shows a stage, a detail and how much of a total is done."""

    def __init__(self, console: Console, bar: Progress | None, stage: str,
                 total: float | None) -> None:
        self.console = console
        self.started = time.monotonic()
        self._bar = bar
        self._task = bar.add_task(stage, total=total, detail="") if bar is not None else None

    @property
    def plain(self) -> bool:
        """Whether this display prints lines (CI mode) instead of moving a bar."""
        return self._bar is None

    @property
    def elapsed(self) -> float:
        """Seconds since the display started."""
        return time.monotonic() - self.started

    def update(self, done: float, total: float | None, detail: str, stage: str | None = None,
               line: str | None = None) -> None:
        """Move the bar on a terminal; in CI mode print ``line`` (None: nothing)."""
        if self._bar is not None and self._task is not None:
            fields = {} if stage is None else {"description": stage}
            self._bar.update(self._task, completed=done, total=total, detail=detail, **fields)
        elif line is not None:
            self.print(line)

    def print(self, line: str) -> None:
        """Print ``line`` (made safe for a terminal) above the bar, or as a plain line."""
        self.console.print(printable(line), markup=False, highlight=False, soft_wrap=True)


@contextmanager
def progress_display(console: Console, stage: str, total: float | None = None
                     ) -> Iterator[ProgressDisplay]:
    """A :class:`ProgressDisplay` starting at ``stage`` (of ``total``, if known): a bar while
    the block runs on an interactive terminal, nothing of its own in CI mode."""
    if ci_mode(console):
        yield ProgressDisplay(console, None, stage, total)
        return
    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[detail]}"), TimeElapsedColumn(),
                   TimeRemainingColumn(compact=True), console=console, transient=True)
    with bar:
        yield ProgressDisplay(console, bar, stage, total)
