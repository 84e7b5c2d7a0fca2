"""Stopping long runs cleanly: SIGINT/SIGTERM become a flag, children are terminated.

A campaign or benchmark that receives SIGINT or SIGTERM finishes its current step, kills
every process it started, writes a partial report marked incomplete and exits with
130 (SIGINT) or 143 (SIGTERM).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from multiprocessing import process, synchronize, util
from typing import Any

import psutil

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


@contextmanager
def stop_on_signals(then: Callable[[], None] = lambda: None
                    ) -> Iterator[Callable[[], int | None]]:
    """Within the block SIGINT/SIGTERM set a flag (and call ``then``) instead of
    interrupting; yields a getter returning the first signal received (or None)."""
    received: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        received.append(signum)
        then()

    previous = {s: signal.signal(s, handler) for s in EXIT_CODES}
    try:
        yield lambda: received[0] if received else None
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


PARENT_CHECK_S = 0.25
"""How often a job process checks that its coordinator is still alive."""


_SEMAPHORES = threading.RLock()
"""Held while this process makes a named semaphore (and registers it with the resource
tracker), unlinks one (and unregisters it), or starts a process (handing it semaphores by
name): see :func:`_guard_semaphores`."""
_ENDING = threading.Event()
"""Set once a job process has begun to end: no semaphore is made nor process started."""
_ENDER: list[int] = []
"""The thread that ends the job (it alone may still make semaphores or start processes)."""


def _guarded(step: Callable[..., Any]) -> Callable[..., Any]:
    """``step`` under :data:`_SEMAPHORES`; once the job is ending, never in another thread
    than the ending one: that thread waits for the process to exit instead."""

    def guarded(*args: Any, **kwargs: Any) -> Any:
        with _SEMAPHORES:
            ending = _ENDING.is_set() and threading.get_ident() not in _ENDER
            if not ending:
                return step(*args, **kwargs)
        threading.Event().wait()  # never set: the ending thread exits the process

    return guarded


def _guard_semaphores() -> None:
    """Make each of multiprocessing's named semaphores of this process come or go as one
    step under :data:`_SEMAPHORES` (made and registered with the resource tracker, or
    unlinked and unregistered), and each process start too. A process that exits in the
    middle of either leaves the tracker to warn (registered, never cleaned up; or unlinked,
    never unregistered), and a child still starting when its semaphores are unlinked fails
    to open them."""
    if getattr(synchronize.SemLock, "_aethel_guarded", False):
        return
    cleanup = synchronize.SemLock._cleanup

    def guarded_cleanup(name: str) -> None:
        with _SEMAPHORES:  # even once ending: an unlinking, once begun, is finished
            cleanup(name)

    synchronize.SemLock.__init__ = _guarded(synchronize.SemLock.__init__)  # type: ignore
    synchronize.SemLock._cleanup = staticmethod(guarded_cleanup)  # type: ignore
    process.BaseProcess.start = _guarded(process.BaseProcess.start)  # type: ignore
    synchronize.SemLock._aethel_guarded = True  # type: ignore[attr-defined]


def become_job(coordinator: int, close: Callable[[], None]) -> None:
    """Make this process a job of ``coordinator`` (a pool initializer).

    The job was started within :func:`aethel.backends.signals_held` (see
    :func:`~harness.campaign.runner.run_campaign`): SIGINT and SIGTERM stay blocked until its
    handlers are set. SIGINT is ignored: a terminal's Ctrl-C reaches the whole process group,
    and what it means is the coordinator's to decide. SIGTERM, or the coordinator's death
    however it died (SIGKILL included), ends the job from a thread of its own (not a daemon:
    a main thread that returns meanwhile waits for it). From then on no other thread makes a
    semaphore or starts a process (:func:`_guard_semaphores`); ``close`` runs (it closes the
    job's executors and ends the processes they started), multiprocessing's finalizers unlink
    the job's semaphores, and the process exits with 143 once no other thread is between
    unlinking a semaphore and unregistering it. The processes the job spawns are spared the
    ``aethel`` command's script (:func:`spare_children_the_command`).
    """
    spare_children_the_command()
    _guard_semaphores()
    ending = threading.Lock()

    def end() -> None:
        if not ending.acquire(blocking=False):
            return
        try:
            with _SEMAPHORES:
                _ENDER.append(threading.get_ident())
                _ENDING.set()
            close()
            util._run_finalizers()
            _SEMAPHORES.acquire()  # held until the exit: no unlinking is cut in two
        finally:
            os._exit(EXIT_CODES[signal.SIGTERM])

    def start_end(*_: Any) -> None:
        try:
            threading.Thread(target=end, name="aethel-job-end").start()
        except RuntimeError:  # the interpreter is shutting down: the job is exiting anyway
            return

    def watch() -> None:
        while os.getppid() == coordinator:
            time.sleep(PARENT_CHECK_S)
        start_end()

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, start_end)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, EXIT_CODES)
    threading.Thread(target=watch, name="aethel-job-watch", daemon=True).start()


def spare_children_the_command() -> None:
    """Tell the processes this one spawns from now on (job processes, the engine's workers)
    to import no main module, when this process's main module is the ``aethel`` command's
    script (or its re-run in a spawned child).

    A spawned child re-runs its parent's main script (multiprocessing does so, so that what
    it defines can be unpickled); the command's script defines nothing but its entry point,
    and re-running it imports the whole command line (a few tenths of a second of CPU in
    every job and in every engine worker, which a process-backend campaign starts again
    after each timeout example). Any other main module is left alone: a script's children
    may need what it defines."""
    main = sys.modules.get("__main__")
    cli = sys.modules.get("harness.cli")
    entry = getattr(cli, "entry", None)
    if main is not None and entry is not None and getattr(main, "entry", None) is entry:
        main.__dict__.pop("__file__", None)


def terminate_children(timeout: float = 3.0, keep: Collection[int] = ()) -> None:
    """Terminate, then kill, every descendant process of this one but those in ``keep`` and
    multiprocessing's helpers (:func:`_is_helper`). The engine's forked workers are
    descendants through the fork server and are ended with the rest."""
    children = [c for c in psutil.Process().children(recursive=True)
                if c.pid not in keep and not _is_helper(c)]
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
    exit by themselves (multiprocessing's helpers aside: :func:`_is_helper`)."""
    children = [c for c in psutil.Process().children()
                if c.pid not in keep and not _is_helper(c)]
    psutil.wait_procs(children, timeout=timeout)


def descendants() -> set[int]:
    """Process ids of every live descendant of this process."""
    return {c.pid for c in psutil.Process().children(recursive=True)}


def _is_helper(process: psutil.Process) -> bool:
    """Whether ``process`` is one of multiprocessing's helpers, which serve every pool of
    this process and exit by themselves once it is gone: the resource tracker (it outlives
    the others on purpose, to unlink the semaphores they leave behind) and the fork server
    the engine's workers are forked from (ending it would only make the next pool start it
    again)."""
    command = command_line(process)
    if "multiprocessing.resource_tracker" in command:
        return True
    if "multiprocessing.forkserver" not in command:
        return False
    try:  # a worker forked from the fork server shares its command line, not its parent's
        parent = process.parent()
    except psutil.Error:
        return False
    return parent is not None and "multiprocessing.forkserver" not in command_line(parent)


def command_line(process: psutil.Process) -> str:
    """``process``'s command line as one string ("" once it is gone or not ours to read)."""
    try:
        return " ".join(process.cmdline())
    except psutil.Error:
        return ""


def exit_code(signum: int) -> int:
    """The conventional exit code for a run stopped by ``signum``."""
    return EXIT_CODES[signal.Signals(signum)]
