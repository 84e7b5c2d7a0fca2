"""``aethel history FILE --model MODEL``: is a recorded history linearizable?"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from aethel.cores import usable_cores
from aethel.errors import InputError
from aethel.files import check_folder, write_atomic
from harness.history import edn
from harness.history.explain import explain
from harness.history.formats import read_history
from harness.history.model import show
from harness.history.models import MODELS, make_model
from harness.history.operations import FAIL_SEMANTICS
from harness.history.visual import render_html
from harness.history.wgl import Result, check
from harness.report.terminal import echo

HISTORY_TIMEOUT = 60.0
"""Seconds ``aethel history`` searches by default before answering unknown (exit 4)."""
EXIT = {"linearizable": 0, "not linearizable": 1, "unknown": 4}


@click.command()
@click.argument("history_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--model", "model_name", type=click.Choice(list(MODELS)), required=True,
              help="The object the history is of.")
@click.option("--init", "init", metavar="VALUE",
              help="Initial value, in EDN or JSON (register, cas-register: default nil; "
                   "kv: default \"\"; mutex: default false; bank: a map of balances, "
                   "default the first read's).")
@click.option("--fail", type=click.Choice(FAIL_SEMANTICS), default="drop", show_default=True,
              help="drop: a failed operation had no effect (Knossos); assert: a failed cas "
                   "claims the state was not its old value (Porcupine's etcd model).")
@click.option("--timeout", type=float, default=HISTORY_TIMEOUT, show_default=True,
              help="Seconds the search may take; past them the answer is unknown (exit 4).")
@click.option("--report", "report_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write history.html (the history drawn) and history.json (the result) "
                   "in this folder.")
@click.option("--jobs", type=int, default=None,
              help="Processes for partitions a first short round does not settle "
                   "(default: usable cores).")
def history(history_file: Path, model_name: str, init: str | None, fail: str, timeout: float,
            report_dir: Path | None, jobs: int | None) -> None:
    """Check that HISTORY_FILE (Jepsen EDN, JSON or Jepsen log lines, detected from its
    content) is linearizable with respect to --model, and say why not in plain words.

    Exit code 0 linearizable, 1 not linearizable, 2 bad input or usage, 4 unknown (the
    search did not finish within --timeout).
    """
    if not timeout > 0 or timeout == float("inf"):
        raise InputError(f"must be a positive number of seconds, got {timeout:g}", "--timeout")
    if jobs is not None and jobs < 1:
        raise InputError(f"must be at least 1, got {jobs}", "--jobs")
    model = make_model(model_name) if init is None else make_model(model_name, _value(init))
    if report_dir is not None:
        report_dir.mkdir(parents=True, exist_ok=True)
        check_folder(report_dir, "--report")
    events = read_history(history_file)
    result = check(events, model, fail, timeout, jobs or usable_cores(), str(history_file))
    echo(explain(result))
    if report_dir is not None:
        write_atomic(report_dir / "history.html", render_html(result, history_file.name))
        write_atomic(report_dir / "history.json",
                     json.dumps(_summary(result, history_file), indent=2) + "\n")
        echo(f"report: {report_dir / 'history.html'}")
    sys.exit(EXIT[result.outcome])


def _value(text: str) -> Any:
    try:
        return edn.loads(text)
    except edn.EdnError as exc:
        raise InputError(f"not an EDN or JSON value ({exc.reason})", "--init") from None


def _summary(result: Result, source: Path) -> dict[str, Any]:
    """``result`` as JSON: operations named by process, function, value and lines."""

    def op(o: Any) -> dict[str, Any]:
        return {"id": o.id, "process": o.process, "f": o.f, "value": show(o.value),
                "status": o.status, "call_line": o.call_line, "ret_line": o.ret_line}

    return {
        "history": str(source), "model": result.model, "fail": result.fail,
        "outcome": result.outcome, "seconds": result.seconds, "timeout": result.timeout,
        "steps": result.steps, "cache_entries": result.cache_entries,
        "partitions": [{
            "key": None if p.key is None else show(p.key), "outcome": p.outcome,
            "operations": len(p.operations), "linearization": [op(o) for o in p.prefix],
            "state": p.state_text, "culprit": op(p.culprit) if p.culprit else None,
            "candidates": [{"operation": op(o), "why": why} for o, why in p.candidates],
            "steps": p.steps, "cache_entries": p.cache_entries, "seconds": p.seconds,
        } for p in result.partitions],
    }
