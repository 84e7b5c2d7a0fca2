"""The progress display of long commands (``aethel verify``, ``aethel bench``): a rich
progress bar on a terminal, otherwise the plain lines the command chooses to print."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class ProgressDisplay:
    """Shows a stage, a detail and how much of a total is done."""

    def __init__(self, console: Console, bar: Progress | None, stage: str,
                 total: float | None) -> None:
        self.console = console
        self.started = time.monotonic()
        self._bar = bar
        self._task = bar.add_task(stage, total=total, detail="") if bar is not None else None

    @property
    def elapsed(self) -> float:
        """Seconds since the display started."""
        return time.monotonic() - self.started

    def update(self, done: float, total: float | None, detail: str, stage: str | None = None,
               line: str | None = None) -> None:
        """Move the bar on a terminal; elsewhere print ``line`` (None: nothing)."""
        if self._bar is not None and self._task is not None:
            fields = {} if stage is None else {"description": stage}
            self._bar.update(self._task, completed=done, total=total, detail=detail, **fields)
        elif line is not None:
            self.console.print(line, highlight=False, soft_wrap=True)


@contextmanager
def progress_display(console: Console, stage: str, total: float | None = None
                     ) -> Iterator[ProgressDisplay]:
    """A :class:`ProgressDisplay` starting at ``stage`` (of ``total``, if known), a bar while
    the block runs if ``console`` is a terminal."""
    if not console.is_terminal:
        yield ProgressDisplay(console, None, stage, total)
        return
    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[detail]}"), TimeElapsedColumn(),
                   console=console, transient=True)
    with bar:
        yield ProgressDisplay(console, bar, stage, total)
