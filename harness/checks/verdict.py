"""Verdicts: what a checker concludes, in plain words and as data.

A :class:`Verdict` says whether one property holds. When it does not, ``counterexample``
is the first :class:`Violation` found and ``violations`` holds up to :data:`KEEP` of them
(``count`` is the total), each naming the transactions and accounts involved.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

EQUIVALENCE = "serial equivalence"
ORDER = "dependency order"
ISOLATION = "isolation"
SERIALIZABILITY = "strict serializability"
CONSERVATION = "conservation"
ATOMICITY = "atomicity"
VALUES = "linearizability (values)"
PROPERTIES = (EQUIVALENCE, ORDER, ISOLATION, SERIALIZABILITY, CONSERVATION, ATOMICITY, VALUES)

KEEP = 50
"""How many violations a verdict keeps (all are counted)."""

PASS, NOT_JUDGED, FAIL = "pass", "not judged", "fail"
"""A verdict's status, from the best to the worst (:attr:`Verdict.status`)."""
STATUSES = (PASS, NOT_JUDGED, FAIL)


class Edge(NamedTuple):
    """A dependency a violation rests on: ``source`` → ``target`` of ``kind`` (``ww``,
    ``wr``, ``rw`` or ``rt`` as in the serialization graph, ``order`` for a dependency of
    the batch), through ``account`` when one account carries it. In JSON it is the list
    ``[source, target, kind, account]``."""

    source: str
    target: str
    kind: str
    account: str | None = None


@dataclass(frozen=True)
class Violation:
    """One anomaly: its class (a name from :mod:`harness.checks.anomalies`, e.g.
    ``"G-single"``), one plain sentence, the transactions and accounts involved, optional
    further lines (e.g. cycle edges) and the edges it rests on, as data (a cycle's, or the
    dependency a transaction did not respect)."""

    anomaly: str
    message: str
    txns: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    details: tuple[str, ...] = ()
    edges: tuple[Edge, ...] = ()

    def lines(self) -> list[str]:
        """The violation as text: ``anomaly: message`` then the details, indented."""
        return [f"{self.anomaly}: {self.message}", *(f"  {d}" for d in self.details)]


@dataclass(frozen=True)
class Verdict:
    """Whether ``property`` holds, why (``explanation``) and, if not, a counterexample.

    ``witness`` is an equivalent serial order when the strict-serializability or the
    linearizability (values) checker found one, and the order serial equivalence ran the
    oracle in under ``--order any``. ``applicable`` is false when the input does not allow
    judging the property's main claim (e.g. a rollback without a final state): then ``ok`` is
    true and the explanation says what was not checked. When a smaller part cannot be
    judged, the explanation says so.
    """

    property: str
    ok: bool
    explanation: str
    counterexample: Violation | None = None
    violations: tuple[Violation, ...] = ()
    count: int = 0
    applicable: bool = True
    witness: tuple[str, ...] | None = None

    @property
    def status(self) -> str:
        """:data:`FAIL`, :data:`NOT_JUDGED` (nothing judged failed, but the main claim was
        not judged: never a pass) or :data:`PASS`."""
        return FAIL if not self.ok else PASS if self.applicable else NOT_JUDGED

    def anomalies(self) -> set[str]:
        """The anomaly classes among the kept violations."""
        return {v.anomaly for v in self.violations}

    def to_json(self) -> dict[str, Any]:
        """The verdict for the reports: its fields, the counterexample and its lines in
        words."""
        return {
            "property": self.property,
            "ok": self.ok,
            "applicable": self.applicable,
            "explanation": self.explanation,
            "count": self.count,
            "witness": list(self.witness) if self.witness is not None else None,
            "counterexample": asdict(self.counterexample) if self.counterexample else None,
            "lines": self.lines(),
        }

    def lines(self, limit: int = 10) -> list[str]:
        """The verdict in plain words: a status line, then up to ``limit`` violations."""
        status = "FAIL" if not self.ok else "PASS" if self.applicable else "N/A "
        out = [f"{status} {self.property}: {self.explanation}"]
        for violation in self.violations[:limit]:
            out.extend(f"     {line}" for line in violation.lines())
        if self.count > min(limit, len(self.violations)):
            out.append(f"     … and {self.count - min(limit, len(self.violations))} more")
        return out


def worst_verdicts(runs: Iterable[Iterable[Verdict]]) -> dict[str, Verdict]:
    """Per property, the verdict that stands for one example run several times (on several
    backends): the first that failed, else the first not judged, else the first pass."""
    worst: dict[str, Verdict] = {}
    rank = STATUSES.index
    for verdicts in runs:
        for verdict in verdicts:
            kept = worst.get(verdict.property)
            if kept is None or rank(verdict.status) > rank(kept.status):
                worst[verdict.property] = verdict
    return worst


def plural(n: int, noun: str) -> str:
    """``1 edge``, ``2 edges``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def duration(ns: int) -> str:
    """A span of nanoseconds in the unit that reads best: ``12.5 µs``, ``3.2 ms``,
    ``180.0 s``."""
    for unit, scale in (("s", 1e9), ("ms", 1e6)):
        if abs(ns) >= scale:
            return f"{ns / scale:.1f} {unit}"
    return f"{ns / 1e3:.1f} µs"


class Collector:
    """Gathers the violations of one property and turns them into a :class:`Verdict`."""

    def __init__(self, prop: str, keep: int = KEEP) -> None:
        self.prop = prop
        self.keep = keep
        self.kept: list[Violation] = []
        self.by_anomaly: Counter[str] = Counter()

    @property
    def count(self) -> int:
        """Violations recorded so far."""
        return sum(self.by_anomaly.values())

    def add(self, anomaly: str, message: str, txns: tuple[str, ...] = (),
            accounts: tuple[str, ...] = (), details: tuple[str, ...] = (),
            edges: tuple[Edge, ...] = ()) -> None:
        """Record one violation."""
        self.by_anomaly[anomaly] += 1
        if len(self.kept) < self.keep:
            self.kept.append(Violation(anomaly, message, txns, accounts, details, edges))

    def verdict(self, holds: str, witness: tuple[str, ...] | None = None,
                applicable: bool = True, note: str = "") -> Verdict:
        """The verdict: ``holds`` explains success (or what could not be judged, if not
        ``applicable``); a failure is summarised from the violations, followed by ``note``
        (what was not judged), if any."""
        if not self.by_anomaly:
            return Verdict(self.prop, True, holds, applicable=applicable, witness=witness)
        count = self.count
        kinds = ", ".join(f"{n} {kind}" for kind, n in self.by_anomaly.most_common())
        first = self.kept[0]
        return Verdict(self.prop, False, f"{plural(count, 'violation')} ({kinds}); first: "
                       f"{first.message}{f'; {note}' if note else ''}",
                       first, tuple(self.kept), count)
