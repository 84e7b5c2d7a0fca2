"""A worker's task pipe: messages arrive whole and in order, and the coordinator never blocks.

The coordinator writes a message the pipe surely has room for itself, while nothing waits
for the outbox thread; anything else goes through the thread (waking it costs CPU, so the
common small chunk should not).
"""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
from collections.abc import Iterator

import pytest

from aethel.backends import PAGE, _Outbox, _pipe_room

HANG_GUARD_S = 60
"""How long a put may take before the test calls it blocked (it returns at once)."""


@pytest.fixture
def pipe() -> Iterator[tuple[mp.connection.Connection, _Outbox]]:
    reader, writer = mp.Pipe(duplex=False)
    outbox = _Outbox(writer)
    yield reader, outbox
    outbox.close()
    reader.close()


def _receive(reader: mp.connection.Connection, count: int) -> list[object]:
    from multiprocessing.reduction import ForkingPickler
    messages = []
    for _ in range(count):
        assert reader.poll(HANG_GUARD_S), "a message never arrived"
        messages.append(ForkingPickler.loads(reader.recv_bytes()))
    return messages


def _idle(outbox: _Outbox) -> None:
    """Wait until the thread has counted every message it was handed as written."""
    deadline = time.monotonic() + HANG_GUARD_S
    while outbox._written != outbox._put:
        assert time.monotonic() < deadline, "the thread never finished writing"
        time.sleep(0.001)


def test_a_small_message_to_a_pipe_with_room_is_written_at_once(pipe) -> None:
    reader, outbox = pipe
    outbox.put(("run", [(0, None, {"a": (1, "init")})]))
    assert outbox._put == 0  # the thread was never handed it
    assert reader.poll(0), "the message is in the pipe when put returns"
    assert _receive(reader, 1) == [("run", [(0, None, {"a": (1, "init")})])]


def test_a_message_too_large_for_the_room_goes_through_the_thread_and_order_holds(pipe
                                                                                   ) -> None:
    reader, outbox = pipe
    large = ("load", bytes(200_000))
    outbox.put(large)
    for i in range(20):
        outbox.put(("run", i))
    assert outbox._put == 21  # once the thread has one, the rest wait behind it
    assert _receive(reader, 21) == [large, *(("run", i) for i in range(20))]
    _idle(outbox)
    outbox.put(("run", 20))
    assert outbox._put == 21  # written at once again when the thread is idle
    assert _receive(reader, 1) == [("run", 20)]


def test_puts_to_a_worker_that_reads_nothing_never_block(pipe) -> None:
    reader, outbox = pipe
    message = ("run", bytes(10_000))
    done = threading.Event()

    def fill() -> None:
        for _ in range(30):  # 300 KB: several pipes full
            outbox.put(message)
        done.set()

    threading.Thread(target=fill, daemon=True).start()
    assert done.wait(HANG_GUARD_S), "put blocked on a full pipe"
    assert 0 < outbox._put < 30  # some were written at once, the rest left to the thread
    assert _receive(reader, 30) == [message] * 30


def test_room_counts_the_pages_unread_bytes_may_take() -> None:
    reader, writer = mp.Pipe(duplex=False)
    try:
        empty = _pipe_room(writer.fileno())
        writer.send_bytes(bytes(100))
        assert _pipe_room(writer.fileno()) == empty
        writer.send_bytes(bytes(PAGE))
        assert _pipe_room(writer.fileno()) == empty - PAGE
        assert empty >= PAGE  # room for a chunk in an empty pipe
    finally:
        writer.close()
        reader.close()
