"""``aethel run``: execute one batch file and print a summary."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import click
import networkx as nx

from aethel.analysis import conflict_report, dependency_graph
from aethel.batchfile import load_batch
from aethel.errors import ExecutionError, InputError
from aethel.executor import (
    BACKENDS,
    SCHEDULES,
    ExecutionResult,
    ParallelExecutor,
    check_timeout,
    check_workers,
)
from aethel.files import check_output, same_file
from aethel.model import MODES, Batch
from aethel.resultfile import write_result
from aethel.trace import write_jsonl
from harness.cli.options import allow_module_option, positive_option
from harness.process import exit_code, stop_on_signals
from harness.report.terminal import echo

RUN_TIMEOUT = 300.0
"""``aethel run``'s default timeout in seconds: a hung worker must not hang the command."""


@click.command()
@click.argument("batch_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--backend", type=click.Choice(BACKENDS), default="thread", show_default=True)
@click.option("--workers", type=int, default=None, callback=positive_option,
              help="Worker count (default: usable cores; 1 for serial).")
@click.option("--schedule", type=click.Choice(SCHEDULES), default="dataflow", show_default=True)
@click.option("--mode", type=click.Choice(MODES), default=None,
              help="Override the batch file's mode.")
@click.option("--timeout", type=str, default=str(int(RUN_TIMEOUT)), show_default=True,
              help="Seconds, 'auto' (10× a serial run) or 'none'; a batch that exceeds it is "
                   "rolled back and exits 1.")
@click.option("--trace", "trace_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the execution trace as JSON Lines.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write final balances, outcomes and metrics as JSON.")
@allow_module_option
def run(batch_file: Path, backend: str, workers: int | None, schedule: str, mode: str | None,
        timeout: str, trace_out: Path | None, out: Path | None) -> None:
    """Execute BATCH_FILE and print a summary.

    Exit code 0 when the batch ran (a failed transaction of an independent batch is an
    outcome), 1 when it failed (atomic mode, timeout, a lost worker), 2 on bad input,
    130/143 when stopped by SIGINT/SIGTERM (a batch still running is rolled back)."""
    if out:
        check_output(out, "--out", [batch_file])
    if trace_out:
        check_output(trace_out, "--trace", [batch_file])
        if out and same_file(out, trace_out):
            raise InputError(f"{trace_out} is also the --out file", "--trace")
    batch = load_batch(batch_file)
    if mode is not None:
        batch = batch.with_mode(mode)
    graph = dependency_graph(batch)
    check_workers(backend, workers, "--workers")
    with ParallelExecutor(backend, workers, schedule, _timeout(timeout)) as executor, \
            stop_on_signals(executor.interrupt) as stopped:
        try:
            result = executor.execute(batch, graph)
        except ExecutionError as exc:
            if trace_out:
                write_jsonl(exc.trace, trace_out, {"backend": backend, "workers": workers})
            _exit_if_stopped(stopped(), str(exc))
            echo(f"error: {exc}", err=True)
            sys.exit(1)
        meta = {"backend": backend, "workers": result.worker_count, "schedule": schedule,
                "mode": batch.mode}
        if trace_out:
            write_jsonl(result.execution_trace, trace_out, meta)
        if out:
            write_result(out, result)
        _print_run(batch, graph, result, backend, schedule)
        _exit_if_stopped(stopped(), "after the batch had finished; outputs written")
    if result.error:
        echo(f"error: {result.error}", err=True)
        sys.exit(1)


def _exit_if_stopped(signum: int | None, what: str) -> None:
    if signum is not None:
        echo(f"stopped by signal {signal.Signals(signum).name}: {what}", err=True)
        sys.exit(exit_code(signum))


def _print_run(batch: Batch, graph: nx.DiGraph, result: ExecutionResult, backend: str,
               schedule: str) -> None:
    counts = result.counts()
    echo(f"{len(batch)} transactions on {backend} ×{result.worker_count} ({schedule}, "
         f"{batch.mode}): " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    echo(f"time {result.execution_time * 1000:.1f} ms, "
         f"{result.metrics['throughput_tx_s']:.0f} tx/s, average parallelism "
         f"{result.metrics['average_parallelism']:.2f}, critical-path bound "
         f"{result.metrics['critical_path_bound']:.2f}")
    for line in conflict_report(batch, graph).lines():
        echo(line)


def _timeout(value: str) -> float | str | None:
    if value == "none":
        return None
    if value == "auto":
        return value
    try:
        seconds = float(value)
    except ValueError:
        raise InputError(f"must be a number of seconds, 'auto' or 'none', got {value!r}",
                         "--timeout") from None
    return check_timeout(seconds, "--timeout")
