"""Trace checkers: independent judges of one execution of a batch.

Each checker is a pure function of :class:`Facts` (the batch and the observed execution,
indexed once) and, for serial equivalence and atomicity, of the serial oracle's result. It
returns a :class:`Verdict` in plain words, with a counterexample naming transactions and
accounts when the property does not hold.

>>> facts = analyse(batch, Observed.from_result(result))        # doctest: +SKIP
>>> for verdict in check_all(facts):                              # doctest: +SKIP
...     print("\\n".join(verdict.lines()))
"""

from __future__ import annotations

from harness.checks.atomicity import check_atomicity
from harness.checks.conservation import check_conservation
from harness.checks.equivalence import check_equivalence
from harness.checks.facts import Facts, Observed, analyse, load_result, paused_gc
from harness.checks.isolation import check_isolation
from harness.checks.oracle import OracleResult, serial_oracle
from harness.checks.order import check_order
from harness.checks.serializability import check_serializability
from harness.checks.verdict import (
    ATOMICITY,
    CONSERVATION,
    EQUIVALENCE,
    ISOLATION,
    ORDER,
    PROPERTIES,
    SERIALIZABILITY,
    Verdict,
    Violation,
)

__all__ = [
    "ATOMICITY", "CONSERVATION", "EQUIVALENCE", "ISOLATION", "ORDER", "PROPERTIES",
    "SERIALIZABILITY", "Facts", "Observed", "OracleResult", "Verdict", "Violation", "analyse",
    "check_all", "check_atomicity", "check_conservation", "check_equivalence",
    "check_isolation", "check_order", "check_serializability", "load_result", "serial_oracle",
]


def check_all(facts: Facts, oracle: OracleResult | None = None) -> list[Verdict]:
    """Every checker, in the order of :data:`PROPERTIES` (the oracle is run if not given)."""
    with paused_gc():
        oracle = oracle if oracle is not None else serial_oracle(facts.batch)
        return [
            check_equivalence(facts, oracle),
            check_order(facts),
            check_isolation(facts),
            check_serializability(facts),
            check_conservation(facts),
            check_atomicity(facts, oracle),
        ]
