"""Allocation-heavy work: pausing the cyclic garbage collector around it."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector: building a large graph (or indexing a large
    trace) allocates millions of long-lived objects, which it would rescan again and again
    for nothing."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
