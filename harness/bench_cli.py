"""``aethel bench``: the command, its progress display and where the report goes."""

from __future__ import annotations

import shlex
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from aethel.errors import InputError
from harness.bench import PARALLEL_BACKENDS, BenchConfig, ProgressCallback
from harness.options import choose_names
from harness.report import new_run_dir
from harness.signals import exit_code, stop_on_signals, terminate_children
from harness.terminal import echo
from harness.workloads import WORKLOADS


def _counts(values: tuple[str, ...]) -> tuple[int, ...] | None:
    """Comma-separated or repeated positive worker counts; None if not given."""
    items = [n.strip() for v in values for n in v.split(",") if n.strip()]
    if not items:
        return None
    try:
        counts = tuple(sorted({int(n) for n in items}))
    except ValueError:
        raise InputError(f"must be positive integers, got {','.join(items)}", "--workers") from None
    if counts[0] < 1:
        raise InputError(f"must be at least 1, got {counts[0]}", "--workers")
    return counts


@contextmanager
def progress_display(console: Console) -> Iterator[ProgressCallback]:
    """A rich progress bar on a terminal, otherwise one plain line per stage."""
    if console.is_terminal:
        bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                       TextColumn("{task.fields[detail]}"), TimeElapsedColumn(),
                       console=console, transient=True)
        task = bar.add_task("starting", total=None, detail="")

        def update(stage: str, detail: str, done: int, total: int) -> None:
            bar.update(task, description=stage, detail=detail, completed=done, total=total)

        with bar:
            yield update
        return
    last = [""]
    started = time.monotonic()

    def line(stage: str, detail: str, done: int, total: int) -> None:
        if stage != last[0]:
            last[0] = stage
            console.print(f"[{done}/{total}] {time.monotonic() - started:6.1f} s  {stage}",
                          highlight=False, soft_wrap=True)

    yield line


@click.command()
@click.option("--quick", is_flag=True,
              help="Small workloads, 2 repetitions (< 1 min): a smoke run.")
@click.option("--workloads", multiple=True, metavar="NAMES",
              help=f"Comma-separated workloads (default all): {', '.join(WORKLOADS)}.")
@click.option("--backends", multiple=True, metavar="NAMES",
              help="Comma-separated parallel backends (default thread,process); serial always "
                   "runs as the baseline.")
@click.option("--workers", multiple=True, metavar="COUNTS",
              help="Comma-separated worker counts (default 1, 2, 4, … up to the usable cores).")
@click.option("--repeat", type=click.IntRange(min=1), default=None,
              help="Repetitions per cell (default 5, quick 2).")
@click.option("--pin", is_flag=True, help="Pin each worker (process or thread) to one core.")
@click.option("--report", "report_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("reports"), show_default=True,
              help="Parent directory of the bench-<id> report directory.")
@click.option("--seed", type=int, default=0, show_default=True, help="Workload seed.")
def bench(quick: bool, workloads: tuple[str, ...], backends: tuple[str, ...],
          workers: tuple[str, ...], repeat: int | None, pin: bool, report_dir: Path,
          seed: int) -> None:
    """Measure how the executor scales with cores; write reports/bench-<id>/."""
    from harness.bench import Bench
    from harness.bench_report import write_report

    config = BenchConfig(
        quick=quick,
        workloads=choose_names(workloads, tuple(WORKLOADS), "--workloads") or tuple(WORKLOADS),
        backends=choose_names(backends, PARALLEL_BACKENDS, "--backends") or PARALLEL_BACKENDS,
        workers=_counts(workers), repeat=repeat, pin=pin, seed=seed)
    directory = new_run_dir(report_dir, "bench-quick" if quick else "bench")
    console = Console(stderr=True)
    with stop_on_signals() as stopped, progress_display(console) as progress:
        doc = Bench(config, progress, lambda: stopped() is not None).run()
        signum = stopped()
    if signum is not None:
        terminate_children()
    doc["id"] = directory.name.removeprefix("bench-")
    doc["command"] = shlex.join(["aethel", "bench", *sys.argv[2:]]) \
        if sys.argv[1:2] == ["bench"] else "aethel bench"
    paths = write_report(doc, directory)
    for t in doc["targets"]:
        status = "not measured" if t["met"] is None else ("met" if t["met"] else "MISSED")
        status += " (noisy)" if t["noisy"] else ""
        echo(f"{status:>20}  {t['target']} — {t['detail']}")
    echo(f"report: {paths['html']} (also {paths['md'].name}, {paths['json'].name})")
    if signum is not None:
        echo(f"stopped by signal {signal.Signals(signum).name}; partial report written",
             err=True)
        sys.exit(exit_code(signum))
