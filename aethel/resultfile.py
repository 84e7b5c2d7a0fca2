"""The result file (``aethel run --out``): final balances, outcomes and metrics of one
execution as JSON (its trace is written separately), and reading it back."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aethel.errors import InputError
from aethel.files import read_json, write_atomic
from aethel.model import MODES

if TYPE_CHECKING:
    from aethel.executor import ExecutionResult


def result_document(result: ExecutionResult) -> dict[str, Any]:
    """The result file's JSON document for ``result``."""
    return {
        "backend": result.backend,
        "schedule": result.schedule,
        "mode": result.mode,
        "workers": result.worker_count,
        "committed": result.committed,
        "error": result.error,
        "execution_time": result.execution_time,
        "final_states": result.final_states,
        "outcomes": {t: {k: v for k, v in asdict(o).items() if v is not None}
                     for t, o in result.outcomes.items()},
        "parallel_groups": len(result.parallel_groups),
        "metrics": result.metrics,
    }


def write_result(path: str | Path, result: ExecutionResult) -> None:
    """Write the result file of ``result`` to ``path`` (atomically)."""
    write_atomic(path, json.dumps(result_document(result), indent=1) + "\n")


def load_result(path: str | Path) -> tuple[dict[str, int], dict[str, tuple[str, str | None]],
                                           str | None]:
    """Read a result file: (final_states, outcomes, mode).

    Raises :class:`InputError` naming the file and field.
    """
    where = str(path)
    doc = read_json(path, "result")
    if not isinstance(doc, dict):
        raise InputError("expected a JSON object", where)
    states = doc.get("final_states")
    if not isinstance(states, dict):
        raise InputError("field 'final_states' must be an object", where)
    for account, value in states.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"field 'final_states.{account}' must be an integer", where)
    outcomes: dict[str, tuple[str, str | None]] = {}
    raw = doc.get("outcomes", {})
    if not isinstance(raw, dict):
        raise InputError("field 'outcomes' must be an object", where)
    for txn, outcome in raw.items():
        if not isinstance(outcome, dict) or not isinstance(outcome.get("status"), str) or \
                not isinstance(outcome.get("reason", ""), str):
            raise InputError(f"field 'outcomes.{txn}' must be an object with a string "
                             "'status' (and optional string 'reason')", where)
        outcomes[txn] = (outcome["status"], outcome.get("reason"))
    mode = doc.get("mode")
    if mode is not None and mode not in MODES:
        raise InputError(f"field 'mode' must be one of {', '.join(MODES)}", where)
    return dict(states), outcomes, mode
