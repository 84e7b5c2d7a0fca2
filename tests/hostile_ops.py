"""User operations that misbehave on purpose, referenced as ``tests.hostile_ops:NAME``.

Each raises something a careless or hostile user function can raise: exceptions outside
``Exception``, an exception that cannot even be printed, a result that cannot be pickled.
"""

from __future__ import annotations

import threading

from aethel.operations import AccountView


def exit_zero(view: AccountView) -> None:
    """``sys.exit(0)`` from inside a transaction."""
    raise SystemExit(0)


def interrupt(view: AccountView) -> None:
    """A KeyboardInterrupt raised by the function itself (not by a signal)."""
    raise KeyboardInterrupt


def generator_exit(view: AccountView) -> None:
    """A stray GeneratorExit."""
    raise GeneratorExit


class BadStr(Exception):
    """An exception whose ``str()`` raises, and raises something outside ``Exception``."""

    def __str__(self) -> str:
        raise KeyboardInterrupt("no text for you")


def bad_str(view: AccountView) -> None:
    """Raise an exception that cannot be printed."""
    raise BadStr()


class Unpicklable(int):
    """A balance that refuses to cross a process boundary."""

    def __reduce__(self) -> tuple:
        raise TypeError("this balance cannot be pickled")


def unpicklable_write(view: AccountView, account: str) -> None:
    """Write a balance that a worker process cannot send back."""
    view[account] = Unpicklable(1)


_MEETING = threading.Barrier(2)


def meet(view: AccountView) -> None:
    """Wait until a second transaction calls ``meet`` too (30 s at most): committing two of
    them at once proves that two worker threads are alive."""
    _MEETING.wait(timeout=30)
