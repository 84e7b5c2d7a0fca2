"""``aethel bench``: the command, its progress display, the verdict it prints and where the
report goes."""

from __future__ import annotations

import shlex
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.box import SIMPLE
from rich.console import Console
from rich.table import Table
from rich.text import Text

from harness.bench.measure import Bench, BenchConfig, ProgressCallback
from harness.bench.summary import PARALLEL_BACKENDS
from harness.bench.targets import NOISY_CPU
from harness.bench.workloads import WORKLOADS
from harness.cli.options import choose_names, positive_counts, positive_option
from harness.cli.progress import progress_display
from harness.process import exit_code, stop_on_signals, terminate_children
from harness.report.bench import (
    PAGE_MARKS,
    PEER_TITLE,
    STATUS_WORDS,
    measured_text,
    num,
    peer_rows,
    peered,
    ratio_rows,
    verdict,
    write_report,
)
from harness.report.common import new_run_dir
from harness.report.terminal import echo


@contextmanager
def bench_progress(console: Console) -> Iterator[ProgressCallback]:
    """The benchmark's progress: its stage and run on a terminal; otherwise one plain line
    per stage."""
    last = [""]
    with progress_display(console, "starting") as display:

        def update(stage: str, detail: str, done: int, total: int) -> None:
            line = None
            if stage != last[0]:
                last[0] = stage
                line = f"[{done}/{total}] {display.elapsed:6.1f} s  {stage}"
            display.update(done, total, detail, stage=stage, line=line)

        yield update


STATUS_STYLES = {"met": "green", "missed": "bold red", "not judged": "dim",
                 "not measured": "dim"}


def target_table(doc: dict[str, Any]) -> Table:
    """A narrow table of the targets: status (``*``: noisy figures), short name, measured,
    needed."""
    table = Table(box=SIMPLE, pad_edge=False)
    table.add_column("status", no_wrap=True)
    table.add_column("target")
    table.add_column("measured", justify="right", no_wrap=True)
    table.add_column("needed", justify="right")
    for t in doc["targets"]:
        status = STATUS_WORDS[t["status"]].translate(PAGE_MARKS) + ("*" if t["noisy"] else "")
        table.add_row(Text(status, STATUS_STYLES[t["status"]]), t["name"], measured_text(t),
                      t["needed"])
    return table


def median(s: dict[str, float]) -> str:
    """A figure's median alone (the terminal is narrow; the reports give the ranges)."""
    return num(s["median"])


def peer_table(doc: dict[str, Any]) -> Table:
    """Per workload, medians: speedups over the plain loop of the bare pool, the engine's
    backends and Dask, the ratios process / bare pool and process / Dask, and the ceiling."""
    table = Table(box=SIMPLE, pad_edge=False, collapse_padding=True,
                  title=f"{PEER_TITLE}: speedup over a plain "
                  "loop (medians)", title_justify="left",
                  caption="pool: bare process pool; p/pool, p/dask: process backend ÷ bare "
                  "pool, ÷ Dask", caption_justify="left")
    for header in ("workload", "pool", "process", "thread", "serial", "dask", "p/pool",
                   "p/dask", "ceiling"):
        table.add_column(header, justify="left" if header == "workload" else "right",
                         no_wrap=True)
    for peers, ratios in zip(peer_rows(doc, median), ratio_rows(doc, median), strict=True):
        table.add_row(ratios[0], *peers[1:6], *ratios[2:4], peers[6])
    return table


def print_targets(doc: dict[str, Any]) -> None:
    """The verdict, the peer comparison, the targets' table and what ``*`` means."""
    echo(verdict(doc))
    console = Console(highlight=False)
    if peered(doc):
        console.print(peer_table(doc))
    console.print(target_table(doc))
    if any(t["noisy"] for t in doc["targets"]):
        echo(f"* noisy: other processes used more than {NOISY_CPU} cores during its runs")


@click.command()
@click.option("--quick", is_flag=True,
              help="Small workloads at the usable cores only, 2 repetitions (< 1 min): a "
                   "smoke run.")
@click.option("--campaign", is_flag=True,
              help="Measure campaign scaling instead: examples/s of aethel verify's "
                   "campaigns at 1, 2 (and the usable cores) jobs × engine workers.")
@click.option("--examples", type=int, default=None, callback=positive_option,
              help="With --campaign: examples per campaign (default 1500, quick 300).")
@click.option("--workloads", multiple=True, metavar="NAMES",
              help=f"Comma-separated workloads (default all): {', '.join(WORKLOADS)}.")
@click.option("--backends", multiple=True, metavar="NAMES",
              help="Comma-separated parallel backends (default thread,process); serial always "
                   "runs as the baseline.")
@click.option("--workers", multiple=True, metavar="COUNTS",
              help="Comma-separated worker counts (default 1, 2, 4, … up to the usable cores).")
@click.option("--repeat", type=int, default=None, callback=positive_option,
              help="Repetitions per cell (default 5, quick 2; --campaign 1).")
@click.option("--pin", is_flag=True, help="Pin each worker (process or thread) to one core.")
@click.option("--report", "report_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("reports"), show_default=True,
              help="Parent directory of the bench-<id> report directory.")
@click.option("--seed", type=int, default=0, show_default=True, help="Workload seed.")
def bench(quick: bool, campaign: bool, examples: int | None, workloads: tuple[str, ...],
          backends: tuple[str, ...], workers: tuple[str, ...], repeat: int | None, pin: bool,
          report_dir: Path, seed: int) -> None:
    """Measure how the executor scales with cores, against what you would write instead (a
    bare process pool, Dask); or, with --campaign, how campaigns scale with jobs. Write
    reports/bench-<id>/."""
    if campaign and (workloads or backends or workers or pin):
        raise click.UsageError("--campaign measures campaigns, not workloads: it takes no "
                               "--workloads, --backends, --workers or --pin")
    if examples is not None and not campaign:
        raise click.UsageError("--examples applies to --campaign only")
    config = BenchConfig(
        quick=quick,
        workloads=() if campaign else
        choose_names(workloads, tuple(WORKLOADS), "--workloads") or tuple(WORKLOADS),
        backends=choose_names(backends, PARALLEL_BACKENDS, "--backends") or PARALLEL_BACKENDS,
        workers=positive_counts(workers, "--workers"), repeat=repeat, pin=pin, seed=seed,
        campaign=campaign, campaign_examples=examples)
    kind = "campaign" if campaign else "quick" if quick else ""
    directory = new_run_dir(report_dir, "-".join(filter(None, ("bench", kind))))
    console = Console(stderr=True)
    with stop_on_signals() as stopped, bench_progress(console) as progress:
        doc = Bench(config, progress, lambda: stopped() is not None).run()
        signum = stopped()
    if signum is not None:
        terminate_children()
    doc["id"] = directory.name.removeprefix("bench-")
    doc["command"] = shlex.join(["aethel", "bench", *sys.argv[2:]]) \
        if sys.argv[1:2] == ["bench"] else "aethel bench"
    paths = write_report(doc, directory)
    print_targets(doc)
    echo(f"report: {paths['html']} (also {paths['md'].name}, {paths['json'].name})")
    if signum is not None:
        echo(f"stopped by signal {signal.Signals(signum).name}; partial report written",
             err=True)
        sys.exit(exit_code(signum))
