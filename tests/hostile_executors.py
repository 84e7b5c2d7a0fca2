"""Executors that misbehave the way third-party code can: they hang, raise what no executor
should raise, own processes they never close, or leave non-daemon threads behind.

Each is a protocol factory (``MODULE:ATTR`` for ``aethel verify --executor``): called as
``factory(backend=..., workers=...)``.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from aethel.executor import ParallelExecutor

MARKER = "AETHEL_TEST_MARKER"
"""Environment variable naming a file that ``close()`` appends to, so a test can see it ran."""


class _Delegating:
    """Runs batches correctly on the engine's serial backend."""

    def __init__(self, backend: str = "thread", workers: int = 1) -> None:
        self.engine = ParallelExecutor("serial")

    def execute(self, batch):
        return self.engine.execute(batch)


class NeverReturns(_Delegating):
    """``execute`` blocks forever."""

    def execute(self, batch):
        threading.Event().wait()


class _Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text for you")


RAISED = {
    "SystemExit": lambda: SystemExit(0),
    "KeyboardInterrupt": KeyboardInterrupt,
    "GeneratorExit": GeneratorExit,
    "_Unprintable": _Unprintable,
}


def raising(name: str):
    """A factory whose executor raises ``RAISED[name]()`` from ``execute``."""

    class Raises(_Delegating):
        def execute(self, batch):
            raise RAISED[name]()

    return Raises


RaisesSystemExit = raising("SystemExit")
RaisesKeyboardInterrupt = raising("KeyboardInterrupt")
RaisesGeneratorExit = raising("GeneratorExit")
RaisesUnprintable = raising("_Unprintable")


class OwnsProcessPool(_Delegating):
    """Owns a process pool that only ``close()`` shuts down (its workers are not daemonic,
    so an executor that is never closed keeps its process alive at exit)."""

    def __init__(self, backend: str = "thread", workers: int = 1) -> None:
        super().__init__(backend, workers)
        self.pool = ProcessPoolExecutor(1, mp_context=get_context("spawn"))
        self.pool.submit(os.getpid).result()

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        marker = os.environ.get(MARKER)
        if marker:
            with Path(marker).open("a", encoding="utf-8") as fh:
                fh.write(f"closed {os.getpid()}\n")


class LeavesThread(_Delegating):
    """Starts a non-daemon thread that never ends."""

    def __init__(self, backend: str = "thread", workers: int = 1) -> None:
        super().__init__(backend, workers)
        threading.Thread(target=threading.Event().wait, name="left-behind",
                         daemon=False).start()
