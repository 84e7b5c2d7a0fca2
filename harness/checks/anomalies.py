"""The anomalies the checkers report: one catalogue of names, and the cycle specs as data.

Each :class:`Anomaly` is the class of a :class:`~harness.checks.verdict.Violation`: its name
(what verdicts show), the property whose checker reports it, its class in Adya's terms
where one applies, and one line saying what it is. The checkers name anomalies only
through the constants below.

Cycles in the serialization graph are named by :data:`CYCLE_SPECS`, as Elle's cycle anomaly
specs: which edge kinds a cycle may use (and which kind exactly one of its edges has) for
each anomaly. A cycle is named by the first spec its edges satisfy (:func:`cycle_anomaly`),
so that each cycle has one name; strict serializability reports the shortest cycle of each
class it finds.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.checks.verdict import (
    ATOMICITY,
    CONSERVATION,
    EQUIVALENCE,
    ISOLATION,
    ORDER,
    SERIALIZABILITY,
    VALUES,
)

FINAL_BALANCE = "final balance"
OUTCOME = "outcome"
REPORTED_OUTCOME = "reported outcome"
EARLY_START = "order"
CLOCK = "clock problem"
INTEGRITY = "trace integrity"
TRACE_INCONSISTENCY = "trace inconsistency"
UNDECLARED = "undeclared access"
DIRTY = "dirty read"
STALE = "stale read"
FUTURE = "read from the future"
WRONG_VALUE = "wrong value"
LOST_UPDATE = "lost update"
WRITE_ORDER = "write order"
G0 = "G0"
G1C = "G1c"
G_SINGLE = "G-single"
G2 = "G2"
G0_REALTIME = "G0-realtime"
G1C_REALTIME = "G1c-realtime"
G_SINGLE_REALTIME = "G-single-realtime"
G2_REALTIME = "G2-realtime"
NEGATIVE = "negative balance"
CREATED = "money created or destroyed"
ABORTED_WRITE = "aborted write"
PARTIAL_ROLLBACK = "partial rollback"
KEPT_WRITE = "write kept after a stop"
NON_LINEARIZABLE = "non-linearizable read"


@dataclass(frozen=True)
class Anomaly:
    """One anomaly class: its name, the property it violates, its Adya class (``None`` if
    none applies) and what it is."""

    name: str
    property: str
    adya: str | None
    description: str


ANOMALIES: tuple[Anomaly, ...] = (
    Anomaly(FINAL_BALANCE, EQUIVALENCE, None,
            "a final balance other than serial execution's"),
    Anomaly(OUTCOME, EQUIVALENCE, None,
            "a transaction the trace shows ending otherwise than serial execution has it"),
    Anomaly(REPORTED_OUTCOME, EQUIVALENCE, None,
            "an outcome the executor reported otherwise than serial execution has it"),
    Anomaly(EARLY_START, ORDER, None,
            "a transaction started before a transaction it depends on ended"),
    Anomaly(CLOCK, ISOLATION, None,
            "timestamps that are not on one clock, so time order means nothing"),
    Anomaly(INTEGRITY, ISOLATION, None,
            "a malformed trace: unknown transactions, missing or repeated events, time "
            "going back, versions on only some READ and WRITE events"),
    Anomaly(TRACE_INCONSISTENCY, ISOLATION, None,
            "a READ recording another version than the one whose value it read"),
    Anomaly(UNDECLARED, ISOLATION, None,
            "a READ or WRITE outside the transaction's declared accounts"),
    Anomaly(DIRTY, ISOLATION, "G1a",
            "a read of a version whose writer aborted, never installed it or had not "
            "committed"),
    Anomaly(STALE, ISOLATION, None,
            "a read of a version older than the last preceding committed writer's"),
    Anomaly(FUTURE, ISOLATION, None,
            "a read of a version whose writer does not precede the reader in serial order"),
    Anomaly(WRONG_VALUE, ISOLATION, None,
            "a read of a value its version was not installed with"),
    Anomaly(LOST_UPDATE, ISOLATION, "G-cursor",
            "an install over another version than the one its transaction read or the last "
            "install left"),
    Anomaly(WRITE_ORDER, ISOLATION, None,
            "installs of one account not in serial order"),
    Anomaly(G0, SERIALIZABILITY, "G0",
            "a write cycle: the transactions overwrote each other's versions in a circle"),
    Anomaly(G1C, SERIALIZABILITY, "G1c",
            "circular information flow: each transaction saw another's write, in a circle"),
    Anomaly(G_SINGLE, SERIALIZABILITY, "G-single",
            "a cycle with exactly one anti-dependency (read skew; lost update)"),
    Anomaly(G2, SERIALIZABILITY, "G2-item",
            "a cycle of anti-dependencies (write skew)"),
    Anomaly(G0_REALTIME, SERIALIZABILITY, None,
            "a cycle of ww and real-time edges: serializable, but not strictly"),
    Anomaly(G1C_REALTIME, SERIALIZABILITY, None,
            "a cycle of ww, wr and real-time edges: serializable, but not strictly"),
    Anomaly(G_SINGLE_REALTIME, SERIALIZABILITY, None,
            "a cycle with one anti-dependency that needs real-time order: serializable, "
            "but not strictly"),
    Anomaly(G2_REALTIME, SERIALIZABILITY, None,
            "a cycle of anti-dependencies that needs real-time order: serializable, but "
            "not strictly"),
    Anomaly(NEGATIVE, CONSERVATION, None,
            "a balance below zero, initially, read, installed or at the end"),
    Anomaly(CREATED, CONSERVATION, None,
            "a sum of balances other than deposits minus withdrawals allow"),
    Anomaly(ABORTED_WRITE, ATOMICITY, None,
            "an install by a transaction that aborted"),
    Anomaly(PARTIAL_ROLLBACK, ATOMICITY, None,
            "a balance other than the initial one after a failed atomic batch"),
    Anomaly(KEPT_WRITE, ATOMICITY, None,
            "a stopped batch's final balances keeping writes it may not keep"),
    Anomaly(NON_LINEARIZABLE, VALUES, None,
            "a read no order of the transactions consistent with real time explains by "
            "the values alone"),
)

CATALOGUE: dict[str, Anomaly] = {a.name: a for a in ANOMALIES}
"""Every anomaly, by name."""

WW, WR, RW, RT = 1, 2, 4, 8
"""Edge kinds of the serialization graph, as bits: write-write, write-read, read-write (an
anti-dependency) and real-time order."""
EDGE_KINDS = {WW: "ww", WR: "wr", RW: "rw", RT: "rt"}
DATA = WW | WR | RW
DEPENDENCY = "order"
"""The kind of a violation's edge (:class:`~harness.checks.verdict.Edge`) that is a
dependency of the batch (u must end before v starts), besides those of :data:`EDGE_KINDS`."""


@dataclass(frozen=True)
class CycleSpec:
    """A cycle ``anomaly``: its edges' kinds are among ``kinds``, and exactly one edge has
    kind ``single`` (if set). ``shape`` is the data-only cycle anomaly whose description
    explains it in words (itself, for a data-only cycle)."""

    anomaly: str
    shape: str
    kinds: int
    single: int = 0

    @property
    def allowed(self) -> int:
        """Every edge kind the cycle may use."""
        return self.kinds | self.single

    @property
    def realtime(self) -> bool:
        """Whether the cycle may need real-time order."""
        return bool(self.kinds & RT)

    def admits(self, kinds: list[int]) -> bool:
        """Whether a cycle whose edges have ``kinds`` (one per edge) is of this spec."""
        return all(k & self.allowed for k in kinds) and (
            not self.single or kinds.count(self.single) == 1)


CYCLE_SPECS: tuple[CycleSpec, ...] = (
    CycleSpec(G0, G0, WW),
    CycleSpec(G1C, G1C, WW | WR),
    CycleSpec(G_SINGLE, G_SINGLE, WW | WR, single=RW),
    CycleSpec(G2, G2, DATA),
    CycleSpec(G0_REALTIME, G0, WW | RT),
    CycleSpec(G1C_REALTIME, G1C, WW | WR | RT),
    CycleSpec(G_SINGLE_REALTIME, G_SINGLE, WW | WR | RT, single=RW),
    CycleSpec(G2_REALTIME, G2, DATA | RT),
)
"""The cycle anomalies, the most specific first: a cycle of a later one satisfies no earlier one
(a ``G2`` has two or more rw edges, a real-time one an edge that is real-time order only)."""


def cycle_anomaly(kinds: list[int]) -> CycleSpec:
    """The first spec of :data:`CYCLE_SPECS` that a cycle whose edges have ``kinds`` (one
    per edge) satisfies."""
    return next(spec for spec in CYCLE_SPECS if spec.admits(kinds))
