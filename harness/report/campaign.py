"""Campaign reports: ``summary.json``, ``summary.md`` and a self-contained ``index.html``.

The HTML is rebuilt from ``summary.json`` alone (``aethel report DIR``). For a
counterexample it shows the explanation next to a timeline: one row per worker, one bar
per transaction from its START to its COMMIT or ABORT, the transactions named by the
violation highlighted. The coverage section (:mod:`harness.campaign.coverage`) lists every feature
with the examples that exercised it, and names those never exercised.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from matplotlib.patches import Patch

from aethel.errors import InputError
from aethel.files import read_json, write_atomic
from harness.campaign.coverage import group_lines
from harness.campaign.protocol import BUILTIN
from harness.checks.orders import BATCH
from harness.checks.verdict import FAIL, NOT_JUDGED, PASS
from harness.report.common import (
    details,
    escape,
    figure_html,
    markdown_table,
    page_html,
    paragraph,
    section,
    table_html,
)

SUMMARY, MARKDOWN, HTML, COUNTEREXAMPLE = ("summary.json", "summary.md", "index.html",
                                           "counterexample.json")


def replay_command(ce: dict[str, Any], path: str | Path) -> str:
    """The command that replays the counterexample ``ce`` saved at ``path`` (naming its
    executor, which ``aethel replay`` never imports unless told to)."""
    executor = "" if ce.get("executor", BUILTIN) == BUILTIN else f" --executor {ce['executor']}"
    return f"aethel replay {path}{executor}"


def write_reports(summary: dict[str, Any], directory: Path) -> Path:
    """Write every report file into ``directory`` (each atomically); return the HTML path."""
    directory.mkdir(parents=True, exist_ok=True)
    write_atomic(directory / SUMMARY, json.dumps(summary, indent=1) + "\n")
    if summary.get("counterexample"):
        write_atomic(directory / COUNTEREXAMPLE,
                     json.dumps(summary["counterexample"], indent=1) + "\n")
    markdown = render_markdown(summary)
    write_atomic(directory / MARKDOWN, markdown)
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as fh:
            fh.write(markdown + "\n")
    return rebuild_html(directory)


def rebuild_html(directory: Path) -> Path:
    """Render ``index.html`` from ``summary.json`` in ``directory``."""
    summary = read_json(directory / SUMMARY, "summary")
    check_summary(summary, str(directory / SUMMARY))
    path = directory / HTML
    write_atomic(path, render_html(summary))
    return path


class _MapOf:
    """Shape of an object whose every value has shape ``values``."""

    def __init__(self, values: Any) -> None:
        self.values = values


_ANY, _NUMBER = "any", "number"
_LIMIT = 2**63
"""Numbers the report does arithmetic on must be finite and smaller than this."""
_VERDICT = {"ok": bool, "lines": [str], "counterexample?": ({"txns": [str]}, None)}
_EVENT = {"txn": str, "ts": _NUMBER, "event": _ANY, "worker?": int}
_TRANSACTION = {"id": _ANY, "ops": [dict], "reads?": _ANY, "writes?": _ANY, "after?": _ANY}
_COUNTEREXAMPLE = {
    "kind?": _ANY, "error?": (str, None), "executor?": _ANY, "verdicts": [_VERDICT],
    "batch": {"accounts": _ANY, "transactions": [_TRANSACTION]}, "trace": [_EVENT],
    **{key: _ANY for key in ("transactions", "transactions_before_shrinking", "backend",
                             "workers", "shard", "seed")},
}
_SUMMARY = {
    "ok": bool, "complete": bool, "examples": _ANY, "seconds": _NUMBER,
    "throughput_examples_per_s": _NUMBER,
    "properties": _MapOf({"passed": int, "failed": int, "not_judged?": int,
                          "not_judged_reason?": (str, None)}),
    "config": {"backends": [str], "examples": _ANY, "budget?": _ANY,
               **{key: _ANY for key in ("executor", "workers", "jobs", "profile", "seed")}},
    "cluster?": ({"address": _ANY, "workers": _ANY}, None),
    "counterexample?": (_COUNTEREXAMPLE, None), "machine?": (dict, None),
    "coverage?": ({"examples": int, "features": [
        {"feature": str, "group": str, "description": str, "examples": int}]}, None),
    "note?": _ANY, "run_id?": _ANY,
}
_NAMES = {str: "a string", bool: "true or false", int: "an integer", dict: "an object",
          list: "a list", _NUMBER: f"a number smaller than {_LIMIT}"}


def check_summary(summary: Any, where: str) -> None:
    """Raise :class:`InputError`, naming the field, unless ``summary`` has the shape of a
    campaign summary (every field the reports read, of the type they read it as)."""
    _check(summary, _SUMMARY, where, "")
    ce = summary.get("counterexample")
    if ce and ce.get("kind", "violation") != "violation" and not isinstance(ce.get("error"),
                                                                           str):
        raise InputError("must be a string when kind is not 'violation'",
                         f"{where}: counterexample.error")


def _check(value: Any, shape: Any, where: str, field: str) -> None:
    if isinstance(shape, tuple):  # (shape, None): the shape, or null
        if value is not None:
            _check(value, shape[0], where, field)
        return
    if isinstance(shape, dict | list | _MapOf):
        kind = list if isinstance(shape, list) else dict
        if not isinstance(value, kind):
            raise InputError(f"must be {_NAMES[kind]}", f"{where}: {field or 'document'}")
        if isinstance(shape, list):
            for i, item in enumerate(value):
                _check(item, shape[0], where, f"{field}[{i}]")
        elif isinstance(shape, _MapOf):
            for key, item in value.items():
                _check(item, shape.values, where, f"{field}.{key}".lstrip("."))
        else:
            for key, item_shape in shape.items():
                name = key.rstrip("?")
                path = f"{field}.{name}".lstrip(".")
                if name in value:
                    _check(value[name], item_shape, where, path)
                elif not key.endswith("?"):
                    raise InputError("is missing", f"{where}: {path}")
        return
    if shape == _ANY:
        return
    if shape == _NUMBER:
        ok = (isinstance(value, int | float) and not isinstance(value, bool)
              and -_LIMIT < value < _LIMIT)
    elif shape is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, shape)
    if not ok:
        raise InputError(f"must be {_NAMES[shape]}", f"{where}: {field}")


def _status(summary: dict[str, Any]) -> str:
    if not summary["ok"]:
        return "VIOLATION"
    if not summary["complete"]:
        return "INCOMPLETE (stopped early, no violation so far)"
    unjudged = [prop for prop, _ in _not_judged(summary)]
    return f"NO VIOLATION (not judged: {', '.join(unjudged)})" if unjudged else "PASSED"



def _property_rows(summary: dict[str, Any]) -> list[list[Any]]:
    """Per property: examples passed, failed and not judged, and its status (an example not
    judged is never a pass)."""
    rows = []
    for prop, counts in summary["properties"].items():
        unjudged = counts.get("not_judged", 0)
        state = FAIL if counts["failed"] else NOT_JUDGED if unjudged else (
            PASS if counts["passed"] else "not checked")
        rows.append([prop, counts["passed"], counts["failed"], unjudged, state])
    return rows


NOT_JUDGED_INTRO = ("Properties some examples did not judge, and why (as the verdict of the "
                    "first such example says):")


def _not_judged(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """(property, line) for each property some example did not judge: how many, and why."""
    return [(prop, not_judged_line(prop, counts))
            for prop, counts in summary["properties"].items() if counts.get("not_judged")]


def not_judged_line(prop: str, counts: dict[str, Any]) -> str:
    """``isolation (40 of 40 examples): not judged: no versions recorded, …``."""
    total = counts["passed"] + counts["failed"] + counts["not_judged"]
    return (f"{prop} ({counts['not_judged']} of {total} examples): "
            f"{counts.get('not_judged_reason') or 'no reason given'}")


def _config_line(summary: dict[str, Any]) -> str:
    c = summary["config"]
    scope = f"{c['examples']} examples" if c.get("budget") is None else f"{c['budget']} s budget"
    line = (f"executor {c['executor']} on {', '.join(c['backends'])} with {c['workers']} "
            f"workers; {c['jobs']} jobs; profile {c['profile']}; {scope}; seed {c['seed']}")
    if c.get("order", BATCH) != BATCH:
        line += f"; judged in {c['order']} serial order"
    cluster = summary.get("cluster")
    if cluster:
        line += f"; cluster {cluster['address']} ({cluster['workers']} workers)"
    return line


NEVER = "never exercised"


def _coverage_rows(coverage: dict[str, Any]) -> list[list[Any]]:
    return [[f["group"], f["feature"], f["examples"], "exercised" if f["examples"] else NEVER,
             f["description"]] for f in coverage["features"]]


def _coverage_intro(coverage: dict[str, Any]) -> list[str]:
    """What the coverage table says, in sentences: the totals, then each group."""
    features = coverage["features"]
    exercised = sum(1 for f in features if f["examples"])
    return [f"{exercised} of {len(features)} features exercised by {coverage['examples']} "
            "examples (each counts the examples that exercised it).",
            *(f"{line}." for line in group_lines(coverage))]


_COVERAGE_HEADERS = ["group", "feature", "examples", "status", "description"]


def render_markdown(summary: dict[str, Any]) -> str:
    """The summary as Markdown (also appended to ``$GITHUB_STEP_SUMMARY``)."""
    out = [f"# Aethel verification: {_status(summary)}", "",
           f"{summary['examples']} examples in {summary['seconds']:.1f} s "
           f"({summary['throughput_examples_per_s']:.1f} examples/s). {_config_line(summary)}.",
           "", markdown_table(["property", "passed", "failed", NOT_JUDGED, "status"],
                              _property_rows(summary))]
    unjudged = _not_judged(summary)
    if unjudged:
        out += ["", "## Not judged", "", NOT_JUDGED_INTRO, "",
                *(f"- {line}" for _, line in unjudged), ""]
    ce = summary.get("counterexample")
    if ce:
        out += ["## Counterexample", "",
                f"{ce['transactions']} transactions (shrunk from "
                f"{ce['transactions_before_shrinking']}), backend {ce['backend']} ×"
                f"{ce['workers']}. Replay: `{replay_command(ce, COUNTEREXAMPLE)}`", "", "```"]
        if ce.get("kind", "violation") != "violation":
            out.append(ce["error"])
        out += [line for v in ce["verdicts"] if not v["ok"] for line in v["lines"]]
        out += ["```", ""]
    if summary.get("note"):
        out += [f"Note: {summary['note']}", ""]
    coverage = summary.get("coverage")
    if coverage:
        out += ["## Coverage", "", *(f"- {line}" for line in _coverage_intro(coverage)), "",
                markdown_table(_COVERAGE_HEADERS, _coverage_rows(coverage))]
    return "\n".join(out)


def render_html(summary: dict[str, Any]) -> str:
    """The self-contained HTML page."""
    rows = _property_rows(summary)
    unjudged = [line for _, line in _not_judged(summary)]
    parts = [
        paragraph(f"{summary['examples']} examples in {summary['seconds']:.1f} s "
                  f"({summary['throughput_examples_per_s']:.1f} examples/s). "
                  f"{_config_line(summary)}."),
        section("Verdicts", table_html(
            ["property", "examples passed", "examples failed", "examples not judged",
             "status"], rows,
            row_classes=[{FAIL: "bad", PASS: "ok"}.get(r[4], "na") for r in rows],
            cell_classes=["text", "", "", "", "status"]),
            *([paragraph(NOT_JUDGED_INTRO)] if unjudged else []),
            *(paragraph(line, "note") for line in unjudged)),
    ]
    ce = summary.get("counterexample")
    if ce:
        parts.append(_counterexample_html(ce))
    if summary.get("note"):
        parts.append(paragraph(summary["note"], "note"))
    coverage = summary.get("coverage")
    if coverage:
        rows = _coverage_rows(coverage)
        parts.append(section(
            "Coverage", *(paragraph(line) for line in _coverage_intro(coverage)),
            table_html(_COVERAGE_HEADERS, rows,
                       row_classes=["ok" if r[2] else "na" for r in rows],
                       cell_classes=["text", "text", "", "status", "text"])))
    machine = summary.get("machine") or {}
    if machine:
        parts.append(section("Machine", table_html(
            ["", ""], [[k, json.dumps(v) if isinstance(v, (dict, list)) else v]
                       for k, v in machine.items()], cell_classes=["text", "text"])))
    return page_html(f"Aethel verification: {_status(summary)}", parts,
                     subtitle=summary.get("run_id"))


def _counterexample_html(ce: dict[str, Any]) -> str:
    failing = [v for v in ce["verdicts"] if not v["ok"]]
    highlight = {t for v in failing if v.get("counterexample")
                 for t in v["counterexample"]["txns"]}
    explanation = "\n".join([*([ce["error"]] if ce.get("kind", "violation") != "violation"
                                else []), *(line for v in failing for line in v["lines"])])
    batch_lines = "\n".join(_describe_tx(tx) for tx in ce["batch"]["transactions"])
    figure = timeline_figure(ce["trace"], highlight,
                             f"{ce['backend']} ×{ce['workers']}, {ce['transactions']} txns")
    return section(
        "Counterexample",
        paragraph(f"{ce['transactions']} transactions (shrunk from "
                  f"{ce['transactions_before_shrinking']}) on backend {ce['backend']} ×"
                  f"{ce['workers']}, shard {ce['shard']} of seed {ce['seed']}. Replay with "
                  f"{replay_command(ce, COUNTEREXAMPLE)}."),
        f'<pre style="white-space: pre-wrap">{escape(explanation)}</pre>',
        figure_html(figure, "timeline of the counterexample",
                    "Workers × time: one bar per transaction from its START to its COMMIT or "
                    "ABORT (recorded at install, so bars of one worker may overlap and then "
                    "get lanes); red bars are the transactions the violation names."),
        details("The batch", f"<pre>{escape(batch_lines)}</pre>",
                paragraph("Initial balances: " + json.dumps(ce["batch"]["accounts"]))),
        details("The trace", f"<pre>{escape(chr(10).join(map(json.dumps, ce['trace'])))}</pre>"),
    )


def _describe_tx(tx: dict[str, Any]) -> str:
    ops = "; ".join(" ".join(f"{k}={v}" for k, v in op.items()) for op in tx["ops"])
    extra = "".join(f" {k}={tx[k]}" for k in ("reads", "writes", "after") if tx.get(k))
    return f"{tx['id']}: {ops}{extra}"


def timeline_figure(trace: list[dict[str, Any]], highlight: set[str], title: str) -> Figure:
    """Workers × time, one bar per transaction; ``highlight`` ones in red, labelled.

    A bar ends at the COMMIT or ABORT, which the coordinator records when it installs the
    result, so a worker may start its next transaction before the previous bar ends; such
    bars get a lane of their own instead of hiding each other.
    """
    spans: dict[str, dict[str, Any]] = {}
    for e in trace:
        span = spans.setdefault(e["txn"], {"worker": e.get("worker", 0), "start": e["ts"],
                                           "end": e["ts"], "aborted": False})
        if e["event"] == "START":
            span["start"], span["worker"] = e["ts"], e.get("worker", 0)
        span["end"] = max(span["end"], e["ts"])
        span["aborted"] |= e["event"] == "ABORT"
    lanes: dict[tuple[int, int], float] = {}
    for s in sorted(spans.values(), key=lambda span: span["start"]):
        lane = 0
        while lanes.get((s["worker"], lane), float("-inf")) > s["start"]:
            lane += 1
        lanes[(s["worker"], lane)] = s["end"]
        s["row"] = (s["worker"], lane)
    rows = sorted(lanes)
    y = {row: i for i, row in enumerate(rows)}
    fig = Figure(figsize=(9, 1.4 + 0.45 * max(1, len(rows))))
    ax = fig.add_subplot()
    t0 = min((s["start"] for s in spans.values()), default=0)
    for txn, s in spans.items():
        colour = "#d62728" if txn in highlight else ("#9aa3b0" if s["aborted"] else "#4c78a8")
        left = (s["start"] - t0) / 1e3
        width = max((s["end"] - s["start"]) / 1e3, 1.0)
        ax.barh(y[s["row"]], width, left=left, height=0.6, color=colour, edgecolor="#1d2430",
                linewidth=0.5)
        ax.text(left + width / 2, y[s["row"]], txn, ha="center", va="center", fontsize=8,
                color="white" if txn in highlight else "#1d2430")
    ax.set_xlabel("µs since the first event")
    ax.set_ylabel("worker")
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([f"{w}" if lane == 0 else f"{w} (lane {lane + 1})" for w, lane in rows])
    ax.set_title(title)
    ax.legend(handles=[Patch(color="#d62728", label="named by the violation"),
                       Patch(color="#4c78a8", label="committed"),
                       Patch(color="#9aa3b0", label="aborted")],
              loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=3, fontsize=8, frameon=False)
    return fig
