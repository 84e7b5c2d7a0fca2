"""Histories of given shapes, recorded from real concurrent objects under threads.

Each client thread records its invocation time before taking the object's lock and its
completion time after releasing it, with ``time.monotonic_ns``: the operation takes effect
inside the lock, within its interval, so the history is linearizable by construction.
:func:`perturb` then makes one read return a value never written.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

from harness.history.formats import Event

Apply = Callable[[random.Random, Any], tuple[str, Any, Any, str]]
"""One client's next operation on the object: ``(f, invoked value, completed value,
type)``, computed and applied while the object's lock is held."""


def record(clients: int, ops: int, apply: Apply, seed: int = 0, crash: float = 0.0,
           latency: float = 0.001) -> list[Event]:
    """``ops`` operations in all from ``clients`` threads on one object behind a lock.

    Each operation waits up to ``latency`` seconds (at random) before taking the lock and
    again after releasing it, as a request and its reply would. With probability ``crash``
    an operation ends ``:info`` (it took effect or not, at random) and its client continues
    as a new process, as Jepsen's clients do."""
    lock = threading.Lock()
    box: dict[str, Any] = {}
    counter = iter(range(ops))
    logs: list[list[tuple[int, int, Event]]] = [[] for _ in range(clients)]

    def client(number: int) -> None:
        rng = random.Random(seed * 1000 + number)
        process = number
        log = logs[number]
        while next(counter, None) is not None:
            crashed = rng.random() < crash
            effective = not crashed or rng.random() < 0.5
            start = time.monotonic_ns()
            time.sleep(rng.random() * latency)
            with lock:
                f, asked, value, kind = apply(rng, box if effective else dict(box))
            time.sleep(rng.random() * latency)
            end = time.monotonic_ns()
            log.append((start, 0, Event(process, "invoke", f, asked, None, start, 0)))
            if crashed:
                log.append((end, 1, Event(process, "info", f, asked, None, end, 0)))
                process += clients
            else:
                log.append((end, 1, Event(process, kind, f, value, None, end, 0)))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    merged = sorted((entry for log in logs for entry in log), key=lambda e: e[:2])
    return [event._replace(line=n) for n, (_, _, event) in enumerate(merged, 1)]


def cas_register(values: int = 5) -> Apply:
    """Reads, writes and cas of small integers on a register that starts at nil."""

    def apply(rng: random.Random, box: dict[str, Any]) -> tuple[str, Any, Any, str]:
        current = box.get("value")
        f = rng.choice(("read", "write", "cas"))
        if f == "read":
            return f, None, current, "ok"
        if f == "write":
            value = rng.randrange(values)
            box["value"] = value
            return f, value, value, "ok"
        old, new = rng.randrange(values), rng.randrange(values)
        if current != old:
            return f, [old, new], [old, new], "fail"
        box["value"] = new
        return f, [old, new], [old, new], "ok"

    return apply


def key_value(keys: int = 10) -> Apply:
    """Gets, puts and appends of short strings on ``keys`` keys (Jepsen's ``[key value]``
    values)."""

    def apply(rng: random.Random, box: dict[str, Any]) -> tuple[str, Any, Any, str]:
        key = str(rng.randrange(keys))
        current = box.get(key, "")
        f = rng.choice(("get", "put", "append"))
        if f == "get":
            return f, [key, None], [key, current], "ok"
        piece = f"x{rng.randrange(1000)}y"
        box[key] = piece if f == "put" else current + piece
        return f, [key, piece], [key, piece], "ok"

    return apply


def perturb(events: list[Event], rng: random.Random, value: Any) -> list[Event]:
    """``events`` with one ``:ok`` read (or get) returning ``value`` instead."""
    reads = [i for i, e in enumerate(events) if e.type == "ok" and e.f in ("read", "get")]
    chosen = rng.choice(reads)
    event = events[chosen]
    changed = [event.value[0], value] if isinstance(event.value, list) else value
    return events[:chosen] + [event._replace(value=changed)] + events[chosen + 1:]


def concurrent_writes(writes: int) -> list[Event]:
    """``writes`` writes of distinct values, all concurrent, then a read of a value none
    wrote: not linearizable, and the search must rule out every order of the writes."""
    invokes = [Event(p, "invoke", "write", p, None, None, p + 1) for p in range(writes)]
    oks = [Event(p, "ok", "write", p, None, None, writes + p + 1) for p in range(writes)]
    read = [Event(writes, "invoke", "read", None, None, None, 2 * writes + 1),
            Event(writes, "ok", "read", -1, None, None, 2 * writes + 2)]
    return invokes + oks + read
