"""Campaign reports: ``summary.json``, ``summary.md`` and a self-contained ``index.html``.

The HTML is rebuilt from ``summary.json`` alone (``aethel report DIR``). Every report opens
with the verdict (a green or red banner in HTML) and says which Aethel version, commit and
command made it. When a property fails, the falsifying example comes first: the minimal
batch as JSON and as a table, the balances initially, after serial execution and after the
executor side by side (the accounts that differ marked), each transaction's outcome on both
sides; then the explanation, each violation once, a timeline of the run and its trace in µs
after the first event (as the explanations count time). The campaign's verdict table
follows; it counts the examples run up to the first failure, and a property the
counterexample fails is never shown there as a pass. The coverage section
(:mod:`harness.campaign.coverage`) lists every feature with the examples that exercised it,
and names those never exercised.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from aethel.errors import InputError
from aethel.files import read_json, write_atomic
from harness.campaign.coverage import group_lines
from harness.campaign.protocol import BUILTIN
from harness.checks.orders import BATCH
from harness.checks.verdict import FAIL, NOT_JUDGED, PASS, plural
from harness.report.common import (
    banner,
    escape,
    markdown_aligned,
    page_html,
    paragraph,
    provenance_html,
    provenance_line,
    scroll,
    section,
    table_html,
)
from harness.report.timeline import scroll_box, timeline_svg

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
_VERDICT = {"property": str, "ok": bool, "applicable?": bool, "lines": [str],
            "counterexample?": ({"txns": [str], "message?": str}, None)}
_EVENT = {"txn": str, "ts": _NUMBER, "event": _ANY, "worker?": int}
_TRANSACTION = {"id": _ANY, "ops": [dict], "reads?": [_ANY], "writes?": [_ANY],
                "after?": [_ANY]}
_OUTCOMES = _MapOf({"status": str, "reason?": (str, None)})
_SIDE = ({"final_balances": dict, "outcomes": _OUTCOMES}, None)
_COUNTEREXAMPLE = {
    "kind?": _ANY, "error?": (str, None), "executor?": _ANY, "verdicts": [_VERDICT],
    "batch": {"accounts": dict, "transactions": [_TRANSACTION]}, "trace": [_EVENT],
    "oracle?": _SIDE, "executor_result?": _SIDE, "shrink_seconds?": (_NUMBER, None),
    "note?": (str, None),
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
    "provenance?": ({"version?": (str, None), "commit?": (str, None),
                     "command?": (str, None)}, None),
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


# The verdict at a glance


def _status(summary: dict[str, Any]) -> str:
    if not summary["ok"]:
        return "VIOLATION"
    if not summary["complete"]:
        return "INCOMPLETE (stopped early, no violation so far)"
    unjudged = [prop for prop, _ in not_judged(summary)]
    return f"NO VIOLATION (not judged: {', '.join(unjudged)})" if unjudged else "PASSED"


def _broken(ce: dict[str, Any]) -> bool:
    """Whether the executor hung or crashed (rather than a property failing)."""
    return ce.get("kind", "violation") != "violation"


def counterexample_failures(ce: dict[str, Any]) -> list[str]:
    """The properties the counterexample fails."""
    return [v["property"] for v in ce["verdicts"] if not v["ok"]]


def failed_properties(summary: dict[str, Any]) -> list[str]:
    """The properties that do not hold: failed by an example counted, or by the
    counterexample (which shrinking may have made fail more of them)."""
    ce = set(counterexample_failures(summary.get("counterexample") or {"verdicts": []}))
    return [prop for prop, counts in summary["properties"].items()
            if counts["failed"] or prop in ce]


def _and(names: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def verdict_banner(summary: dict[str, Any]) -> tuple[str, str, str]:
    """(``ok``, ``bad`` or ``warn``; a headline; a sentence): the verdict at a glance."""
    ce = summary.get("counterexample")
    failed = failed_properties(summary)
    if ce and _broken(ce):
        return "bad", "VIOLATION", ce["error"]
    if ce or failed:
        verb = "does" if len(failed) == 1 else "do"
        return "bad", "VIOLATION", (f"{_and(failed) if failed else 'a property'} {verb} not "
                                    "hold; the falsifying example follows.")
    if not summary["complete"]:
        return "warn", "INCOMPLETE", (f"stopped early: no violation in the "
                                      f"{summary['examples']} examples run.")
    unjudged = [prop for prop, _ in not_judged(summary)]
    if unjudged:
        return "warn", "NO VIOLATION", (f"no property failed in {summary['examples']} "
                                        f"examples; not judged: {_and(unjudged)}.")
    return "ok", "PASSED", (f"all {len(summary['properties'])} properties hold on "
                            f"{summary['examples']} examples.")


def timing(summary: dict[str, Any]) -> tuple[float, float, float]:
    """(seconds spent checking examples, seconds spent shrinking, examples checked per
    second): shrinking is reported apart and never slows the checking rate."""
    ce = summary.get("counterexample") or {}
    shrinking = min(max(0.0, ce.get("shrink_seconds") or 0.0), summary["seconds"])
    checking = summary["seconds"] - shrinking
    return checking, shrinking, summary["examples"] / checking if checking > 0 else 0.0


def timing_line(summary: dict[str, Any]) -> str:
    """``8 examples checked in 0.9 s (8.9 examples/s); shrinking took 1.5 s.``"""
    checking, shrinking, rate = timing(summary)
    line = (f"{summary['examples']} examples checked in {checking:.1f} s "
            f"({rate:.1f} examples/s)")
    if shrinking > 0:
        line += f"; shrinking the failure took {shrinking:.1f} s"
    return line + "."


def scope_line(summary: dict[str, Any]) -> str:
    """What the campaign's verdict table counts."""
    if summary.get("counterexample"):
        return (f"Examples run up to the first failure: {summary['examples']} (the failing "
                "one included; shards are counted in order). The falsifying example's own "
                "verdicts are above: it is the smallest failing example found, and may fail "
                "other properties than the first failing example did.")
    return f"The table counts every example run: {summary['examples']}."


