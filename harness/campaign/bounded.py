"""Calls that cannot hang the harness: a deadline on code it does not control.

Python cannot kill a thread, so code under test runs in a daemon helper thread while the
caller waits with a deadline. When the deadline passes the caller goes on: the helper is
abandoned (a daemon thread never blocks the interpreter's exit) and whatever processes the
code started are killed by the caller.

Each calling thread keeps one helper for all its calls, instead of starting a thread per
call: a campaign makes two or three bounded calls per example, and a thread started for
each cost some 110 µs of CPU and 300 µs of the job's time (a helper handed the call: some
45 µs and 50 µs). A helper ends when its caller's thread does, or, if abandoned, once the
call it is stuck in returns.
"""

from __future__ import annotations

import _thread
import os
import threading
import weakref
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any, TypeVar

T = TypeVar("T")


class Hung(Exception):
    """The call did not return within its deadline."""

    def __init__(self, what: str, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(f"{what} did not return within {seconds:g} s")


class _Helper:
    """A daemon thread running the calls handed to it, one at a time, until it is handed
    None (when this object is collected: its caller's thread ended, or abandoned it)."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.calls: SimpleQueue[Callable[[], None] | None] = SimpleQueue()
        threading.Thread(target=_serve, args=(self.calls,), name="aethel-bounded",
                         daemon=True).start()
        weakref.finalize(self, self.calls.put, None)


def _serve(calls: SimpleQueue[Callable[[], None] | None]) -> None:
    while (call := calls.get()) is not None:
        call()


_HELPERS = threading.local()


def _helper() -> _Helper:
    """The calling thread's helper (a new one in a forked child: the parent's did not
    follow it)."""
    helper: _Helper | None = getattr(_HELPERS, "helper", None)
    if helper is None or helper.pid != os.getpid():
        helper = _HELPERS.helper = _Helper()
    return helper


def call_within(fn: Callable[[], T], seconds: float | None, what: str = "the call") -> T:
    """``fn()``, or :class:`Hung` after ``seconds`` (None: no deadline, run inline).

    Whatever ``fn`` raises, :class:`BaseException` included, is raised here in the caller's
    thread, so a ``SystemExit`` raised by code under test never ends the harness by itself.
    """
    if seconds is None:
        return fn()
    box: dict[str, Any] = {}
    done = _thread.allocate_lock()
    done.acquire()

    def call() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # carried to the caller, whatever it is
            box["error"] = exc
        finally:
            done.release()

    _helper().calls.put(call)
    if not done.acquire(timeout=seconds):
        _HELPERS.helper = None  # abandoned, stuck in fn: the next call gets a new helper
        raise Hung(what, seconds)
    if "error" in box:
        raise box["error"]
    return box["value"]
