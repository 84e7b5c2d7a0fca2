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
from aethel.batchfile import batch_from_json, batch_to_json
from aethel.cores import usable_cores
from aethel.errors import InputError
from aethel.executor import BACKENDS
from aethel.files import check_output, read_json, write_atomic
from aethel.model import Batch
from harness.bench.monitor import machine_info
from harness.campaign.cluster import ClusterInfo, open_cluster, parse_cluster
from harness.campaign.config import (
    EXAMPLE_TIMEOUT,
    PROFILES,
    SWITCH_INTERVAL,
    CampaignConfig,
    gil_switch_interval,
)
from harness.campaign.protocol import BUILTIN, Run, accepts_timeout, load_factory
from harness.campaign.runner import (
    CHECKING,
    DONE,
    SHRINKING,
    STARTING,
    Tally,
    run_campaign,
)
from harness.campaign.shards import (
    Failure,
    check_example,
    check_factory,
    close_executors,
    start_job,
)
from harness.campaign.shrink import judged_oracle, oracle_json, run_json
from harness.campaign.timeouts import executor_timeout
from harness.checks import OracleResult
from harness.checks.orders import BATCH, ORDERS
from harness.checks.verdict import Verdict, plural
from harness.cli.options import allow_module_option, choose_names, order_option, positive_option
from harness.cli.progress import ProgressDisplay, progress_display
from harness.process import (
    descendants,
    exit_code,
    spare_children_the_command,
    stop_on_signals,
    terminate_children,
    wait_for_children,
)
from harness.report.campaign import (
    COUNTEREXAMPLE,
    example_verdicts_line,
    rebuild_html,
    replay_command,
    verdict_lines,
    write_reports,
)
from harness.report.common import new_run_dir, provenance
from harness.report.junit import junit_xml
from harness.report.terminal import (
    echo,
    print_campaign,
    print_example,
    print_lines,
    print_sides,
    say,
    stdout_console,
)


def parse_backends(value: str) -> tuple[str, ...]:
    """``thread,process`` → a tuple of known backend names."""
    names = choose_names((value,), BACKENDS, "--backends")
    if names is None:
        raise InputError(f"choose from {', '.join(BACKENDS)}; got none", "--backends")
    return names


PROGRESS_EVERY = 5.0
"""CI mode: seconds between two progress lines (there is one at each tenth of the run too)."""
PHASE_WORDS = {STARTING: "starting", CHECKING: "checking", SHRINKING: "shrinking"}
"""The short name of each phase of a campaign, as the bar shows it."""


