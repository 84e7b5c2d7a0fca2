"""The anomaly table of PostgreSQL's isolation levels and SQLite, reproduced by campaigns.

    python docs/examples/measure_databases.py [--examples 2000] [--serializable-examples 10000]
        [--targets read-committed,repeatable-read,serializable,sqlite] [--seed 0]
        [--workers 4] [--replays 20] [--replay-repeat 10] [--shrink-seconds 90]
        [--out reports/databases]

Each target runs the examples of a campaign (the quick profile at high contention, with the
campaign's operation mix and race shards, on the thread backend, judged with ``--order
any``) without stopping at the first failure: every example is drawn, executed and checked
as a shard does it (:func:`harness.campaign.shards.check_example`), and the anomaly classes
named by its failing verdicts are noted, so that each class gets the example that first
showed it. Timeout examples are left out: the database factories take no timeout. The
batches depend on the seed only, so every target runs the same ones.

Each class found is then shrunk to a small batch that shows *that* class (Hypothesis's
shrinker over the shard's strategy, then the transactions the violation names kept alone and
single transactions removed, then smaller batches searched for), saved as a counterexample
``aethel replay`` takes, and replayed by ``--replays`` new ``aethel replay --repeat N``
processes, each on a PostgreSQL server of its own (unless ``AETHEL_PG_DSN`` names one): how
many show the class on their first run, how many within N runs. Prints Markdown: the anomaly
table, throughput per target, how often a transaction that rolled back on its own was noted
(not failed) for reads or an outcome the witness order would not give it, replay rates, the
shrunk examples with the checkers' messages, and where the table differs from what the
databases document.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import HypothesisException
from hypothesis.strategies import SearchStrategy

from aethel.batchfile import batch_to_json
from aethel.model import Batch
from harness.campaign.config import (
    RACE_SHARDS,
    CampaignConfig,
    derive_seed,
    gil_switch_interval,
    is_race_shard,
)
from harness.campaign.shards import HUNG, Failure, check_example, close_executors
from harness.campaign.shrink import SHRINK_REPEATS, counterexample_doc
from harness.campaign.strategies import without_local_constants
from harness.checks import ANY
from harness.checks.anomalies import (
    CATALOGUE,
    DIRTY,
    G0,
    G1C,
    G2,
    G_SINGLE,
    LOST_UPDATE,
    STALE,
    WRONG_VALUE,
)
from harness.checks.isolation import COMMITTED_ONLY
from harness.checks.verdict import EQUIVALENCE, ISOLATION, Verdict, Violation
from harness.targets.postgres import DSN_ENV

ROOT = Path(__file__).resolve().parents[2]
REPLAY_ENV = dict(os.environ)
"""The environment replays run in: as the script found it, before a throwaway server of its
own set ``AETHEL_PG_DSN``."""
TARGETS: dict[str, tuple[str, str]] = {
    "read-committed": ("PostgreSQL READ COMMITTED", "harness.targets.postgres:ReadCommitted"),
    "repeatable-read": ("PostgreSQL REPEATABLE READ",
                        "harness.targets.postgres:RepeatableRead"),
    "serializable": ("PostgreSQL SERIALIZABLE", "harness.targets.postgres:Serializable"),
    "sqlite": ("SQLite", "harness.targets.sqlite:SQLiteExecutor"),
}
"""Rows of the table: a name, its label and the executor factory."""
COLUMNS: tuple[tuple[str, str], ...] = (
    ("G0", G0), ("G1a", DIRTY), ("G1b", WRONG_VALUE), ("G1c", G1C),
    ("lost update", LOST_UPDATE), ("G-single", G_SINGLE), ("G2-item", G2))
"""Columns of the table: Adya's class and the anomaly the checkers name it by. G1b, an
intermediate read, is a ``wrong value``: every write of a transaction sets the row's version
to the transaction's id, while its WRITE event holds the last value written, so a read of an
earlier write shows a value its version was not installed with."""
EXPECTED: dict[str, set[str]] = {
    "read-committed": {LOST_UPDATE, G_SINGLE, G2},
    "repeatable-read": {G2},
    "serializable": set(),
    "sqlite": set(),
}
"""The classes the databases' documentation allows (docs/targets.md)."""
READ_SKEW = "G-single (read skew)"
"""A G-single cycle in a run without a lost update: a transaction saw part of what another
did, rather than installing over a version it did not read."""
SHRUNK = (*(name for _, name in COLUMNS), READ_SKEW, STALE)
"""The classes shrunk to a counterexample when found: the table's, read skews, and stale
reads (which no column names)."""
NOTED = (ISOLATION, EQUIVALENCE)
"""The verdicts that note, under ``--order any``, what a transaction that rolled back on its
own was not held to: its reads (isolation) and its outcome (serial equivalence)."""
DROP_REPEATS = 20
MAX_REPEATS = 200
"""The fewest and the most runs of a smaller batch before it counts as not showing the
anomaly (the first run that shows it ends them)."""
RATE_RUNS = 40
"""Runs of a batch that measure how often it shows the anomaly, before smaller ones are
tried."""
SEARCH_EXAMPLES = 200
"""Examples with fewer transactions drawn per search for a smaller batch."""
WORKERS = 4
"""Connections per executor (the campaign's default is 2): more transactions run at once,
and write skew shows in about twice as many examples."""


