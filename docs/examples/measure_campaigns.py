"""Campaign throughput: a local pool with 1 and 2 jobs and a Dask LocalCluster of 2
workers, interleaved in one run, plus the cluster's fixed start-up cost.

    python docs/examples/measure_campaigns.py [--examples 600] [--repeat 3] [--no-cluster]

Every configuration runs the same campaign (same seed, so the same batches: the script
checks their fingerprints agree) on the engine's thread and process backends.
"""

from __future__ import annotations

import argparse
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from harness.campaign import CampaignConfig, run_campaign
from harness.campaign.cluster import open_cluster


def local(config: CampaignConfig) -> tuple[float, str, float]:
    started = time.perf_counter()
    with ProcessPoolExecutor(config.jobs, mp_context=get_context("spawn")) as pool:
        result = run_campaign(config, pool)
    return result.throughput, result.digest, time.perf_counter() - started


def cluster(config: CampaignConfig) -> tuple[float, str, float, float]:
    started = time.perf_counter()
    with open_cluster(f"local:{config.jobs}") as (executor, info):
        result = run_campaign(config, executor)
    return result.throughput, result.digest, time.perf_counter() - started, \
        info.startup_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=600)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-cluster", action="store_true")
    args = parser.parse_args()
    configs = {f"local pool, {j} job{'s' * (j > 1)}":
               CampaignConfig(examples=args.examples, jobs=j, profile="ci") for j in (1, 2)}
    rates: dict[str, list[float]] = {name: [] for name in configs}
    walls: dict[str, list[float]] = {name: [] for name in configs}
    digests = set()
    startups: list[float] = []
    if not args.no_cluster:
        rates["dask local:2"], walls["dask local:2"] = [], []
    for _ in range(args.repeat):
        for name, config in configs.items():
            rate, digest, wall = local(config)
            rates[name].append(rate)
            walls[name].append(wall)
            digests.add(digest)
        if not args.no_cluster:
            rate, digest, wall, startup = cluster(configs["local pool, 2 jobs"])
            rates["dask local:2"].append(rate)
            walls["dask local:2"].append(wall)
            digests.add(digest)
            startups.append(startup)
    print(f"{args.examples} examples (ci profile, thread + process backends), "
          f"{args.repeat} interleaved repetitions; medians:")
    for name in rates:
        print(f"  {name:22s} {statistics.median(rates[name]):7.1f} examples/s in the campaign, "
              f"{statistics.median(walls[name]):6.2f} s wall including start-up "
              f"(runs: {[round(r, 1) for r in rates[name]]})")
    if startups:
        print(f"  dask LocalCluster start-up: {statistics.median(startups):.2f} s "
              f"(runs: {[round(s, 2) for s in startups]})")
    print(f"same batches everywhere: {len(digests) == 1}")


if __name__ == "__main__":
    main()
