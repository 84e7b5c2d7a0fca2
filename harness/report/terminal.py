"""What the command line prints: text from files and from code under test, made safe for a
terminal, and the end of ``aethel verify`` and ``aethel replay``.

A reason, a path or a name can carry control characters (an escape sequence that rewrites
the screen, a carriage return that hides a line), bidirectional overrides that make text
read in another order than it runs, or lone surrogates that cannot be encoded. Every line
the commands print goes through :func:`echo` or :func:`say`, which show such characters as
escapes.

``aethel verify`` ends with the verdict in colour (on a terminal), then, when a property
fails, the falsifying example first (as in the reports of :mod:`harness.report.campaign`),
its explanation and trace, and then the campaign's counts.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from harness.campaign.coverage import group_lines
from harness.checks.orders import BATCH
from harness.report.campaign import (
    BALANCE_HEADERS,
    OUTCOME_HEADERS,
    TRACE_HEADERS,
    TRANSACTION_HEADERS,
    balance_rows,
    batch_json,
    example_line,
    example_verdicts_line,
    explanation_lines,
    not_judged,
    outcome_rows,
    property_rows,
    replay_command,
    scope_line,
    status_kind,
    timing,
    trace_rows,
    transaction_rows,
    verdict_banner,
)
from harness.report.common import provenance_line

_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029"
                     "\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def printable(text: str) -> str:
    """``text`` with every unsafe character (see the module) written as ``\\xNN`` or
    ``\\uNNNN``; newlines and tabs are kept."""
    return _UNSAFE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def echo(message: object = "", err: bool = False) -> None:
    """``click.echo`` of :func:`printable` text."""
    click.echo(printable(str(message)), err=err)


# What ``aethel verify`` and ``aethel replay`` print, in colour on a terminal


_STYLES = {"ok": "bold green", "bad": "bold red", "warn": "bold yellow", "na": "yellow"}
TRACE_SHOWN = 40
"""Trace events printed at most; the rest are in the counterexample file and the report."""


def stdout_console() -> Console:
    """A console on standard output: colour on a terminal only, no markup or highlighting
    of its own."""
    return Console(highlight=False, emoji=False, markup=False)


def say(console: Console, text: str, style: str | None = None) -> None:
    """One line of :func:`printable` text, never wrapped."""
    console.print(Text(printable(text), style=style or ""), soft_wrap=True)


def table(headers: list[str], rows: list[list[Any]], numeric: tuple[int, ...] = (),
          styles: list[str | None] | None = None) -> Table:
    """A plain table: columns in ``numeric`` right-aligned, row ``i`` in ``styles[i]``."""
    grid = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for j, header in enumerate(headers):
        grid.add_column(printable(header), justify="right" if j in numeric else "left")
    for i, row in enumerate(rows):
        grid.add_row(*(Text(printable(str(cell))) for cell in row),
                     style=styles[i] if styles else None)
    return grid


def _differs(rows: list[list[str]]) -> list[str | None]:
    return ["red" if row[-1] else None for row in rows]


def print_example(console: Console, header: str, ce: dict[str, Any]) -> None:
    """The falsifying example: ``header``, the batch as JSON and as a table."""
    say(console, f"Falsifying example: {header}", "bold")
    say(console, batch_json(ce["batch"]))
    console.print(table(TRANSACTION_HEADERS, transaction_rows(ce["batch"])))


def print_sides(console: Console, ce: dict[str, Any]) -> None:
    """Balances initially, serially and on the executor (those that differ in red), and
    the outcomes on both sides."""
    balances, outcomes = balance_rows(ce), outcome_rows(ce)
    say(console, "Balances (the executor's that differ from serial execution's in red):")
    console.print(table(BALANCE_HEADERS, balances, (1, 2, 3), _differs(balances)))
    say(console, "Outcomes:")
    console.print(table(OUTCOME_HEADERS, outcomes, styles=_differs(outcomes)))


def print_lines(console: Console, lines: list[str]) -> None:
    """Verdict lines, coloured by their status word."""
    for line in lines:
        word = line.split(" ", 1)[0]
        say(console, f"  {line}", {"FAIL": "red", "PASS": "green", "N/A": "yellow"}.get(word))


def print_trace(console: Console, trace: list[dict[str, Any]]) -> None:
    """Up to :data:`TRACE_SHOWN` events of the trace, in µs after the first."""
    rows = trace_rows(trace)
    say(console, f"Trace: {len(rows)} events, in µs after the first"
        + (f" (the first {TRACE_SHOWN} shown)" if len(rows) > TRACE_SHOWN else "") + ":")
    console.print(table(TRACE_HEADERS, rows[:TRACE_SHOWN], (0, 1, 2)))


def print_campaign(summary: dict[str, Any], saved: Path, html: Path) -> None:
    """What ``aethel verify`` prints at the end: the verdict, the falsifying example first
    (then its explanation and trace), the campaign's counts, coverage and provenance."""
    console = stdout_console()
    kind, headline, sentence = verdict_banner(summary)
    say(console, f"{headline}: {sentence}", _STYLES[kind])
    ce = summary.get("counterexample")
    if ce:
        print_example(console, example_line(ce), ce)
        print_sides(console, ce)
        say(console, f"Explanation: {example_verdicts_line(ce)}", "bold")
        print_lines(console, explanation_lines(ce))
        print_trace(console, ce["trace"])
        say(console, f"saved {saved}; replay: {replay_command(ce, saved)}")
    state = "VIOLATION" if not summary["ok"] else (
        "no violation" if summary["complete"] else "INCOMPLETE, no violation so far")
    checking, shrinking, rate = timing(summary)
    say(console, f"{state}: {summary['examples']} examples, {summary['shards']} shards in "
        f"{checking:.1f} s ({rate:.1f} examples/s)"
        + (f"; shrinking took {shrinking:.1f} s" if shrinking > 0 else "")
        + ("" if summary["config"].get("order", BATCH) == BATCH else
           f", judged in {summary['config']['order']} serial order"), _STYLES[kind])
    say(console, scope_line(summary))
    rows = property_rows(summary)
    console.print(table(["property", "status", "passed", "failed", "not judged"],
                        [[r[0], r[4], *r[1:4]] for r in rows], (2, 3, 4),
                        [_STYLES[status_kind(r[4])] for r in rows]))
    for _, line in not_judged(summary):
        say(console, f"  not judged: {line}", "yellow")
    if summary.get("note"):
        say(console, f"note: {summary['note']}")
    coverage = summary["coverage"]
    say(console, f"coverage: {coverage['features_exercised']} of "
        f"{coverage['features_total']} features exercised in {coverage['examples']} examples")
    for line in group_lines(coverage):
        say(console, f"  {line}")
    say(console, f"report: {html}")
    say(console, provenance_line(summary.get("provenance")), "dim")
