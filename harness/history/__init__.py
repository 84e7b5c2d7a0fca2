"""Linearizability of recorded histories (Jepsen EDN, JSON or log lines) against a model.

    events = read_history("history.edn")
    result = check(events, make_model("cas-register", 0), fail="drop", timeout=60)
    print(result.outcome, explain(result))
"""

from harness.history.explain import explain
from harness.history.formats import Event, HistoryError, parse_history, read_history
from harness.history.model import Input, Model
from harness.history.models import MODELS, make_model
from harness.history.operations import FAIL_SEMANTICS, Operation
from harness.history.visual import render_html
from harness.history.wgl import OUTCOMES, PartitionResult, Result, check

__all__ = [
    "FAIL_SEMANTICS", "MODELS", "OUTCOMES", "Event", "HistoryError", "Input", "Model",
    "Operation", "PartitionResult", "Result", "check", "explain", "make_model",
    "parse_history", "read_history", "render_html",
]
