"""Calls that cannot hang the harness: a deadline on code it does not control.

Python cannot kill a thread, so code under test runs in a daemon helper thread while the
caller waits with a deadline. When the deadline passes the caller goes on: the thread is
abandoned (a daemon thread never blocks the interpreter's exit) and whatever processes the
code started are killed by the caller.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class Hung(Exception):
    """The call did not return within its deadline."""

    def __init__(self, what: str, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(f"{what} did not return within {seconds:g} s")


def call_within(fn: Callable[[], T], seconds: float | None, what: str = "the call") -> T:
    """``fn()``, or :class:`Hung` after ``seconds`` (None: no deadline, run inline).

    Whatever ``fn`` raises, :class:`BaseException` included, is raised here in the caller's
    thread, so a ``SystemExit`` raised by code under test never ends the harness by itself.
    """
    if seconds is None:
        return fn()
    box: dict[str, Any] = {}
    done = threading.Event()

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # carried to the caller, whatever it is
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=target, name="aethel-bounded", daemon=True).start()
    if not done.wait(seconds):
        raise Hung(what, seconds)
    if "error" in box:
        raise box["error"]
    return box["value"]
