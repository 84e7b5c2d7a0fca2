"""Stopping long runs cleanly: SIGINT/SIGTERM become a flag, children are terminated.

A campaign or benchmark that receives SIGINT or SIGTERM finishes its current step, kills
every process it started, writes a partial report marked incomplete and exits with
130 (SIGINT) or 143 (SIGTERM).
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from typing import Any

import psutil

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


@contextmanager
def stop_on_signals() -> Iterator[Callable[[], int | None]]:
    """Within the block SIGINT/SIGTERM set a flag instead of interrupting; yields a getter
    returning the first signal received (or None)."""
    received: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        received.append(signum)

    previous = {s: signal.signal(s, handler) for s in EXIT_CODES}
    try:
        yield lambda: received[0] if received else None
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def terminate_children(timeout: float = 3.0, keep: Collection[int] = ()) -> None:
    """Terminate, then kill, every descendant process of this one but those in ``keep`` and
    multiprocessing's resource tracker: it outlives the others on purpose, to unlink the
    semaphores they leave behind, and exits by itself once they are gone."""
    children = [c for c in psutil.Process().children(recursive=True)
                if c.pid not in keep and not _is_resource_tracker(c)]
    for child in children:
        try:
            child.terminate()
        except psutil.NoSuchProcess:
            continue
    _, alive = psutil.wait_procs(children, timeout=timeout)
    for child in alive:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            continue
    psutil.wait_procs(alive, timeout=timeout)


def wait_for_children(timeout: float, keep: Collection[int] = ()) -> None:
    """Wait up to ``timeout`` seconds for this process's children but those in ``keep`` to
    exit by themselves (multiprocessing's resource tracker aside)."""
    children = [c for c in psutil.Process().children()
                if c.pid not in keep and not _is_resource_tracker(c)]
    psutil.wait_procs(children, timeout=timeout)


def descendants() -> set[int]:
    """Process ids of every live descendant of this process."""
    return {c.pid for c in psutil.Process().children(recursive=True)}


def _is_resource_tracker(process: psutil.Process) -> bool:
    try:
        return any("resource_tracker" in part for part in process.cmdline())
    except psutil.Error:
        return False


def exit_code(signum: int) -> int:
    """The conventional exit code for a run stopped by ``signum``."""
    return EXIT_CODES[signal.Signals(signum)]