@dataclass
class Shown:
    """One run showing an anomaly: its batch, the shard it was drawn in, the campaign's
    failure record and the first violation of that class."""

    batch: Batch
    shard: int
    failure: Failure
    violation: Violation


@dataclass
class Survey:
    """What ``examples`` examples of one target showed: per class, the 1-based index of the
    first example showing it (``first``), the run that showed it (``shown``) and how many
    examples showed it (``counts``); ``seconds`` is the time spent executing and checking,
    ``wall`` includes drawing the batches. ``noted``: per verdict (isolation, serial
    equivalence), how many examples it noted a transaction that rolled back on its own and
    was not held to the witness order (``first_noted``: the first such example; ``note``:
    that verdict's explanation there)."""

    target: str
    executor: str
    examples: int = 0
    seconds: float = 0.0
    wall: float = 0.0
    first: dict[str, int] = field(default_factory=dict)
    shown: dict[str, Shown] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    failing: int = 0
    digest: str = ""
    noted: Counter[str] = field(default_factory=Counter)
    first_noted: dict[str, int] = field(default_factory=dict)
    note: dict[str, str] = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        """Examples executed and checked per second."""
        return self.examples / self.seconds if self.seconds else 0.0


@dataclass
class Shrunk:
    """A class's shrunk counterexample: where it is saved, the run that showed it, the size
    of the batch it was shrunk from and the seconds shrinking took; then its replays: how
    many, how many showed the class (on their first run), the runs they took, and the other
    outcomes."""

    anomaly: str
    path: Path
    shown: Shown
    original: int
    seconds: float
    replays: int = 0
    reproduced: int = 0
    first_run: int = 0
    runs: int = 0
    other: Counter[str] = field(default_factory=Counter)


class _Shown(Exception):
    """Raised inside a Hypothesis test to mark an example showing the anomaly sought."""


def campaign_config(executor: str, seed_value: int = 0, workers: int = WORKERS
                    ) -> CampaignConfig:
    """A campaign of ``executor``: the quick profile at high contention, thread backend,
    judged in any serial order."""
    return CampaignConfig(executor=executor, backends=("thread",), workers=workers,
                          seed=seed_value, contention="high", order=ANY)


def named(verdicts: list[Verdict]) -> dict[str, Violation]:
    """Per anomaly class the failing verdicts of one run name, its first violation (a
    G-single cycle in a run without a lost update also as :data:`READ_SKEW`)."""
    found: dict[str, Violation] = {}
    for verdict in verdicts:
        for violation in verdict.violations if not verdict.ok else ():
            found.setdefault(violation.anomaly, violation)
    if READ_SKEW in with_read_skew(set(found)):
        found[READ_SKEW] = found[G_SINGLE]
    return found


def with_read_skew(names: set[str]) -> set[str]:
    """``names``, with :data:`READ_SKEW` if they hold G-single and no lost update."""
    return names | {READ_SKEW} if G_SINGLE in names and LOST_UPDATE not in names else names


def printed_classes(output: str) -> set[str]:
    """The anomaly classes of the violations ``aethel replay`` printed (lines
    ``anomaly: message``)."""
    names = {line.strip().partition(": ")[0] for line in output.splitlines()}
    return with_read_skew(names & set(CATALOGUE))