class CampaignWatch:
    """A campaign's progress (each :class:`~harness.campaign.runner.Tally`) on a
    :class:`~harness.cli.progress.ProgressDisplay`.

    On a terminal: a bar of examples (of seconds under a budget) with the failures, jobs,
    rate and time left. In CI mode: a line per phase, a progress line with the totals every
    :data:`PROGRESS_EVERY` seconds, at each tenth of the run and at the first failure, and
    at :meth:`close` a last line with the result's counts, in the words of the summary.
    ``jobs`` is the number of job processes (a cluster's workers, once it is open)."""

    def __init__(self, display: ProgressDisplay, config: CampaignConfig, jobs: int) -> None:
        self.display = display
        self.jobs = jobs
        self._total = config.total_examples
        self._budget = config.budget
        self._shard_size = config.shard_size
        self._phase: str | None = None
        self._checking_since: tuple[float, int] | None = None
        self._last_line = 0.0
        self._tenths = 0
        self._failures = 0
        self._final: Tally | None = None

    def phase(self, words: str) -> None:
        """A phase of the command around the campaign (e.g. writing the reports)."""
        self._phase = words
        self.display.update(*self._done(self._final), self._detail(self._final), stage=words,
                            line=self._line(words))

    def tally(self, tally: Tally) -> None:
        """Show ``tally``; in CI mode print what is due."""
        if tally.phase == DONE:
            self._final = tally
            self.display.update(*self._done(tally), self._detail(tally))
            return
        if tally.phase == CHECKING and self._checking_since is None:
            self._checking_since = (tally.seconds, tally.examples)
        lines = []
        if tally.phase != self._phase:
            self._phase = tally.phase
            lines.append(self._line(self._phase_words(tally)))
        tenths = self._tenths_of(tally)
        if (tally.seconds - self._last_line >= PROGRESS_EVERY or tenths > self._tenths
                or tally.failures > self._failures):
            self._last_line = tally.seconds
            lines.append(self._line(self._counts(tally)))
        self._tenths = max(self._tenths, tenths)
        self._failures = max(self._failures, tally.failures)
        self.display.update(*self._done(tally), self._detail(tally),
                            stage=PHASE_WORDS[tally.phase], line="\n".join(lines) or None)

    def close(self) -> None:
        """In CI mode, the last line: the campaign's final counts."""
        final = self._final
        if final is not None and self.display.plain:
            word = "done" if final.complete else "stopped"
            self.display.print(self._line(
                f"{word}: {self._examples(final)}, {plural(final.failures, 'failure')}, "
                f"{plural(final.shards, 'shard')}, {plural(self.jobs, 'job')} in "
                f"{final.seconds:.1f} s"))

    def _phase_words(self, tally: Tally) -> str:
        if tally.phase == STARTING:
            return f"starting {plural(self.jobs, 'job')}"
        if tally.phase == SHRINKING:
            return f"shrinking {tally.detail}"
        if self._total is None:
            return (f"generating and checking examples for {self._budget:g} s, in shards of "
                    f"{self._shard_size}")
        shards = -(-self._total // self._shard_size)
        return (f"generating and checking {plural(self._total, 'example')} in "
                f"{plural(shards, 'shard')} of {self._shard_size}")

    def _examples(self, tally: Tally) -> str:
        if self._total is None:
            return plural(tally.examples, "example")
        return f"{tally.examples}/{self._total} examples"

    def _counts(self, tally: Tally) -> str:
        words = [self._examples(tally), plural(tally.failures, "failure"),
                 plural(self.jobs, "job")]
        if tally.phase != CHECKING:
            words[0] = f"{PHASE_WORDS[tally.phase]}: {words[0]}"
        rate = self._rate(tally)
        if rate is not None:
            words.append(f"{rate:.1f} examples/s")
        left = self._left(tally, rate)
        if left is not None and left >= 0.5:
            words.append(f"about {left:.0f} s left")
        return ", ".join(words)

    def _detail(self, tally: Tally | None) -> str:
        if tally is None:
            return ""
        rate = self._rate(tally)
        return " · ".join([plural(tally.failures, "failure"), plural(self.jobs, "job")]
                          + ([f"{rate:.1f} examples/s"] if rate is not None else [])
                          + ([plural(tally.examples, "example")] if self._total is None
                             else []))

    def _rate(self, tally: Tally) -> float | None:
        """Examples per second since checking started (None before)."""
        if self._checking_since is None:
            return None
        since, examples = self._checking_since
        if tally.seconds <= since or tally.examples <= examples:
            return None
        return (tally.examples - examples) / (tally.seconds - since)

    def _left(self, tally: Tally, rate: float | None) -> float | None:
        if self._budget is not None and not tally.failures:
            return max(0.0, self._budget - tally.seconds)
        if (self._total is None or rate is None or tally.phase != CHECKING
                or tally.failures or tally.examples >= self._total):
            return None
        return (self._total - tally.examples) / rate

    def _done(self, tally: Tally | None) -> tuple[float, float | None]:
        """How much of the bar is done, of what."""
        if self._total is None:
            seconds = tally.seconds if tally is not None else 0.0
            return min(seconds, self._budget or seconds), self._budget
        return (tally.examples if tally is not None else 0), self._total

    def _tenths_of(self, tally: Tally) -> int:
        if self._total:
            return 10 * tally.examples // self._total
        if self._budget:
            return int(10 * min(tally.seconds, self._budget) // self._budget)
        return 0

    def _line(self, text: str) -> str:
        return f"verify {self.display.elapsed:6.1f} s  {text}"


def start_line(config: CampaignConfig, jobs: int, cluster: str | None) -> str:
    """What a campaign is about to run, in one line."""
    scope = (plural(config.total_examples, "example") if config.total_examples is not None
             else f"a budget of {config.budget:g} s")
    where = plural(jobs, "job") if cluster is None else f"the cluster {cluster}"
    order = "" if config.order == BATCH else f", judged in {config.order} serial order"
    return (f"verify: seed {config.seed}, profile {config.profile}, {scope}, {where}, "
            f"backends {', '.join(config.backends)}, executor {config.executor}{order}")


@contextmanager
def campaign_progress(console: Console, config: CampaignConfig, jobs: int,
                      cluster: str | None = None) -> Iterator[CampaignWatch]:
    """Show a campaign's progress on ``console`` while the block runs: the start line at
    once, then a :class:`CampaignWatch`."""
    with progress_display(console, PHASE_WORDS[STARTING], config.total_examples
                          if config.budget is None else config.budget) as display:
        display.print(start_line(config, jobs, cluster))
        watch = CampaignWatch(display, config, jobs)
        yield watch
        watch.close()


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
    with stop_on_signals() as stopped, \
            campaign_progress(console, config, _local_jobs(config), cluster) as watch:
        if cluster is not None:
            watch.phase(f"opening the cluster {cluster}")
        with _pool(cluster, config, stopped) as (pool, info):
            if info is not None:
                watch.jobs = info.workers
                if jobs is None:
                    config = replace(config, jobs=info.workers)
            result = run_campaign(config, pool, should_stop=lambda: stopped() is not None,
                                  on_tally=watch.tally)
            watch.phase("closing the cluster" if cluster is not None
                        else f"stopping {plural(watch.jobs, 'job')}")
        signum = stopped()
        result.cluster = info.to_json() if info is not None else None
        close_executors()
        watch.phase("writing reports")
        summary = {"run_id": directory.name, "provenance": provenance(),
                   "machine": machine_info(), **result.to_json()}
        html = write_reports(summary, directory)
        if junit:
            write_atomic(junit, junit_xml(summary))
    print_campaign(summary, directory / COUNTEREXAMPLE, html)
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
    before = descendants()
    spare_children_the_command()
    pool = ProcessPoolExecutor(_local_jobs(config), mp_context=get_context("spawn"),
                               initializer=start_job, initargs=(os.getpid(),))
    try:
        yield pool, None
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        wait_for_children(0.0 if stopped() is not None else JOBS_EXIT_GRACE, keep=before)
        terminate_children(JOBS_END_TIMEOUT, keep=before)


def _local_jobs(config: CampaignConfig) -> int:
    """The job processes of a local pool: never more than the campaign has shards."""
    shards = config.shards
    return config.jobs if shards is None else max(1, min(config.jobs, shards))


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
    console = stdout_console()
    print_example(console, f"{len(batch)} transactions, {batch.mode} batch, from "
                  f"{counterexample}", {"batch": batch_to_json(batch)})
    config = CampaignConfig(executor=executor, backends=(doc["backend"],),
                            workers=doc["workers"],
                            example_timeout=timeout or doc.get("example_timeout",
                                                               EXAMPLE_TIMEOUT),
                            order=order or doc.get("order", BATCH))
    interval = doc.get("switch_interval", SWITCH_INTERVAL)
    asked = doc["executor_timeout"] if "executor_timeout" in doc else executor_timeout(batch)
    if not accepts_timeout(load_factory(config.executor)):
        asked = None  # check_example never asks such a factory for one
    oracle: list[OracleResult] = []
    try:
        with gil_switch_interval(interval):
            checked, failure = check_example(config, batch, repeat, timeout=asked,
                                             on_oracle=oracle.append)
    finally:
        close_executors()
    _print_replay(console, batch, checked, failure, oracle[0] if oracle else None, config)
    echo(f"replayed {len(batch)} transactions on {executor} {doc['backend']} ×"
         f"{doc['workers']} (switch interval {interval:g} s, "
         + (f"executor timeout {asked:g} s" if asked is not None else "no executor timeout")
         + ("" if config.order == BATCH else f", judged in {config.order} serial order")
         + f"; {len(checked)} checked run(s))")
    if failure is None:
        echo(f"the violation did not reproduce in {len(checked)} run(s)")
    sys.exit(0 if failure is None else 1)


def _print_replay(console: Console, batch: Batch, checked: list[tuple[Run, list[Verdict]]],
                  failure: Failure | None, oracle: OracleResult | None,
                  config: CampaignConfig) -> None:
    """What the replay's last run gave, as the reports show a falsifying example: the
    balances and outcomes beside serial execution's, then every verdict (the violations of
    a failed one each once)."""
    broken = failure is not None and failure.kind != "violation"
    run = checked[-1][0] if checked and not broken else None
    verdicts = [v.to_json() for v in checked[-1][1]] if run else []
    doc = {"batch": batch_to_json(batch), "verdicts": verdicts,
           "kind": failure.kind if broken else "violation",
           "oracle": oracle_json(judged_oracle(
               config.order, batch, verdicts, oracle, run.execution_trace if run else (),
               run.final_states if run else None,
               {t: (o.status, o.reason) for t, o in run.outcomes.items()} if run else None)),
           "executor_result": run_json(run.final_states, run.outcomes) if run else None}
    print_sides(console, doc)
    say(console, f"Explanation: {example_verdicts_line(doc)}", "bold")
    if broken:
        print_lines(console, [failure.error or failure.kind])
    print_lines(console, [line for v in verdicts for line in verdict_lines(v)])


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
