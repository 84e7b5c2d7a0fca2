"""``aethel check TRACE.jsonl --batch BATCH.json [--result RESULT.json]``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from aethel.batchfile import load_batch
from aethel.errors import InputError
from aethel.model import MODES
from aethel.resultfile import load_result
from aethel.trace import read_jsonl
from harness.campaign.bounded import Hung, call_within
from harness.checks import BATCH, Observed, check_all, derive_facts
from harness.cli.options import allow_module_option, order_option
from harness.report.terminal import echo

_FILE = click.Path(dir_okay=False, path_type=Path)
CHECK_TIMEOUT = 300.0
"""Seconds ``aethel check`` may take by default: the checkers are linear (a million
transactions take seconds), so only a hanging user operation in the oracle reaches it."""


@click.command()
@click.argument("trace_file", type=_FILE)
@click.option("--batch", "batch_file", type=_FILE, required=True,
              help="The batch the trace is an execution of.")
@click.option("--result", "result_file", type=_FILE,
              help="The JSON written by `aethel run --out`: final balances and the outcomes "
                   "the executor reported. Without it the final state is replayed from the "
                   "trace's installs.")
@click.option("--limit", type=int, default=10, show_default=True,
              help="Violations printed per property.")
@click.option("--timeout", type=float, default=CHECK_TIMEOUT, show_default=True,
              help="Seconds the check may take (the serial oracle runs the batch's "
                   "operations, which may hang).")
@order_option()
@allow_module_option
def check(trace_file: Path, batch_file: Path, result_file: Path | None, limit: int,
          timeout: float, order: str) -> None:
    """Check TRACE_FILE against BATCH and print each verdict in plain words.

    Exit code 0 when every property holds, 1 on a violation (or when the check does not
    finish within --timeout), 2 on unreadable input.
    """
    if not timeout > 0:
        raise InputError(f"must be positive, got {timeout:g}", "--timeout")
    batch = load_batch(batch_file)
    header, events = read_jsonl(trace_file, set(batch.ids))
    final = outcomes = None
    result_mode = None
    if result_file is not None:
        final, outcomes, result_mode = load_result(result_file)
    trace_mode = header.get("mode")
    if trace_mode is not None and trace_mode not in MODES:
        raise InputError(f"field 'mode' must be one of {', '.join(MODES)}",
                         f"{trace_file}: line 1")
    if trace_mode and result_mode and trace_mode != result_mode:
        raise InputError(f"the trace says mode {trace_mode!r} but the result says "
                         f"{result_mode!r}", str(result_file))
    mode = result_mode or trace_mode or batch.mode
    if mode != batch.mode:
        echo(f"note: the run used mode {mode!r} (the batch file says {batch.mode!r})")
        batch = batch.with_mode(mode)
    facts = derive_facts(batch, Observed(events, final, outcomes))
    try:
        verdicts = call_within(lambda: check_all(facts, order=order), timeout, "the check")
    except Hung as exc:
        echo(f"error: {exc} (a user operation of the batch may hang in the serial "
             "oracle)", err=True)
        sys.exit(1)
    source = {"result": f"final state from {result_file}",
              "trace": "final state replayed from the trace"}.get(facts.final_source or "",
                                                                   "final state unknown")
    judged = "" if order == BATCH else f"; judged in {order} serial order"
    echo(f"{len(batch)} transactions, {len(events)} events ({batch.mode}; {source}{judged})")
    for verdict in verdicts:
        for line in verdict.lines(limit):
            echo(line)
    failed = [v.property for v in verdicts if not v.ok]
    if failed:
        echo(f"VIOLATED: {', '.join(failed)}")
        sys.exit(1)
    unjudged = [v.property for v in verdicts if not v.applicable]
    if unjudged:
        echo(f"every property that could be judged holds; not judged: "
             f"{', '.join(unjudged)}")
    else:
        echo(f"all {len(verdicts)} properties hold")
