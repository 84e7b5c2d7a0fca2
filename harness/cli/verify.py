"""``aethel verify``, ``aethel replay`` and ``aethel report``."""

from __future__ import annotations

import json
import os
import shlex
import signal
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from aethel.allowed import is_module_name
from aethel.batchfile import batch_from_json
from aethel.cores import usable_cores
from aethel.errors import InputError
from aethel.executor import BACKENDS
from aethel.files import check_output, read_json, write_atomic
from harness.bench.monitor import machine_info
from harness.campaign.cluster import ClusterInfo, open_cluster, parse_cluster
from harness.campaign.config import (
    EXAMPLE_TIMEOUT,
    PROFILES,
    SWITCH_INTERVAL,
    CampaignConfig,
    gil_switch_interval,
)
from harness.campaign.coverage import coverage_json, group_lines
from harness.campaign.protocol import BUILTIN, accepts_timeout, load_factory
from harness.campaign.runner import CampaignResult, run_campaign
from harness.campaign.shards import (
    ShardResult,
    check_example,
    check_factory,
    close_executors,
    start_job,
)
from harness.campaign.timeouts import executor_timeout
from harness.checks.orders import BATCH, ORDERS
from harness.cli.options import allow_module_option, choose_names, order_option, positive_option
from harness.cli.progress import progress_display
from harness.process import (
    descendants,
    exit_code,
    stop_on_signals,
    terminate_children,
    wait_for_children,
)
from harness.report.campaign import COUNTEREXAMPLE, rebuild_html, replay_command, write_reports
from harness.report.common import new_run_dir
from harness.report.junit import junit_xml
from harness.report.terminal import echo


def parse_backends(value: str) -> tuple[str, ...]:
    """``thread,process`` → a tuple of known backend names."""
    names = choose_names((value,), BACKENDS, "--backends")
    if names is None:
        raise InputError(f"choose from {', '.join(BACKENDS)}; got none", "--backends")
    return names


@contextmanager
def campaign_progress(console: Console, total: int | None, budget: float | None
                      ) -> Iterator[Callable[[CampaignResult, ShardResult], None]]:
    """The campaign's progress: examples of ``total`` (else seconds of ``budget``) on a
    terminal; otherwise a plain line every few seconds and on every failing shard."""
    seen = {"examples": 0, "shards": 0, "violations": 0}
    last = [float("-inf")]
    of = total if total is not None else budget
    with progress_display(console, "verify", of) as display:

        def update(result: CampaignResult, shard: ShardResult) -> None:
            seen["examples"] += shard.examples
            seen["shards"] += 1
            seen["violations"] += shard.failure is not None
            now = display.elapsed
            detail = (f"{seen['examples']} examples, {seen['shards']} shards, "
                      f"{seen['examples'] / max(now, 1e-9):.1f} examples/s, "
                      f"{seen['violations']} failing shards")
            line = None
            if now - last[0] >= 2.0 or shard.failure is not None:
                last[0] = now
                line = f"verify {now:7.1f} s  {detail}"
            display.update(seen["examples"] if total is not None else now, of, detail, line=line)

        yield update


@click.command()
@click.option("--executor", "executor_spec", default=BUILTIN, show_default=True,
              help="MODULE:ATTR of the executor factory under test (docs/executor-protocol.md).")
@click.option("--backends", default="thread,process", show_default=True,
              help="Comma-separated backends to run every batch on.")
@click.option("--workers", type=int, default=2, show_default=True, callback=positive_option)
@click.option("--jobs", type=int, default=None, callback=positive_option,
              help="Processes that run shards (default: usable cores). Never changes which "
                   "batches are run.")
@click.option("--examples", type=int, default=None, callback=positive_option,
              help="Examples to run (default by profile).")
@click.option("--budget", type=float, default=None, callback=positive_option,
              help="Run for this many seconds instead.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--profile", type=click.Choice(tuple(PROFILES)), default="quick", show_default=True)
