"""Campaigns on a Dask distributed cluster (the optional ``dask`` extra).

``--cluster tcp://HOST:PORT`` connects to a running scheduler; ``--cluster local:N`` starts
a ``LocalCluster`` of N single-threaded worker processes on 127.0.0.1, without a
dashboard. Either way the campaign runner gets the client's ``concurrent.futures``
executor, so a campaign runs exactly as it does on a local process pool; Dask retries the
shards of a lost worker, and the runner counts every shard once by its index.

Progress is counted per example on workers of this machine (``local:N``, or a scheduler
whose workers run here): they reach the campaign's socket
(:class:`~harness.campaign.runner.ExampleCounts`). Workers on other machines (or in another
network namespace, as in a container) cannot, and their examples are counted a shard at a
time, as each shard ends.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from aethel.errors import InputError

EXTRA_HINT = "install the dask extra: python3 -m pip install -e '.[dask]'"


@dataclass(frozen=True)
class ClusterInfo:
    """Where a campaign ran: the scheduler address, its worker count and start-up time."""

    address: str
    workers: int
    startup_seconds: float

    def to_json(self) -> dict[str, Any]:
        return {"address": self.address, "workers": self.workers,
                "startup_seconds": self.startup_seconds}


def parse_cluster(spec: str) -> tuple[str, int | str]:
    """``local:N`` → ("local", N); ``tcp://host:port`` → ("tcp", address)."""
    if spec.startswith("local:"):
        count = spec.removeprefix("local:")
        if not count.isdigit() or int(count) < 1:
            raise InputError(f"local:N needs a positive worker count, got {spec!r}", "--cluster")
        return "local", int(count)
    if spec.startswith("tcp://") and len(spec) > len("tcp://"):
        return "tcp", spec
    raise InputError(f"must be tcp://HOST:PORT or local:N, got {spec!r}", "--cluster")


def _dask() -> Any:
    try:
        import dask
        import distributed
    except ImportError:
        raise InputError(f"--cluster needs Dask distributed: {EXTRA_HINT}", "--cluster") from None
    return dask, distributed


@contextmanager
def local_cluster(workers: int) -> Iterator[Any]:
    """A ``LocalCluster`` of single-threaded, non-daemonic worker processes on 127.0.0.1
    (non-daemonic so that a worker may start the process backend's own workers), with a
    client connected to it."""
    dask, distributed = _dask()
    with dask.config.set({"distributed.worker.daemon": False}), \
            distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                     host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        yield client


@contextmanager
def _remote(address: str) -> Iterator[Any]:
    _, distributed = _dask()
    try:
        client = distributed.Client(address, timeout=10)
    except OSError as exc:
        raise InputError(f"cannot reach the scheduler at {address}: {exc}", "--cluster") from None
    with client:
        yield client


@contextmanager
def open_cluster(spec: str) -> Iterator[tuple[Executor, ClusterInfo]]:
    """A ``concurrent.futures`` executor backed by the cluster named by ``spec``."""
    kind, target = parse_cluster(spec)
    started = time.perf_counter()
    connect = local_cluster(int(target)) if kind == "local" else _remote(str(target))
    with connect as client:
        info = ClusterInfo(client.scheduler.address, len(client.scheduler_info()["workers"]),
                           time.perf_counter() - started)
        with client.get_executor(pure=False) as executor:
            yield executor, info