def shards(config: CampaignConfig, examples: int) -> Iterator[tuple[int, int]]:
    """``(shard, examples in it)`` for a run of ``examples`` examples."""
    index = 0
    while examples > 0:
        count = min(config.shard_size, examples)
        yield index, count
        examples -= count
        index += 1


def hypothesis_run(config: CampaignConfig, strategy: SearchStrategy[Batch], seed_value: int,
                   examples: int,
                   test: Callable[[Batch], None], shrink: bool = False) -> None:
    """Run ``test`` on ``examples`` batches of ``strategy`` as a campaign's shard does
    (seeded, at the campaign's GIL switch interval), shrinking what it raises if
    ``shrink``; what ends the run (the test's exception, Hypothesis's) is the caller's."""
    phases = [Phase.generate, Phase.shrink] if shrink else [Phase.generate]

    @seed(seed_value)
    @settings(max_examples=examples, database=None, deadline=None, phases=phases,
              derandomize=False, report_multiple_bugs=False, print_blob=False,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def run(batch: Batch) -> None:
        test(batch)

    with gil_switch_interval(config.switch_interval), without_local_constants():
        run()


def survey(config: CampaignConfig, examples: int, target: str = "",
           progress: Callable[[Survey], None] | None = None) -> Survey:
    """Draw, execute and check ``examples`` examples of ``config``'s shards, noting every
    anomaly class each failing example shows; never stops at a failure."""
    result = Survey(target, config.executor)
    digest = hashlib.sha256()
    started = time.perf_counter()

    def example(batch: Batch, shard: int) -> None:
        began = time.perf_counter()
        checked, failure = check_example(config, batch, shard=shard, timeout=None)
        result.seconds += time.perf_counter() - began
        result.examples += 1
        digest.update(json.dumps(batch_to_json(batch), sort_keys=True).encode())
        for verdict in checked[-1][1] if checked else ():
            if verdict.property in NOTED and COMMITTED_ONLY in verdict.explanation:
                result.noted[verdict.property] += 1
                result.first_noted.setdefault(verdict.property, result.examples)
                result.note.setdefault(verdict.property, verdict.explanation)
        if failure is None:
            return
        result.failing += 1
        verdicts = checked[-1][1] if checked and failure.kind != HUNG else []
        violations = named(verdicts)
        for name in violations or (failure.kind,):
            result.counts[name] += 1
            if name not in result.first:
                result.first[name] = result.examples
                if name in violations:
                    result.shown[name] = Shown(batch, shard, failure, violations[name])

    try:
        for shard, count in shards(config, examples):
            hypothesis_run(config, config.strategy(shard), derive_seed(config.seed, shard),
                           count, lambda batch, s=shard: example(batch, s))
            result.wall = time.perf_counter() - started
            if progress is not None:
                progress(result)
    finally:
        close_executors()
    result.digest = digest.hexdigest()
    return result


def shows(config: CampaignConfig, batch: Batch, shard: int, anomaly: str, repeats: int
          ) -> Shown | None:
    """The first of up to ``repeats`` runs of ``batch`` that shows ``anomaly``, or None."""
    for _ in range(repeats):
        checked, failure = check_example(config, batch, shard=shard, timeout=None)
        if failure is not None and failure.kind != HUNG and checked:
            violation = named(checked[-1][1]).get(anomaly)
            if violation is not None:
                return Shown(batch, shard, failure, violation)
    return None


def search(config: CampaignConfig, anomaly: str, strategy: SearchStrategy[Batch], shard: int,
           seed_value: int, examples: int, deadline: float) -> Shown | None:
    """The smallest batch of ``strategy`` that showed ``anomaly`` (in one of
    :data:`~harness.campaign.shrink.SHRINK_REPEATS` runs) while Hypothesis drew up to
    ``examples`` and shrank the first, until ``deadline``."""
    smallest: list[Shown] = []

    def test(batch: Batch) -> None:
        if time.perf_counter() > deadline:
            return  # every further try passes, so the shrinker stops
        shown = shows(config, batch, shard, anomaly, SHRINK_REPEATS)
        if shown is None:
            return
        if not smallest or len(batch) <= len(smallest[-1].batch):
            smallest.append(shown)
        raise _Shown

    try:
        hypothesis_run(config, strategy, seed_value, examples, test, shrink=True)
    except (_Shown, HypothesisException):
        pass
    return smallest[-1] if smallest else None


def without(batch: Batch, tx_id: str) -> Batch:
    """``batch`` without transaction ``tx_id`` (and ``after`` references to it)."""
    return Batch(batch.accounts, tuple(
        replace(tx, after=tuple(a for a in tx.after if a != tx_id))
        for tx in batch.transactions if tx.id != tx_id), batch.mode)


def repeats_for(config: CampaignConfig, anomaly: str, shown: Shown) -> int:
    """Runs of a smaller batch before it counts as not showing ``anomaly``: enough to see it
    about three times at the rate ``shown``'s batch shows it in :data:`RATE_RUNS` runs
    (from :data:`DROP_REPEATS` to :data:`MAX_REPEATS`)."""
    hits = sum(shows(config, shown.batch, shown.shard, anomaly, 1) is not None
               for _ in range(RATE_RUNS))
    return min(MAX_REPEATS, max(DROP_REPEATS, -(-3 * RATE_RUNS // max(hits, 1))))


def drop_transactions(config: CampaignConfig, anomaly: str, shown: Shown, deadline: float
                      ) -> Shown:
    """Keep only the transactions the violation names, if the batch still shows ``anomaly``
    then, and remove single transactions while it does (each candidate is run up to
    :func:`repeats_for` times)."""
    repeats = repeats_for(config, anomaly, shown)
    involved = set(shown.violation.txns)
    if 1 < len(involved) < len(shown.batch):
        only = shown.batch
        for tx in shown.batch.transactions:
            if tx.id not in involved:
                only = without(only, tx.id)
        shown = shows(config, only, shown.shard, anomaly, repeats) or shown
    progress = True
    while progress and len(shown.batch) > 1 and time.perf_counter() < deadline:
        progress = False
        for tx in shown.batch.transactions:
            smaller = shows(config, without(shown.batch, tx.id), shown.shard, anomaly, repeats)
            if smaller is not None:
                shown, progress = smaller, True
                break
    return shown


def shrink(config: CampaignConfig, anomaly: str, found: Shown, seconds: float) -> Shown:
    """A small batch showing ``anomaly``, within ``seconds``: the shard that first showed it
    re-run with Hypothesis's shrinker (predicate: a run shows ``anomaly``), transactions
    removed (:func:`drop_transactions`), then batches with fewer transactions searched for
    (each shrunk); if Hypothesis shrank none of them, a last search keeps the size and
    simplifies."""
    deadline = time.perf_counter() + seconds
    shard = found.shard
    again = search(config, anomaly, config.strategy(shard), shard,
                   derive_seed(config.seed, shard), config.shard_size, deadline)
    simplified = again is not None and len(again.batch) <= len(found.batch)
    best = drop_transactions(config, anomaly, again if simplified else found, deadline)
    plain = shard + 1 if is_race_shard(shard) else shard
    attempt = 0
    while time.perf_counter() < deadline:
        size = len(best.batch) - 1 if len(best.batch) > 2 else len(best.batch)
        if size == len(best.batch) and simplified:
            break  # no anomaly between transactions needs fewer than two
        attempt += 1
        smaller = search(config, anomaly, config.strategy(plain, size), plain,
                         derive_seed(config.seed, plain) + attempt, SEARCH_EXAMPLES, deadline)
        if smaller is None:
            break
        best, simplified = drop_transactions(config, anomaly, smaller, deadline), True
    return best


def slug(text: str) -> str:
    """A file-name form of ``text``."""
    return "".join(c if c.isalnum() else "-" for c in text).strip("-")


def save(config: CampaignConfig, name: str, anomaly: str, shown: Shown, original: Shown,
         seconds: float, out: Path) -> Path:
    """Write ``shown`` as a counterexample ``aethel replay`` takes; its path."""
    doc = counterexample_doc(config, shown.shard, shown.failure, original.failure, seconds,
                             None)
    doc["anomaly"] = anomaly
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}-{slug(anomaly)}.json"
    path.write_text(json.dumps(doc, indent=1) + "\n")
    return path


def replay_command(path: Path, executor: str, repeat: int) -> list[str]:
    """``aethel replay`` of one saved counterexample."""
    return [sys.executable, "-m", "harness.cli", "replay", str(path), "--repeat", str(repeat),
            "--executor", executor]


RUNS = re.compile(r"(\d+) checked run")
"""How ``aethel replay`` says how many runs it made."""


def replay(shrunk: Shrunk, executor: str, processes: int, repeat: int, env: dict[str, str]
           ) -> None:
    """Replay ``shrunk`` with ``--repeat repeat`` in ``processes`` new processes (each runs
    until a violation shows); count those whose violation is of its class, those whose
    first run was, the runs, and per other outcome the rest."""
    for _ in range(processes):
        done = subprocess.run(replay_command(shrunk.path.resolve(), executor, repeat), cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=600,
                              check=False)
        runs = RUNS.search(done.stdout)
        shrunk.replays += 1
        shrunk.runs += int(runs.group(1)) if runs else 0
        if done.returncode == 1 and shrunk.anomaly in printed_classes(done.stdout):
            shrunk.reproduced += 1
            shrunk.first_run += runs is not None and runs.group(1) == "1"
        elif done.returncode in (0, 1):
            shrunk.other["no violation" if done.returncode == 0 else "another violation"] += 1
        else:
            shrunk.other[f"exit {done.returncode}: {done.stderr.strip()[-200:]}"] += 1


def column_of(anomaly: str) -> str | None:
    """The table column of ``anomaly``, or None for the others."""
    return next((column for column, name in COLUMNS if name == anomaly), None)


def cell(result: Survey, anomaly: str, shrunk: dict[str, Shrunk]) -> str:
    """One cell: found (first example, shrunk size) or not found in N examples."""
    if anomaly not in result.first:
        return f"not found in {result.examples:,}"
    size = f", {len(shrunk[anomaly].shown.batch)} tx" if anomaly in shrunk else ""
    text = (f"**found** (example {result.first[anomaly]:,}{size}; "
            f"{result.counts[anomaly]:,} of {result.examples:,})")
    if anomaly == G_SINGLE:
        skew = cell(result, READ_SKEW, shrunk).replace("**found**", "found")
        text += f"; without a lost update (read skew): {skew}"
    return text


def others(result: Survey) -> str:
    """The classes found outside the table's columns, with their first example."""
    found = [f"{name} ({result.first[name]:,}; {result.counts[name]:,})"
             for name in sorted(result.first, key=result.first.__getitem__)
             if column_of(name) is None and name != READ_SKEW]
    return ", ".join(found) or "none"


def differences(name: str, result: Survey) -> str:
    """How the classes found differ from the documented ones, in words."""
    found = {n for n in result.first if column_of(n) is not None}
    unexpected = sorted(found - EXPECTED[name], key=result.first.__getitem__)
    missing = sorted(EXPECTED[name] - found)
    parts = [f"{column_of(n)} found, not documented" for n in unexpected] + \
        [f"{column_of(n)} documented, not found" for n in missing]
    return "; ".join(parts) or "as documented"


def describe_batch(batch: Batch) -> list[str]:
    """The batch in a few lines: its balances, then one transaction a line."""
    data = batch_to_json(batch)
    lines = [f"initial: {', '.join(f'{a}={v}' for a, v in data['accounts'].items())} "
             f"({data['mode']})"]
    for tx in data["transactions"]:
        ops = "; ".join(f"{op['op']}(" + ", ".join(f"{k}={v}" for k, v in op.items()
                                                   if k != "op") + ")" for op in tx["ops"])
        extra = "".join(f", {k} {','.join(tx[k])}" for k in ("reads", "writes", "after")
                        if tx.get(k))
        lines.append(f"{tx['id']}: {ops}{extra}")
    return lines


def print_report(args: argparse.Namespace, surveys: dict[str, Survey],
                 shrunk: dict[str, dict[str, Shrunk]]) -> None:
    """The Markdown report."""
    config = campaign_config("", args.seed, args.workers)
    print(f"Seed {args.seed}, the {config.profile} profile at high contention "
          f"({config.shard_size} examples a shard, every {RACE_SHARDS}th a race shard), thread "
          f"backend with {args.workers} workers, `--order any`; each cell: the example that "
          "first showed the class, the size of its shrunk counterexample in transactions, "
          "and how many examples showed it.\n")
    print("| target | " + " | ".join(column for column, _ in COLUMNS) + " | other classes "
          "(first; examples) | vs documentation |")
    print("|---" * (len(COLUMNS) + 3) + "|")
    for name, result in surveys.items():
        cells = [cell(result, anomaly, shrunk[name]) for _, anomaly in COLUMNS]
        print(f"| {result.target} | " + " | ".join(cells) +
              f" | {others(result)} | {differences(name, result)} |")
    print("\n| target | examples | execute + check (s) | examples/s | wall (s) | "
          "examples failing | batches digest |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for result in surveys.values():
        print(f"| {result.target} | {result.examples:,} | {result.seconds:.1f} | "
              f"{result.throughput:.1f} | {result.wall:.1f} | {result.failing:,} | "
              f"{result.digest[:12]} |")
    print("\nTransactions that rolled back on their own, not held to the witness order (noted, "
          "not failed): examples whose verdict noted one (the first such example).\n")
    print("| target | reads (isolation) | outcomes (serial equivalence) |")
    print("|---|---:|---:|")
    for result in surveys.values():
        cells = [f"{result.noted[p]:,} ({result.first_noted[p]:,})" if p in result.noted
                 else "0" for p in NOTED]
        print(f"| {result.target} | " + " | ".join(cells) + " |")
    for result in surveys.values():
        for prop in NOTED:
            if prop in result.note:
                print(f"\n{result.target}, {prop}, example {result.first_noted[prop]:,}:\n\n"
                      f"> {result.note[prop]}")
    rows = [(name, s) for name, by_class in shrunk.items() for s in by_class.values()]
    if not rows:
        return
    print(f"\nReplays: {args.replays} new processes per counterexample, each `aethel replay "
          f"FILE --repeat {args.replay_repeat} --executor …` on "
          + ("a PostgreSQL server of its own" if DSN_ENV not in REPLAY_ENV else
             "the server `AETHEL_PG_DSN` names") +
          " (SQLite: a database of its own); a replay runs until a violation shows.\n")
    print("| counterexample | transactions (first failing batch) | shrinking (s) | "
          "first run shows the class | replays showing it | runs | other replays |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for _, s in rows:
        other = ", ".join(f"{n}: {k}" for n, k in s.other.items()) or "none"
        print(f"| `{s.path}` | {len(s.shown.batch)} ({s.original}) | {s.seconds:.0f} | "
              f"{s.first_run} of {s.replays} | {s.reproduced} of {s.replays} | {s.runs} | "
              f"{other} |")
    for name, s in rows:
        label, executor = TARGETS[name]
        print(f"\n**{label}, {column_of(s.anomaly) or s.anomaly}** (`{s.path.name}`; "
              f"`aethel replay {s.path} --executor {executor}`):\n\n```")
        print("\n".join(describe_batch(s.shown.batch)))
        print("\n".join(s.shown.violation.lines()))
        print("```")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--serializable-examples", type=int, default=10000)
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=WORKERS)
    parser.add_argument("--replays", type=int, default=20)
    parser.add_argument("--replay-repeat", type=int, default=10)
    parser.add_argument("--shrink-seconds", type=float, default=90.0)
    parser.add_argument("--out", type=Path, default=Path("reports/databases"))
    args = parser.parse_args()
    surveys: dict[str, Survey] = {}
    shrunk: dict[str, dict[str, Shrunk]] = {}
    for name in args.targets.split(","):
        label, executor = TARGETS[name]
        config = campaign_config(executor, args.seed, args.workers)
        examples = args.serializable_examples if name == "serializable" else args.examples
        surveys[name] = result = survey(config, examples, label, lambda r: print(
            f"{r.target}: {r.examples} examples, {r.throughput:.1f}/s, {dict(r.counts)}",
            file=sys.stderr, flush=True))
        shrunk[name] = {}
        for anomaly in (a for a in SHRUNK if a in result.shown):
            found = result.shown[anomaly]
            began = time.perf_counter()
            try:
                small = shrink(config, anomaly, found, args.shrink_seconds)
            finally:
                close_executors()
            seconds = time.perf_counter() - began
            path = save(config, name, anomaly, small, found, seconds, args.out)
            shrunk[name][anomaly] = done = Shrunk(anomaly, path, small, len(found.batch),
                                                  seconds)
            replay(done, executor, args.replays, args.replay_repeat, REPLAY_ENV)
            print(f"{label}: {anomaly} shrunk to {len(small.batch)} in {seconds:.0f} s, "
                  f"replayed {done.reproduced}/{done.replays}", file=sys.stderr, flush=True)
    print_report(args, surveys, shrunk)


if __name__ == "__main__":
    main()