CE_FAIL = "fail (counterexample)"
"""The status of a property only the shrunk counterexample fails."""


def property_rows(summary: dict[str, Any]) -> list[list[Any]]:
    """Per property: examples passed, failed and not judged, and its status (an example not
    judged is never a pass; a property the counterexample fails is never a pass)."""
    ce = set(counterexample_failures(summary.get("counterexample") or {"verdicts": []}))
    rows = []
    for prop, counts in summary["properties"].items():
        unjudged = counts.get("not_judged", 0)
        state = FAIL if counts["failed"] else CE_FAIL if prop in ce else (
            NOT_JUDGED if unjudged else PASS if counts["passed"] else "not checked")
        rows.append([prop, counts["passed"], counts["failed"], unjudged, state])
    return rows


def status_kind(state: str) -> str:
    """``bad``, ``ok`` or ``na`` for a status of :func:`property_rows`."""
    return "bad" if state in (FAIL, CE_FAIL) else "ok" if state == PASS else "na"


NOT_JUDGED_INTRO = ("Properties some examples did not judge, and why (as the verdict of the "
                    "first such example says):")


def not_judged(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """(property, line) for each property some example did not judge: how many, and why."""
    return [(prop, not_judged_line(prop, counts))
            for prop, counts in summary["properties"].items() if counts.get("not_judged")]


def not_judged_line(prop: str, counts: dict[str, Any]) -> str:
    """``isolation (40 of 40 examples): not judged: no versions recorded, …``."""
    total = counts["passed"] + counts["failed"] + counts["not_judged"]
    return (f"{prop} ({counts['not_judged']} of {total} examples): "
            f"{counts.get('not_judged_reason') or 'no reason given'}")


def config_line(summary: dict[str, Any]) -> str:
    """The campaign's settings in one line."""
    c = summary["config"]
    scope = (f"{c['budget']} s budget" if c.get("budget") is not None
             else "the profile's number of examples" if c["examples"] is None
             else f"{c['examples']} examples")
    line = (f"executor {c['executor']} on {', '.join(c['backends'])} with "
            f"{plural(c['workers'], 'worker')}; {plural(c['jobs'], 'job')}; profile "
            f"{c['profile']}; {scope}; seed {c['seed']}")
    if c.get("order", BATCH) != BATCH:
        line += f"; judged in {c['order']} serial order"
    cluster = summary.get("cluster")
    if cluster:
        line += f"; cluster {cluster['address']} ({cluster['workers']} workers)"
    return line


# The falsifying example


def batch_json(batch: dict[str, Any]) -> str:
    """``batch`` as JSON, one transaction a line."""
    txs = batch.get("transactions") or []
    if not txs:
        return json.dumps(batch)
    fields = [f"{json.dumps(k)}: {json.dumps(v)}" for k, v in batch.items()
              if k != "transactions"]
    lines = ["{" + ", ".join(fields) + ("," if fields else ""), ' "transactions": [']
    lines += [f"  {json.dumps(tx)}{',' if i < len(txs) - 1 else ''}" for i, tx in enumerate(txs)]
    return "\n".join([*lines, " ]}"])


def describe_op(op: dict[str, Any]) -> str:
    """One operation in words: ``transfer 5 acct0 → acct1``, ``read acct2``, …"""
    kind = op.get("op")
    if kind == "transfer":
        return f"transfer {op.get('amount')} {op.get('from')} → {op.get('to')}"
    if kind == "deposit":
        return f"deposit {op.get('amount')} into {op.get('account')}"
    if kind == "withdraw":
        return f"withdraw {op.get('amount')} from {op.get('account')}"
    if kind == "guarded_withdraw":
        return (f"withdraw {op.get('amount')} from {op.get('account')} unless it and "
                f"{op.get('other')} would keep less than {op.get('floor')}")
    if kind == "read":
        return f"read {op.get('account')}"
    if kind == "spin":
        return f"spin {op['us']} µs" if "us" in op else f"spin {op.get('iterations')} iterations"
    if kind == "sleep":
        return f"sleep {op.get('ms')} ms"
    if kind == "hash":
        return f"hash {op.get('bytes')} bytes"
    if kind == "call":
        args = ", ".join(f"{k}={v}" for k, v in (op.get("args") or {}).items())
        return f"call {op.get('function')}({args})"
    return " ".join(f"{k}={v}" for k, v in op.items())


TRANSACTION_HEADERS = ["transaction", "operations", "declared, after"]


def transaction_rows(batch: dict[str, Any]) -> list[list[str]]:
    """Per transaction: its id, operations in words, and what it declares or runs after."""
    rows = []
    for tx in batch["transactions"]:
        ops = "; ".join(describe_op(op) for op in tx["ops"]) or "(none)"
        extra = "; ".join(f"{label} {', '.join(map(str, tx[key]))}" for key, label in
                          (("reads", "reads"), ("writes", "writes"), ("after", "after"))
                          if tx.get(key))
        rows.append([str(tx["id"]), ops, extra])
    return rows


BALANCE_HEADERS = ["account", "initial", "serial oracle", "executor", ""]
DIFFERS = "differs"


def _missing(ce: dict[str, Any], key: str) -> str:
    """What a column shows when its side is not known."""
    if _broken(ce):
        return "did not return" if key == "executor_result" else "did not finish"
    return "not recorded"


def balance_rows(ce: dict[str, Any]) -> list[list[str]]:
    """Per account: initial balance, after serial execution, after the executor, and
    :data:`DIFFERS` when the last two differ."""
    initial = ce["batch"]["accounts"]
    oracle, executor = ce.get("oracle"), ce.get("executor_result")
    final = {key: side["final_balances"] if side else None
             for key, side in (("oracle", oracle), ("executor_result", executor))}
    accounts = list(initial)
    for balances in final.values():
        accounts += [a for a in balances or {} if a not in accounts]
    rows = []
    for account in accounts:
        cells = [str(initial.get(account, "—"))]
        for key, balances in final.items():
            cells.append(_missing(ce, key) if balances is None
                         else str(balances.get(account, "—")))
        differs = (final["oracle"] is not None and final["executor_result"] is not None
                   and final["oracle"].get(account) != final["executor_result"].get(account))
        rows.append([str(account), *cells, DIFFERS if differs else ""])
    return rows


OUTCOME_HEADERS = ["transaction", "serial oracle", "executor", ""]


def _outcome(outcome: dict[str, Any] | None) -> str:
    if outcome is None:
        return "—"
    status = str(outcome["status"]).replace("_", " ")
    return f"{status}: {outcome['reason']}" if outcome.get("reason") else status


def outcome_rows(ce: dict[str, Any]) -> list[list[str]]:
    """Per transaction: its outcome serially and on the executor (with the reason of an
    abort), and :data:`DIFFERS` when they differ."""
    oracle, executor = ce.get("oracle"), ce.get("executor_result")
    rows = []
    for tx in ce["batch"]["transactions"]:
        cells = [_missing(ce, key) if side is None else _outcome(side["outcomes"].get(tx["id"]))
                 for key, side in (("oracle", oracle), ("executor_result", executor))]
        differs = oracle is not None and executor is not None and cells[0] != cells[1]
        rows.append([str(tx["id"]), *cells, DIFFERS if differs else ""])
    return rows


def example_line(ce: dict[str, Any]) -> str:
    """What the falsifying example is and where it ran."""
    line = (f"{ce['transactions']} transactions (shrunk from "
            f"{ce['transactions_before_shrinking']}), {ce['batch'].get('mode', 'independent')} "
            f"batch, on backend {ce['backend']} ×{ce['workers']}, shard {ce['shard']} of seed "
            f"{ce['seed']}.")
    return f"{line} Note: {ce['note']}" if ce.get("note") else line


def explanation_lines(ce: dict[str, Any]) -> list[str]:
    """Why the example fails: the error of a hung or crashed executor, else each failed
    verdict's status line and its violations, each violation once."""
    lines = [ce["error"]] if _broken(ce) else []
    for v in ce["verdicts"]:
        if not v["ok"]:
            lines += verdict_lines(v)
    return lines


def verdict_lines(v: dict[str, Any]) -> list[str]:
    """A verdict's lines, without the first violation repeated in its status line."""
    head, *rest = v["lines"]
    first = (v.get("counterexample") or {}).get("message")
    if first and rest:
        head = head.replace(f"; first: {first}", "", 1)
    return [head, *rest]


def example_verdicts_line(ce: dict[str, Any]) -> str:
    """The falsifying example's own verdicts in one sentence."""
    if not ce["verdicts"]:
        return f"The executor {ce.get('kind')} on this example, so no property was judged."
    groups: dict[str, list[str]] = {"fails": [], "passes": [], "does not judge": []}
    for v in ce["verdicts"]:
        key = "fails" if not v["ok"] else "passes" if v.get("applicable", True) \
            else "does not judge"
        groups[key].append(v["property"])
    return "This example " + "; ".join(f"{verb} {_and(props)}" for verb, props
                                       in groups.items() if props) + "."


TRACE_HEADERS = ["#", "time", "worker", "transaction", "event", "detail"]


def trace_rows(trace: list[dict[str, Any]]) -> list[list[str]]:
    """The trace in time order (as the checkers number it), each event's time in µs after
    the first, as the explanations give it (``+110.8 µs``)."""
    events = sorted(trace, key=lambda e: e["ts"])
    t0 = events[0]["ts"] if events else 0
    rows = []
    for i, e in enumerate(events, 1):
        detail = []
        if "account" in e:
            detail.append(f"{e['account']}" + (f" = {e['value']}" if "value" in e else ""))
        if "version" in e:
            detail.append(f"version {e['version']}")
        if "replaced" in e:
            detail.append(f"replaced {e['replaced']}")
        if e.get("reason"):
            detail.append(str(e["reason"]))
        rows.append([str(i), f"+{(e['ts'] - t0) / 1000:.1f} µs", str(e.get("worker", "")),
                     str(e["txn"]), str(e["event"]), ", ".join(detail)])
    return rows


# Coverage and the machine


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
MACHINE_HEADERS = ["machine", "value"]
_MACHINE_LABELS = {"cpu_model": "CPU model", "memory_gib": "memory (GiB)", "gil": "GIL",
                   "cgroup_quota": "cgroup CPU quota", "affinity": "CPU affinity",
                   "load_average": "load average (1, 5, 15 min)"}


def machine_rows(machine: dict[str, Any]) -> list[list[str]]:
    """The machine's description in words: no ``None`` or ``True``, numbers to 2 decimals."""
    return [[_MACHINE_LABELS.get(key, key.replace("_", " ")), _plain(key, value)]
            for key, value in machine.items()]


def _plain(key: str, value: Any) -> str:
    if value is None:
        return "none" if key == "cgroup_quota" else "not known"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{round(value, 2):g}" if abs(value) < 1e6 else f"{value:.0f}"
    if isinstance(value, list):
        if key == "affinity" and value and all(isinstance(v, int) for v in value):
            return _ranges(value)
        return ", ".join(_plain(key, v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_plain(k, v)}" for k, v in value.items())
    return str(value)


def _ranges(cores: list[int]) -> str:
    """``0–3, 6`` for cores 0, 1, 2, 3 and 6."""
    spans: list[list[int]] = []
    for core in sorted(cores):
        if spans and core == spans[-1][1] + 1:
            spans[-1][1] = core
        else:
            spans.append([core, core])
    return ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in spans)


# Markdown


_MARKS = {"ok": "✅", "bad": "❌", "warn": "⚠️", "na": "➖"}


def _status_mark(state: str) -> str:
    """✅ pass, ❌ fail, ⚠️ not judged, ➖ not checked."""
    return _MARKS["warn" if state == NOT_JUDGED else status_kind(state)]


def render_markdown(summary: dict[str, Any]) -> str:
    """The summary as Markdown (also appended to ``$GITHUB_STEP_SUMMARY``)."""
    kind, headline, sentence = verdict_banner(summary)
    out = [f"# Aethel verification: {_status(summary)}", "",
           f"{_MARKS[kind]} **{headline}**: {sentence}", "",
           provenance_line(summary.get("provenance"), markdown=True), ""]
    ce = summary.get("counterexample")
    if ce:
        out += _counterexample_markdown(ce)
    rows = property_rows(summary)
    out += ["## Campaign", "", f"{timing_line(summary)} Settings: {config_line(summary)}.", "",
            scope_line(summary), "",
            markdown_aligned(["property", "examples passed", "examples failed", NOT_JUDGED,
                              "status"],
                             [[*r[:4], f"{_status_mark(r[4])} {r[4]}"] for r in rows],
                             numeric=(1, 2, 3))]
    unjudged = not_judged(summary)
    if unjudged:
        out += ["## Not judged", "", NOT_JUDGED_INTRO, "",
                *(f"- {line}" for _, line in unjudged), ""]
    if summary.get("note"):
        out += [f"Note: {summary['note']}", ""]
    coverage = summary.get("coverage")
    if coverage:
        out += ["## Coverage", "", *(f"- {line}" for line in _coverage_intro(coverage)), "",
                markdown_aligned(_COVERAGE_HEADERS, _coverage_rows(coverage), numeric=(2,))]
    machine = summary.get("machine")
    if machine:
        out += ["## Machine", "", markdown_aligned(MACHINE_HEADERS, machine_rows(machine), ())]
    return "\n".join(out)


def _marked(rows: list[list[str]]) -> list[list[str]]:
    """Rows whose last cell says :data:`DIFFERS`, with the mark."""
    return [[*r[:-1], f"❌ {r[-1]}" if r[-1] else ""] for r in rows]


def _counterexample_markdown(ce: dict[str, Any]) -> list[str]:
    out = ["## Falsifying example", "", example_line(ce),
           f"Replay: `{replay_command(ce, COUNTEREXAMPLE)}`", "",
           "```json", batch_json(ce["batch"]), "```", "",
           markdown_aligned(TRANSACTION_HEADERS, transaction_rows(ce["batch"]), ()),
           "Balances (❌: the executor's differs from serial execution's):", "",
           markdown_aligned(BALANCE_HEADERS, _marked(balance_rows(ce)), (1, 2, 3)),
           "Outcomes:", "",
           markdown_aligned(OUTCOME_HEADERS, _marked(outcome_rows(ce)), ()),
           "## Explanation", "", example_verdicts_line(ce), "",
           "```text", *explanation_lines(ce), "```", ""]
    rows = trace_rows(ce["trace"])
    if rows:
        out += ["<details><summary>The trace: "
                f"{len(rows)} events, in µs after the first</summary>", "",
                markdown_aligned(TRACE_HEADERS, rows, (0, 1, 2)), "</details>", ""]
    return out


# HTML


WIDE = "text wide"
"""The class of a column of sentences: kept wide enough to read, the table scrolls instead."""


def render_html(summary: dict[str, Any]) -> str:
    """The self-contained HTML page."""
    kind, headline, sentence = verdict_banner(summary)
    parts = [banner(kind, headline, sentence), provenance_html(summary.get("provenance"))]
    ce = summary.get("counterexample")
    if ce:
        parts += _counterexample_html(ce)
    rows = property_rows(summary)
    unjudged = [line for _, line in not_judged(summary)]
    parts.append(section(
        "Campaign", paragraph(f"{timing_line(summary)} Settings: {config_line(summary)}."),
        paragraph(scope_line(summary)),
        scroll(table_html(
            ["property", "examples passed", "examples failed", "examples not judged",
             "status"], rows, row_classes=[status_kind(r[4]) for r in rows],
            cell_classes=["text", "", "", "", "status"])),
        *([paragraph(NOT_JUDGED_INTRO)] if unjudged else []),
        *(paragraph(line, "note") for line in unjudged)))
    if summary.get("note"):
        parts.append(paragraph(summary["note"], "note"))
    coverage = summary.get("coverage")
    if coverage:
        rows = _coverage_rows(coverage)
        parts.append(section(
            "Coverage", *(paragraph(line) for line in _coverage_intro(coverage)),
            scroll(table_html(_COVERAGE_HEADERS, rows,
                              row_classes=["ok" if r[2] else "na" for r in rows],
                              cell_classes=["text", "text", "", "status", WIDE]))))
    machine = summary.get("machine")
    if machine:
        parts.append(section("Machine", scroll(table_html(
            MACHINE_HEADERS, machine_rows(machine), cell_classes=["text", "text"]))))
    return page_html(f"Aethel verification: {_status(summary)}", parts,
                     subtitle=summary.get("run_id"))


def _differs_table(headers: list[str], rows: list[list[str]], numeric: int) -> str:
    """A table whose rows marked :data:`DIFFERS` are red; the ``numeric`` columns
    after the first are right-aligned."""
    classes = ["text", *([""] * numeric), *([WIDE] * (len(headers) - numeric - 2)), "mark"]
    return scroll(table_html(headers, rows,
                             row_classes=["differs" if r[-1] else "" for r in rows],
                             cell_classes=classes))


def _counterexample_html(ce: dict[str, Any]) -> list[str]:
    timeline = f"<figure>{scroll_box(timeline_svg(ce))}</figure>"
    rows = trace_rows(ce["trace"])
    return [
        section(
            "Falsifying example", paragraph(example_line(ce)),
            f"<p>Replay: <code>{escape(replay_command(ce, COUNTEREXAMPLE))}</code></p>",
            f"<pre>{escape(batch_json(ce['batch']))}</pre>",
            scroll(table_html(TRANSACTION_HEADERS, transaction_rows(ce["batch"]),
                              cell_classes=["text", WIDE, "text"])),
            "<h3>Balances</h3>",
            paragraph("Red: the executor's final balance differs from serial execution's."),
            _differs_table(BALANCE_HEADERS, balance_rows(ce), 3),
            "<h3>Outcomes</h3>",
            _differs_table(OUTCOME_HEADERS, outcome_rows(ce), 0)),
        section(
            "Explanation", paragraph(example_verdicts_line(ce)),
            f"<pre>{escape(chr(10).join(explanation_lines(ce)))}</pre>", timeline,
            f"<h3>The trace: {len(rows)} events, in µs after the first</h3>",
            scroll(table_html(TRACE_HEADERS, rows,
                              cell_classes=["", "", "", "text", "text", WIDE]))),
    ]
