"""The executor protocol (docs/executor-protocol.md): how the harness drives any executor.

An executor under test is named ``MODULE:ATTR``. ``ATTR`` is a factory, called as
``ATTR(backend=NAME, workers=N)`` (plus ``timeout=SECONDS`` when a campaign wants one and
the factory takes that keyword: :func:`accepts_timeout`), that returns an object with
``execute(batch)`` (and, optionally, ``close()``). ``execute`` receives an
:class:`aethel.model.Batch` and returns anything with ``final_states``, ``outcomes`` and
``execution_trace`` — as attributes or dictionary keys — in the forms :func:`normalize`
accepts. The harness never trusts anything else an executor says about itself.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aethel.errors import (
    EnvironmentFailure,
    ExecutionError,
    ExecutionTimeout,
    InputError,
    describe_exception,
)
from aethel.executor import ParallelExecutor
from aethel.model import Batch
from aethel.operations import load_object
from aethel.outcome import STATUSES, Outcome
from aethel.trace import Event, event_from_json

BUILTIN = "aethel"
"""The name under which the project's own ParallelExecutor is verified."""

ExecutorFactory = Callable[..., Any]


def load_factory(spec: str | None) -> ExecutorFactory:
    """The factory named ``MODULE:ATTR`` (``None`` or ``"aethel"``: :class:`ParallelExecutor`)."""
    if spec in (None, BUILTIN):
        return ParallelExecutor
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise InputError(f"must be MODULE:ATTR, got {spec!r}", "--executor")
    try:
        target = load_object(spec)
    except Exception as exc:  # any failure to import user code is bad input
        raise InputError(f"cannot load {spec!r}: {type(exc).__name__}: {exc}",
                         "--executor") from None
    if not callable(target):
        raise InputError(f"{spec!r} is not callable", "--executor")
    return target


def accepts_timeout(factory: ExecutorFactory) -> bool:
    """Whether ``factory``'s signature takes a ``timeout`` keyword (or ``**kwargs``); a
    signature that cannot be inspected counts as not taking it."""
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.kind is p.VAR_KEYWORD or (p.name == "timeout" and p.kind in (
        p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)) for p in parameters)


def make_executor(factory: ExecutorFactory, spec: str, backend: str, workers: int,
                  timeout: float | None = None) -> Any:
    """``factory(backend=..., workers=...)`` (with ``timeout=...`` if given and the factory
    takes it), which must return an object with ``execute``; anything else (the call raising
    included) is an :class:`InputError` naming --executor, except an
    :class:`EnvironmentFailure` (e.g. a database server that is down), raised as it is."""
    kwargs: dict[str, Any] = {"backend": backend, "workers": workers}
    if timeout is not None and accepts_timeout(factory):
        kwargs["timeout"] = timeout
    try:
        executor = factory(**kwargs)
    except EnvironmentFailure:
        raise
    except Exception as exc:  # user code: any other failure to build an executor is bad input
        raise InputError(f"{spec!r} did not make an executor: {describe_exception(exc)}",
                         "--executor") from None
    if not callable(getattr(executor, "execute", None)):
        raise InputError(f"{spec!r} returned a {type(executor).__name__}, which has no "
                         "execute() method; it must be an executor factory", "--executor")
    return executor


@dataclass
class Run:
    """What one execution produced, in the harness's terms.

    ``error`` is set when the executor raised an :class:`ExecutionError` (the batch did not
    finish); ``stopped`` then says so in words, and ``final_states`` and ``trace`` hold what
    the exception carried.
    """

    backend: str
    workers: int
    final_states: dict[str, int]
    outcomes: dict[str, Outcome]
    execution_trace: list[Event]
    execution_time: float = 0.0
    error: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    stopped: str | None = None


def execute(executor: Any, batch: Batch, backend: str, workers: int) -> Run:
    """Run ``batch`` on ``executor`` and normalise what it returns."""
    try:
        result = executor.execute(batch)
    except ExecutionError as exc:
        final = exc.final_states if isinstance(exc.final_states, Mapping) else {}
        return Run(backend, workers, dict(final), {}, _events(exc.trace), error=str(exc),
                   stopped=describe_stop(exc))
    final_states, outcomes, trace = normalize(result)
    return Run(backend, workers, final_states, outcomes, trace,
               float(_get(result, "execution_time", 0.0) or 0.0),
               metrics=dict(_get(result, "metrics", {}) or {}))


def normalize(result: Any) -> tuple[dict[str, int], dict[str, Outcome], list[Event]]:
    """(final balances, outcomes, trace) from an executor's result.

    ``outcomes`` values may be :class:`Outcome`, a status string, or ``{"status", "reason"}``;
    trace entries may be :class:`Event` or JSON objects in the trace format, with or without
    versions (a trace records them on all its READ and WRITE events or on none; the checkers
    judge that rule, so a trace breaking it fails its example instead of stopping the run).
    """
    final_states = _get(result, "final_states", None)
    if not isinstance(final_states, Mapping):
        raise InputError("the executor's result has no 'final_states' mapping", "result")
    outcomes = _get(result, "outcomes", None)
    if not isinstance(outcomes, Mapping):
        raise InputError("the executor's result has no 'outcomes' mapping", "result")
    raw_trace = _get(result, "execution_trace", None)
    if raw_trace is None:
        raw_trace = _get(result, "trace", [])
    return dict(final_states), {t: _outcome(t, o) for t, o in outcomes.items()}, \
        _events(raw_trace)


def describe_stop(exc: ExecutionError) -> str:
    """What an executor reported by raising ``exc``, in words: ``a timeout (message)``."""
    what = "a timeout" if isinstance(exc, ExecutionTimeout) else f"a {type(exc).__name__}"
    return f"{what} ({describe_exception(exc).partition(': ')[2] or type(exc).__name__})"


def _events(raw_trace: Any) -> list[Event]:
    return [e if isinstance(e, Event) else event_from_json(e, f"execution_trace[{i}]")
            for i, e in enumerate(raw_trace)]


def _outcome(txn: str, value: Any) -> Outcome:
    if isinstance(value, Outcome):
        return value
    if isinstance(value, str):
        status, reason = value, None
    elif isinstance(value, Mapping):
        status, reason = value.get("status"), value.get("reason")
    else:
        status, reason = getattr(value, "status", None), getattr(value, "reason", None)
    if status not in STATUSES:
        raise InputError(f"status must be one of {', '.join(STATUSES)}, got {status!r}",
                         f"outcomes.{txn}")
    return Outcome(status, reason)


def _get(result: Any, name: str, default: Any) -> Any:
    if isinstance(result, Mapping):
        return result.get(name, default)
    return getattr(result, name, default)
