"""Time of ``harness.history.check`` on histories recorded from real concurrent objects.

    python docs/examples/measure_history.py [HISTORIES]   # default: 10 of each shape
    python docs/examples/measure_history.py --logs etcd_*.log   # Jepsen's etcd logs

Each shape is measured in a fresh process (so its peak RSS is its own), one core, jobs=1:
every history is checked three times and its median kept; the table gives the median and
the slowest history, the largest search (steps, cache entries) and the peak RSS. Times are
CPU time of the checking process (one core's work, whatever else the machine runs).
``--logs`` checks Jepsen etcd logs (as in Porcupine's test data) against the cas-register
model with ``--fail assert``, the way Porcupine's etcd model reads them.
"""

from __future__ import annotations

import random
import resource
import statistics
import subprocess
import sys
import time

from harness.history import check, make_model, read_history
from harness.history.bench import cas_register, key_value, perturb, record

SHAPES = {
    "etcd-like: 5 clients, 80 ops, cas-register, 5% crashed": (
        "cas-register", lambda seed: record(5, 80, cas_register(), seed, crash=0.05)),
    "5 clients, 400 ops, cas-register, 5% crashed": (
        "cas-register", lambda seed: record(5, 400, cas_register(), seed, crash=0.05)),
    "kv: 50 clients, 1700 ops, 10 keys": (
        "kv", lambda seed: record(50, 1700, key_value(10), seed)),
    "kv: the same with one get perturbed (violation)": (
        "kv", lambda seed: perturb(record(50, 1700, key_value(10), seed),
                                   random.Random(seed), "never")),
}


def measure(shape: str, histories: int) -> str:
    name, make = SHAPES[shape]
    times, steps, entries, outcomes = [], [], [], set()
    for seed in range(histories):
        events = make(seed)
        runs = []
        for _ in range(3):
            started = time.process_time()
            result = check(events, make_model(name), timeout=120, jobs=1)
            runs.append(time.process_time() - started)
        times.append(statistics.median(runs))
        steps.append(result.steps)
        entries.append(result.cache_entries)
        outcomes.add(result.outcome)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return (f"| {shape} | {histories} | {statistics.median(times) * 1000:.2f} ms | "
            f"{max(times) * 1000:.1f} ms | {max(steps)} | {max(entries)} | {rss:.0f} MiB | "
            f"{', '.join(sorted(outcomes))} |")


def measure_logs(paths: list[str]) -> str:
    """The median and slowest CPU time over Jepsen etcd logs, with the largest search."""
    times, steps, verdicts = {}, [], []
    for path in paths:
        events = read_history(path)
        runs = []
        for _ in range(3):
            started = time.process_time()
            result = check(events, make_model("cas-register"), "assert", timeout=120, jobs=1)
            runs.append(time.process_time() - started)
        times[path] = statistics.median(runs)
        steps.append(result.steps)
        verdicts.append(result.outcome)
    slowest = max(times, key=times.__getitem__)
    return (f"{len(paths)} logs ({verdicts.count('linearizable')} linearizable): median "
            f"{statistics.median(times.values()) * 1000:.2f} ms, slowest {slowest} "
            f"{times[slowest] * 1000:.0f} ms, max steps {max(steps)}")


def main() -> None:
    if sys.argv[1:2] == ["--shape"]:
        print(measure(sys.argv[2], int(sys.argv[3])), flush=True)
        return
    if sys.argv[1:2] == ["--logs"]:
        print(measure_logs(sys.argv[2:]))
        return
    histories = sys.argv[1] if len(sys.argv) > 1 else "10"
    print("| shape | histories | median | slowest | max steps | max cache entries | "
          "peak RSS | outcome |")
    print("|---|---|---|---|---|---|---|---|")
    for shape in SHAPES:
        subprocess.run([sys.executable, __file__, "--shape", shape, histories], check=True)


if __name__ == "__main__":
    main()
