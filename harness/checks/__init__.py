"""Trace checkers: independent judges of one execution of a batch.

Each checker is a pure function of :class:`Facts` (the batch and the observed execution,
indexed once) and, for serial equivalence and atomicity, of the serial oracle's result. It
returns a :class:`Verdict` in plain words, with a counterexample naming transactions and
accounts when the property does not hold. The anomalies the checkers name are catalogued in
:mod:`harness.checks.anomalies`.

>>> facts = derive_facts(batch, Observed.from_result(result))   # doctest: +SKIP
>>> for verdict in check_all(facts):                              # doctest: +SKIP
...     print("\\n".join(verdict.lines()))
"""

from __future__ import annotations

from aethel.memory import paused_gc
from harness.checks.atomicity import check_atomicity
from harness.checks.conservation import check_conservation
from harness.checks.equivalence import check_equivalence
from harness.checks.facts import (
    ExecutionRecord,
    Facts,
    Observed,
    derive_facts,
)
from harness.checks.isolation import check_isolation
from harness.checks.oracle import OracleResult, serial_oracle
from harness.checks.order import check_order
from harness.checks.orders import ANY, BATCH, ORDERS, check_in_any_order
from harness.checks.serializability import check_serializability
from harness.checks.values import check_values
from harness.checks.verdict import (
    ATOMICITY,
    CONSERVATION,
    EQUIVALENCE,
    ISOLATION,
    ORDER,
    PROPERTIES,
    SERIALIZABILITY,
    VALUES,
    Verdict,
    Violation,
)

__all__ = [
    "ANY", "ATOMICITY", "BATCH", "CONSERVATION", "EQUIVALENCE", "ISOLATION", "ORDER",
    "ORDERS", "PROPERTIES", "SERIALIZABILITY", "VALUES", "ExecutionRecord", "Facts",
    "Observed", "OracleResult", "Verdict", "Violation", "check_all", "check_atomicity",
    "check_conservation", "check_equivalence", "check_isolation", "check_order",
    "check_serializability", "check_values", "derive_facts", "serial_oracle",
]


def check_all(facts: Facts, oracle: OracleResult | None = None, order: str = BATCH
              ) -> list[Verdict]:
    """Every checker, in the order of :data:`PROPERTIES` (the oracle, in serial order, is
    run if not given). ``order`` is ``"batch"`` (judge against serial order) or ``"any"``
    (judge against a witness serial order: :mod:`harness.checks.orders`)."""
    if order not in ORDERS:
        raise ValueError(f"order must be one of {', '.join(ORDERS)}, got {order!r}")
    with paused_gc():
        oracle = oracle if oracle is not None else serial_oracle(facts.batch)
        if order == ANY:
            return check_in_any_order(facts, oracle)
        return [
            check_equivalence(facts, oracle),
            check_order(facts),
            check_isolation(facts),
            check_serializability(facts),
            check_conservation(facts),
            check_atomicity(facts, oracle),
            check_values(facts),
        ]
