"""Executors that record no versions, verified through the executor protocol.

``Versionless`` runs the built-in :class:`~aethel.executor.ParallelExecutor` and hands back
its result with ``version`` and ``replaced`` left out of every event, as an executor that
does not track versions would. ``VersionlessIgnoresDependencies`` does the same for a
mutant whose bug shows in the values read, and ``SomeVersions`` drops the version of only
the last READ of each batch (a trace with versions on some events but not all).
"""

from __future__ import annotations

from typing import Any

from aethel.errors import ExecutionError
from aethel.executor import ParallelExecutor
from aethel.model import Batch
from aethel.trace import READ, Event
from harness.mutants.executors import IgnoresDependencies


def without_versions(events: list[Event]) -> list[Event]:
    """``events`` without their ``version`` and ``replaced`` fields."""
    return [e._replace(version=None, replaced=None) for e in events]


class Versionless:
    """The built-in executor (or ``inner``), with no versions in its traces."""

    inner: type[ParallelExecutor] = ParallelExecutor

    def __init__(self, backend: str = "thread", workers: int = 2, **kwargs: Any) -> None:
        self.executor = self.inner(backend, workers, **kwargs)
        self.backend, self.workers = self.executor.backend, self.executor.workers

    def strip(self, events: list[Event]) -> list[Event]:
        """What this executor records of ``events``."""
        return without_versions(events)

    def execute(self, batch: Batch) -> dict[str, Any]:
        """Run ``batch``; a stopped batch's error carries the stripped trace too."""
        try:
            result = self.executor.execute(batch)
        except ExecutionError as exc:
            exc.trace = self.strip(exc.trace)
            raise
        return {"final_states": result.final_states, "outcomes": result.outcomes,
                "execution_trace": self.strip(result.execution_trace)}

    def close(self) -> None:
        self.executor.close()


class VersionlessIgnoresDependencies(Versionless):
    """The mutant that ignores dependencies, with no versions in its traces."""

    inner = IgnoresDependencies


class SomeVersions(Versionless):
    """The built-in executor, with the version of the last READ of each trace left out."""

    def strip(self, events: list[Event]) -> list[Event]:
        last = max((i for i, e in enumerate(events) if e.kind == READ), default=None)
        return [e._replace(version=None) if i == last else e for i, e in enumerate(events)]