@click.option("--report", "report_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("reports"), show_default=True, help="Reports go to DIR/<run-id>/.")
@click.option("--junit", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write JUnit XML here.")
@click.option("--cluster", default=None, metavar="tcp://HOST:PORT | local:N",
              help="Run the shards on a Dask cluster (needs the dask extra).")
@click.option("--example-timeout", type=float, default=EXAMPLE_TIMEOUT, show_default=True,
              callback=positive_option,
              help="Seconds one execution may take before its example is reported as hung "
                   "(and the executor's processes killed); never more than half of --budget.")
@order_option()
@allow_module_option
def verify(executor_spec: str, backends: str, workers: int, jobs: int | None,
           examples: int | None, budget: float | None, seed: int, profile: str,
           report_dir: Path, junit: Path | None, cluster: str | None,
           example_timeout: float, order: str) -> None:
    """Generate random batches, run them in parallel and serially, check every property.

    The batches depend on --seed, --profile and --examples only (not on --jobs or the
    machine). Exit code 0 when every property holds, 1 on a violation, a hung or crashed
    executor, 2 on bad input, 3 when a job process is lost or the executor's environment
    failed (e.g. a database server that is down), 130/143 when interrupted (a partial report
    is written in both cases)."""
    if examples is not None and budget is not None:
        raise InputError("give --examples or --budget, not both", "--budget")
    if example_timeout > MAX_SECONDS:
        raise InputError(f"must be at most {MAX_SECONDS:g}, got {example_timeout:g}",
                         "--example-timeout")
    selected = parse_backends(backends)
    check_factory(executor_spec, selected, workers)
    if cluster is not None:
        parse_cluster(cluster)
    if junit:
        check_output(junit, "--junit")
    config = CampaignConfig(
        executor=executor_spec, backends=selected, workers=workers,
        jobs=jobs or usable_cores(), examples=examples, budget=budget, seed=seed,
        profile=profile, example_timeout=example_timeout, order=order)
    console = Console(stderr=True)
    directory = new_run_dir(report_dir, f"verify-seed{seed}")
    with stop_on_signals() as stopped, _pool(cluster, config, stopped) as (pool, info):
        if info is not None and jobs is None:
            config = replace(config, jobs=info.workers)
        with campaign_progress(console, config.total_examples, budget) as progress:
            result = run_campaign(config, pool, progress, lambda: stopped() is not None)
        signum = stopped()
        result.cluster = info.to_json() if info is not None else None
        close_executors()
    summary = {"run_id": directory.name, "machine": machine_info(), **result.to_json()}
    html = write_reports(summary, directory)
    if junit:
        write_atomic(junit, junit_xml(summary))
    _print_summary(result, directory, html)
    if signum is not None:
        echo(f"stopped by signal {signal.Signals(signum).name}; partial report written",
             err=True)
        sys.exit(exit_code(signum))
    if result.lost is not None:
        echo(f"error: {result.lost}; partial report written", err=True)
        sys.exit(3)
    sys.exit(0 if result.ok else 1)


JOBS_EXIT_GRACE = 10.0
"""Seconds the campaign's processes get to close their executors and exit when the campaign
ends, before they are killed."""
JOBS_END_TIMEOUT = 10.0
"""Seconds a job process gets, once terminated, to close its executors, unlink its semaphores
and exit (it takes a few at most), before it is killed."""


@contextmanager
def _pool(cluster: str | None, config: CampaignConfig, stopped: Callable[[], int | None]
          ) -> Iterator[tuple[Executor, ClusterInfo | None]]:
    """A local process pool (never more processes than shards), or the cluster's executor.

    A local pool is never waited for without a bound: its processes get
    :data:`JOBS_EXIT_GRACE` seconds (none after a signal) to close their executors and exit,
    then every process the campaign started is terminated, and killed if it has not exited
    :data:`JOBS_END_TIMEOUT` seconds later (a hung executor, or one that left non-daemon
    threads, cannot keep the campaign alive)."""
    if cluster is not None:
        with open_cluster(cluster) as (executor, info):
            yield executor, info
        return
    shards = config.shards
    jobs = config.jobs if shards is None else max(1, min(config.jobs, shards))
    before = descendants()
    pool = ProcessPoolExecutor(jobs, mp_context=get_context("spawn"), initializer=start_job,
                               initargs=(os.getpid(),))
    try:
        yield pool, None
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        wait_for_children(0.0 if stopped() is not None else JOBS_EXIT_GRACE, keep=before)
        terminate_children(JOBS_END_TIMEOUT, keep=before)


def _print_summary(result: CampaignResult, directory: Path, html: Path) -> None:
    state = "VIOLATION" if not result.ok else (
        "no violation" if result.complete else "INCOMPLETE, no violation so far")
    echo(f"{state}: {result.examples} examples, {result.shards} shards in "
         f"{result.seconds:.1f} s ({result.throughput:.1f} examples/s)"
         + ("" if result.config.order == BATCH else
            f", judged in {result.config.order} serial order"))
    for prop, passed, failed in result.property_rows():
        unjudged = result.not_judged.get(prop, 0)
        status = "FAIL" if failed else "N/A " if unjudged else "ok  "
        echo(f"  {status} {prop}: {passed} passed, {failed} failed"
             + (f", {unjudged} not judged" if unjudged else ""))
        if unjudged:
            echo(f"       {result.reasons[prop]}")
    ce = result.counterexample
    if ce:
        echo(f"counterexample: {ce['transactions']} transactions (shrunk from "
             f"{ce['transactions_before_shrinking']}) on {ce['backend']} ×{ce['workers']}")
        if ce["kind"] != "violation":
            echo(f"  {ce['error']}")
        for v in ce["verdicts"]:
            if not v["ok"]:
                for line in v["lines"]:
                    echo(f"  {line}")
        echo(f"saved {directory / COUNTEREXAMPLE}; replay: "
             f"{replay_command(ce, directory / COUNTEREXAMPLE)}")
    if result.note:
        echo(f"note: {result.note}")
    coverage = coverage_json(result.coverage, result.examples)
    echo(f"coverage: {coverage['features_exercised']} of {coverage['features_total']} "
         f"features exercised in {coverage['examples']} examples")
    for line in group_lines(coverage):
        echo(f"  {line}")
    echo(f"report: {html}")


@click.command()
@click.argument("counterexample", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--repeat", type=int, default=3, show_default=True, callback=positive_option,
              help="Run up to this many times until the violation shows (races may need more).")
@click.option("--timeout", type=float, default=None, callback=positive_option,
              help="Seconds one run may take before it is reported as hung (default: the "
                   f"campaign's example timeout, else {EXAMPLE_TIMEOUT:g}).")
@click.option("--executor", "executor_spec", default=None, metavar="MODULE:ATTR",
              help="The executor factory to replay on. Required when the counterexample "
                   f"names an executor other than {BUILTIN!r}: replay never imports the "
                   "executor a file names.")
@order_option(None, " Default: the counterexample's, else batch.")
@allow_module_option
def replay(counterexample: Path, repeat: int, timeout: float | None,
           executor_spec: str | None, order: str | None) -> None:
    """Re-run a saved counterexample and print the verdicts.

    Runs as the campaign did: with its GIL switch interval, worker count and executor
    timeout. Exit code 1 if it still fails (or hangs, or the executor crashes), 0 if it did
    not reproduce, 2 on bad input."""
    doc = _load_counterexample(counterexample)
    if executor_spec is None and doc["executor"] != BUILTIN:
        raise InputError(
            f"the counterexample names the executor {doc['executor']}, which replay imports "
            f"only when asked; to run it: {replay_command(doc, shlex.quote(str(counterexample)))}",
            str(counterexample))
    executor = executor_spec or doc["executor"]
    batch = batch_from_json(doc["batch"])
    config = CampaignConfig(executor=executor, backends=(doc["backend"],),
                            workers=doc["workers"],
                            example_timeout=timeout or doc.get("example_timeout",
                                                               EXAMPLE_TIMEOUT),
                            order=order or doc.get("order", BATCH))
    interval = doc.get("switch_interval", SWITCH_INTERVAL)
    asked = doc["executor_timeout"] if "executor_timeout" in doc else executor_timeout(batch)
    if not accepts_timeout(load_factory(config.executor)):
        asked = None  # check_example never asks such a factory for one
    try:
        with gil_switch_interval(interval):
            checked, failure = check_example(config, batch, repeat, timeout=asked)
    finally:
        close_executors()
    echo(f"replayed {len(batch)} transactions on {executor} {doc['backend']} ×"
         f"{doc['workers']} (switch interval {interval:g} s, "
         + (f"executor timeout {asked:g} s" if asked is not None else "no executor timeout")
         + ("" if config.order == BATCH else f", judged in {config.order} serial order")
         + f"; {len(checked)} checked run(s))")
    if checked:
        for v in checked[-1][1]:
            for line in v.lines():
                echo(line)
    if failure is not None and failure.kind != "violation":
        echo(failure.error)
    if failure is None:
        echo(f"the violation did not reproduce in {len(checked)} run(s)")
    sys.exit(0 if failure is None else 1)


MAX_REPLAY_WORKERS = 256
"""The most workers a counterexample may ask for: a file must not make replay start
thousands of threads or processes."""
MIN_SWITCH_INTERVAL, MAX_SWITCH_INTERVAL = 1e-6, 1.0
"""The GIL switch intervals (s) a counterexample may ask for (CPython counts whole µs)."""
MAX_SECONDS = 86400.0
"""The longest example or executor timeout (s) a campaign takes or a counterexample may
ask for."""


def _load_counterexample(path: Path) -> dict[str, Any]:
    doc = read_json(path, "counterexample")
    if not isinstance(doc, dict) or doc.get("format") != "aethel-counterexample":
        raise InputError("not an aethel counterexample (format must be "
                         "'aethel-counterexample')", str(path))
    for key, kind in (("batch", dict), ("executor", str), ("backend", str), ("workers", int)):
        if not isinstance(doc.get(key), kind):
            raise InputError(f"field {key!r} is missing or not a {kind.__name__}", str(path))
    for key, low, high, nullable in (
            ("switch_interval", MIN_SWITCH_INTERVAL, MAX_SWITCH_INTERVAL, False),
            ("example_timeout", None, MAX_SECONDS, False),
            ("executor_timeout", None, MAX_SECONDS, True)):
        if key in doc and not (nullable and doc[key] is None):
            _check_seconds(doc[key], low, high, nullable, f"{path}: {key}")
    if doc.get("order", BATCH) not in ORDERS:
        raise InputError(f"must be one of {', '.join(ORDERS)}, got {doc['order']!r}",
                         f"{path}: order")
    if doc["backend"] not in BACKENDS:
        raise InputError(f"unknown backend {doc['backend']!r}", f"{path}: backend")
    if not 1 <= doc["workers"] <= MAX_REPLAY_WORKERS or (
            doc["backend"] == "serial" and doc["workers"] != 1):
        raise InputError(f"must be 1 for the serial backend, else 1 to {MAX_REPLAY_WORKERS}, "
                         f"got {doc['workers']}", f"{path}: workers")
    module, _, attr = doc["executor"].partition(":")
    if doc["executor"] != BUILTIN and not (is_module_name(module) and is_module_name(attr)):
        raise InputError(f"must be {BUILTIN!r} or MODULE:ATTR, got {doc['executor']!r}",
                         f"{path}: executor")
    return doc


_JSON_KINDS = {str: "a string", list: "a list", dict: "an object"}


def _check_seconds(value: Any, low: float | None, high: float, nullable: bool, where: str
                   ) -> None:
    """Raise :class:`InputError` at ``where`` unless ``value`` is a number of seconds in
    [low, high] (in (0, high] when ``low`` is None)."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if number and (value > 0 if low is None else value >= low) and value <= high:
        return
    span = f"(0, {high:g}]" if low is None else f"[{low:g}, {high:g}]"
    shown = _JSON_KINDS.get(type(value)) or json.dumps(value)
    if len(shown) > 40:
        shown = f"{shown[:20]}…{shown[-8:]}"
    raise InputError(f"must be {'null or ' if nullable else ''}a number of seconds in {span}, "
                     f"got {shown}", where)


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def report(directory: Path) -> None:
    """Rebuild DIRECTORY/index.html from DIRECTORY/summary.json."""
    echo(f"wrote {rebuild_html(directory)}")
