"""Bounded calls (:func:`harness.campaign.bounded.call_within`): each calling thread hands
its calls to one helper thread of its own instead of starting a thread per call (two or
three per example of a campaign), and a helper stuck in a hung call is abandoned.

The only deadlines here are on calls that never return until the test lets them, or many
times what a call needs: load on the machine cannot break them.
"""

from __future__ import annotations

import gc
import threading

import pytest

from harness.campaign.bounded import Hung, call_within

DEADLINE = 60.0
"""Seconds a call that returns at once may take (a bound for a broken test only)."""


def _helpers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "aethel-bounded"]


def _until(condition) -> bool:
    """Whether ``condition()`` holds within :data:`DEADLINE` (collecting garbage meanwhile)."""
    stop = threading.Event()
    for _ in range(int(DEADLINE / 0.05)):
        gc.collect()
        if condition():
            return True
        stop.wait(0.05)
    return condition()


def test_the_calls_of_one_thread_run_in_one_helper_thread():
    ran_in = [call_within(threading.current_thread, DEADLINE) for _ in range(50)]
    assert len({id(thread) for thread in ran_in}) == 1
    assert ran_in[0] is not threading.current_thread()


def test_whatever_the_call_raises_reaches_the_caller_and_the_helper_goes_on():
    def leave() -> None:
        raise SystemExit(3)

    with pytest.raises(SystemExit):
        call_within(leave, DEADLINE)
    first = call_within(threading.get_ident, DEADLINE)
    with pytest.raises(KeyError):
        call_within(lambda: {}["missing"], DEADLINE)
    assert call_within(threading.get_ident, DEADLINE) == first


def test_a_helper_stuck_in_a_hung_call_is_abandoned_and_ends_once_it_returns():
    release = threading.Event()
    stuck = call_within(threading.get_ident, DEADLINE)
    with pytest.raises(Hung, match="the call did not return within 0.1 s"):
        call_within(release.wait, 0.1)
    fresh = call_within(threading.get_ident, DEADLINE)
    assert fresh != stuck
    release.set()
    assert _until(lambda: stuck not in {t.ident for t in _helpers()})
    assert call_within(threading.get_ident, DEADLINE) == fresh


def test_the_helper_of_a_thread_that_ended_ends_too():
    before = {t.ident for t in _helpers()}
    ran_in: list[int] = []
    together = threading.Barrier(8)

    def caller() -> None:
        ran_in.append(call_within(threading.get_ident, DEADLINE))
        together.wait(DEADLINE)  # every caller, and so its helper, is alive at once

    callers = [threading.Thread(target=caller) for _ in range(8)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(DEADLINE)
    assert len(set(ran_in)) == 8 and not set(ran_in) & before
    assert _until(lambda: not set(ran_in) & {t.ident for t in _helpers()})


def test_no_deadline_runs_the_call_inline():
    assert call_within(threading.get_ident, None) == threading.get_ident()
