"""Named, documented, seeded benchmark workloads.

Each :class:`Workload` builds a :class:`~aethel.model.Batch` from a transaction count and
a seed; the same name, count and seed always give the same batch. Costs come from the
cost-only operations: ``Spin(us=...)`` burns pure-Python CPU under the GIL, ``Hash``
runs sha256 (which releases the GIL) and ``Sleep`` waits. Every transaction also moves
money, so the executor installs real writes.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from aethel.model import Batch, Transaction
from aethel.operations import Deposit, Hash, Sleep, Spin, Transfer

BALANCE = 10**12
"""Initial balance of every account: large enough that no transfer ever fails."""


@dataclass(frozen=True)
class Workload:
    """A named batch generator.

    ``size`` and ``quick_size`` are the transaction counts of the full and ``--quick``
    runs. ``max_workers`` (if set) lets waiting workloads use more workers than cores.
    """

    name: str
    kind: str
    description: str
    build: Callable[[int, random.Random], Batch]
    size: int
    quick_size: int
    max_workers: int | None = None

    def batch(self, seed: int, quick: bool = False, size: int | None = None) -> Batch:
        """The batch for ``seed`` (``size`` transactions, else the full or quick size)."""
        n = size if size is not None else (self.quick_size if quick else self.size)
        return self.build(n, random.Random(f"{self.name}:{seed}"))


def _jitter(rng: random.Random, value: float, spread: float = 0.2) -> int:
    """``value`` ± ``spread`` (relative), uniformly, as a positive integer."""
    return max(1, round(value * rng.uniform(1 - spread, 1 + spread)))


def independent(work: Callable[[random.Random], object]) -> Callable[[int, random.Random], Batch]:
    """``n`` transactions, each a deposit to its own account plus one cost operation."""

    def build(n: int, rng: random.Random) -> Batch:
        accounts = {f"a{i}": BALANCE for i in range(n)}
        txs = [Transaction(f"t{i}", (Deposit(f"a{i}", rng.randint(1, 100)), work(rng)))
               for i in range(n)]
        return Batch(accounts, txs)

    return build


def transfers(hot: int, hot_share: float, spin_us: int
              ) -> Callable[[int, random.Random], Batch]:
    """Random transfers among ``4n`` cold accounts plus ``hot`` hot accounts.

    With probability ``hot_share`` a transfer's source is a hot account, and with the same
    probability its destination is one too; each transfer also spins ``spin_us`` ± 20 %.
    """

    def build(n: int, rng: random.Random) -> Batch:
        cold = [f"c{i}" for i in range(4 * n)]
        hots = [f"h{i}" for i in range(hot)]
        accounts = {a: BALANCE for a in cold + hots}
        txs = []
        for i in range(n):
            src = rng.choice(hots) if hots and rng.random() < hot_share else rng.choice(cold)
            dst = src
            while dst == src:
                dst = rng.choice(hots) if hots and rng.random() < hot_share else rng.choice(cold)
            txs.append(Transaction(f"t{i}", (Transfer(src, dst, rng.randint(1, 100)),
                                             Spin(us=_jitter(rng, spin_us)))))
        return Batch(accounts, txs)

    return build


def chains(count: int, spin_us: int) -> Callable[[int, random.Random], Batch]:
    """``count`` equal chains (each a run of deposits to its own account), interleaved in
    batch order; every transaction spins ``spin_us`` ± 20 %."""

    def build(n: int, rng: random.Random) -> Batch:
        accounts = {f"k{c}": BALANCE for c in range(count)}
        txs = [Transaction(f"t{i}", (Deposit(f"k{i % count}", 1), Spin(us=_jitter(rng, spin_us))))
               for i in range(n)]
        return Batch(accounts, txs)

    return build


def skewed(spin_us: int) -> Callable[[int, random.Random], Batch]:
    """A DAG where level barriers waste time.

    Half the transactions form one long chain of light transactions (``spin_us``); a short
    chain of heavy ones (one per ten light links, each 10 × ``spin_us``) carries as much
    work; the rest are independent light transactions. The level schedule waits at every
    level for a heavy link while the light chain could advance; dataflow runs both chains
    side by side.
    """

    def build(n: int, rng: random.Random) -> Batch:
        light = max(1, n // 2)
        heavy = max(1, light // 10)
        loose = max(0, n - light - heavy)
        accounts = {"light": BALANCE, "heavy": BALANCE, **{f"a{i}": BALANCE for i in range(loose)}}
        txs = []
        counts = {"h": 0, "l": 0, "a": 0}
        for step in range(light):
            if step % 10 == 0 and counts["h"] < heavy:
                txs.append(Transaction(f"h{counts['h']}", (
                    Deposit("heavy", 1), Spin(us=_jitter(rng, 10 * spin_us, 0.05)))))
                counts["h"] += 1
            txs.append(Transaction(f"l{step}", (Deposit("light", 1),
                                                Spin(us=_jitter(rng, spin_us, 0.05)))))
            while counts["a"] < loose * (step + 1) // light:
                a = counts["a"]
                txs.append(Transaction(f"a{a}", (Deposit(f"a{a}", 1),
                                                 Spin(us=_jitter(rng, spin_us, 0.05)))))
                counts["a"] += 1
        return Batch(accounts, txs)

    return build


WORKLOADS: dict[str, Workload] = {w.name: w for w in (
    Workload("cpu-0.1ms", "cpu", "Independent transactions, each ~0.1 ms of pure-Python CPU "
             "(Spin, holds the GIL).",
             independent(lambda rng: Spin(us=_jitter(rng, 100))), 4000, 400),
    Workload("cpu-1ms", "cpu", "Independent transactions, each ~1 ms of pure-Python CPU.",
             independent(lambda rng: Spin(us=_jitter(rng, 1000))), 1000, 100),
    Workload("cpu-10ms", "cpu", "Independent transactions, each ~10 ms of pure-Python CPU.",
             independent(lambda rng: Spin(us=_jitter(rng, 10_000))), 100, 10),
    Workload("hash", "gil-release", "Independent transactions, each sha256 over ~2 MiB "
             "(~1 ms here); hashlib releases the GIL.",
             independent(lambda rng: Hash(_jitter(rng, 2 << 20))), 1000, 100),
    Workload("sleep", "wait", "100 independent transactions that each sleep 20 ms "
             "(waiting, no CPU); up to 8 workers.",
             independent(lambda rng: Sleep(20)), 100, 8, max_workers=8),
    Workload("contention-low", "contention", "Random transfers among 4n accounts, each "
             "~0.2 ms of CPU: few conflicts, a wide DAG.",
             transfers(hot=0, hot_share=0.0, spin_us=200), 2000, 200),
    Workload("contention-high", "contention", "Transfers where source and destination are "
             "each one of 4 hot accounts with probability 0.8, ~0.2 ms of CPU each: long "
             "conflict chains (critical-path bound ~1.5).",
             transfers(hot=4, hot_share=0.8, spin_us=200), 1000, 100),
    Workload("dag-independent", "dag", "No dependencies at all: n deposits to distinct "
             "accounts, ~0.5 ms of CPU each.",
             independent(lambda rng: Spin(us=_jitter(rng, 500))), 1000, 100),
    Workload("dag-chains", "dag", "8 interleaved chains of equal length, ~0.5 ms of CPU per "
             "transaction.", chains(8, 500), 800, 80),
    Workload("dag-skewed", "dag", "A long chain of light (~0.5 ms) transactions beside a "
             "short chain of heavy (~5 ms) ones of equal total work, plus independent light "
             "transactions: level barriers waste time.", skewed(500), 1000, 100),
)}
"""Every workload, by name, in report order."""
