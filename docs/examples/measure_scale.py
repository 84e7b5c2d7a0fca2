"""Time and memory of analysis, execution and checking from 10^3 to 10^6 transactions.

    python docs/examples/measure_scale.py [--sizes 1000 10000 100000 1000000]
        [--stages analysis serial process check] [--workers 2] [--json FILE]

Each stage at each size runs in a fresh subprocess, one at a time, on the throughput
workload of :mod:`harness.bench.throughput` (transfers, deposits, withdrawals and reads) over
size/10 accounts. The subprocess builds the batch, then times its stage: wall time, its own
CPU time (for the process backend: the coordinator's; the workers', start-up included, is
shown apart), and its peak RSS (``resource.getrusage(RUSAGE_SELF).ru_maxrss``: the batch is
included; the table also shows the peak above the RSS before the stage began).

* analysis: :func:`aethel.analysis.dependency_dag`, its generations and critical path;
* serial, process: ``ParallelExecutor(backend).execute(batch)`` (the pool is started by a
  one-transaction run first); the events are counted, not built (``Event`` objects are
  built only when ``execution_trace`` is first read); the serial stage also saves the run
  for the check stage, as the checkers receive an engine result: its recorded columns;
* check: indexing the saved trace, the serial oracle and every checker (``check_all``);
  RSS includes the loaded trace. A trace read from a file, a list of events, takes the
  checkers' general path (``harness.bench.throughput --events`` measures it).

The table gives each stage's growth exponent: the slope of a least-squares line through
(log n, log CPU time) and through (log n, log of the peak RSS above the interpreter's own),
over all sizes and over the last two (1 is linear; n log n shows as slightly above 1).
"""

from __future__ import annotations

import argparse
import json
import math
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

STAGES = ("analysis", "serial", "process", "check")


def _rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def run_stage(stage: str, n: int, workers: int, saved: Path) -> dict[str, Any]:
    """Measure one stage at size ``n`` in this process (the child side)."""
    from aethel.analysis import critical_path, dependency_dag, independent_sets
    from aethel.executor import ParallelExecutor
    from aethel.memory import paused_gc
    from harness.bench.throughput import workload
    from harness.checks import Observed, check_all, derive_facts, serial_oracle

    base = _rss_mb()
    batch = workload(n, max(10, n // 10), 1)
    observed = None
    if stage == "check":
        with saved.open("rb") as fh, paused_gc():
            observed = pickle.load(fh)
    executor = None
    if stage in ("serial", "process"):
        executor = ParallelExecutor(stage, 1 if stage == "serial" else workers)
        executor.execute(workload(1, 2, 1))
    before = _rss_mb()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall, cpu = time.perf_counter(), time.process_time()
    detail = ""
    if stage == "analysis":
        dag = dependency_dag(batch)
        levels = independent_sets(dag)
        path, _ = critical_path(dag)
        detail = f"{dag.number_of_edges()} edges, {len(levels)} levels"
    elif stage in ("serial", "process"):
        assert executor is not None
        result = executor.execute(batch)
        detail = f"{len(result.recorder)} events"
    else:
        assert observed is not None
        facts = derive_facts(batch, observed)
        verdicts = check_all(facts, serial_oracle(batch))
        failed = [v.property for v in verdicts if not v.ok]
        detail = f"violated: {', '.join(failed)}" if failed else "all hold"
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    peak = _rss_mb()
    if executor is not None:
        if stage == "serial":
            with saved.open("wb") as fh:
                pickle.dump(Observed.from_result(result), fh)
        executor.close()  # the workers' CPU time counts once they have exited
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    workers_cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    return {"stage": stage, "n": n, "wall_s": wall, "cpu_s": cpu, "workers_cpu_s": workers_cpu,
            "base_mb": base, "before_mb": before, "peak_mb": peak, "detail": detail}


def slope(points: list[tuple[float, float]]) -> float:
    """The least-squares slope of log y against log x."""
    xs = [math.log(x) for x, _ in points]
    ys = [math.log(y) for _, y in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0


def table(rows: list[dict[str, Any]]) -> list[str]:
    """The scale table in Markdown, with each stage's fitted exponents."""
    lines = ["| stage | n | wall s | CPU s | workers' CPU s | peak RSS MB | above the "
             "interpreter MB | above the batch (and trace) MB | |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['stage']} | {r['n']:,} | {r['wall_s']:.3f} | {r['cpu_s']:.3f} | "
                     f"{r['workers_cpu_s']:.2f} | {r['peak_mb']:.0f} | "
                     f"{r['peak_mb'] - r['base_mb']:.0f} | {r['peak_mb'] - r['before_mb']:.0f} | "
                     f"{r['detail']} |")
    lines += ["", "| stage | CPU time exponent (all sizes / last two) | memory exponent "
              "(all sizes / last two) |", "|---|---|---|"]
    for stage in dict.fromkeys(r["stage"] for r in rows):
        mine = [r for r in rows if r["stage"] == stage]
        if len(mine) < 2:
            continue
        cpu = [(r["n"], r["cpu_s"]) for r in mine]
        mem = [(r["n"], max(1.0, r["peak_mb"] - r["base_mb"])) for r in mine]
        lines.append(f"| {stage} | {slope(cpu):.2f} / {slope(cpu[-2:]):.2f} | "
                     f"{slope(mem):.2f} / {slope(mem[-2:]):.2f} |")
    return lines


def main() -> None:
    """Run every stage at every size, each in its own subprocess, and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10**3, 10**4, 10**5, 10**6])
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    parser.add_argument("--one", nargs=3, metavar=("STAGE", "N", "SAVED"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        stage, n, saved = args.one
        print(json.dumps(run_stage(stage, int(n), args.workers, Path(saved))))
        return
    stages = list(args.stages)
    if "check" in stages and "serial" not in stages:
        stages.insert(stages.index("check"), "serial")  # the check stage reads its trace
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sorted(args.sizes):
            saved = Path(tmp) / f"run{n}.pickle"
            for stage in stages:
                done = subprocess.run([sys.executable, __file__, "--workers", str(args.workers),
                                       "--one", stage, str(n), str(saved)],
                                      capture_output=True, text=True, check=False)
                if done.returncode:
                    sys.exit(f"{stage} at {n} transactions failed: "
                             f"{done.stderr.strip().splitlines()[-1:]}")
                rows.append(json.loads(done.stdout.splitlines()[-1]))
                r = rows[-1]
                print(f"{stage} {n}: wall {r['wall_s']:.2f} s, CPU {r['cpu_s']:.2f} s, peak RSS "
                      f"{r['peak_mb']:.0f} MB", file=sys.stderr, flush=True)
    rows.sort(key=lambda r: (STAGES.index(r["stage"]), r["n"]))
    print("\n".join(table(rows)))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
