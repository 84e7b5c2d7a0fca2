"""The anomaly catalogue: every anomaly a checker reports is in it, the cycle specs name
each combination of edge kinds, and every entry is reported by some checker test."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

import harness.checks
from harness.checks.anomalies import (
    ANOMALIES,
    CATALOGUE,
    CYCLE_SPECS,
    G0,
    G0_REALTIME,
    G1C,
    G1C_REALTIME,
    G2,
    G2_REALTIME,
    G_SINGLE,
    G_SINGLE_REALTIME,
    RT,
    RW,
    WR,
    WW,
    cycle_anomaly,
)
from harness.checks.verdict import PROPERTIES, Collector

CHECKS = Path(harness.checks.__file__).parent
CHECKER_TESTS = sorted(p.stem for p in Path(__file__).parent.glob("test_checks_*.py")
                       if p.stem != Path(__file__).stem)
ADYA = {None, "G0", "G1a", "G1b", "G1c", "G-cursor", "G-single", "G2-item", "G2"}


def test_every_entry_is_named_once_with_a_known_property_and_adya_class():
    assert len(CATALOGUE) == len(ANOMALIES)
    for anomaly in ANOMALIES:
        assert anomaly.property in PROPERTIES and anomaly.adya in ADYA
        assert anomaly.description and "\n" not in anomaly.description


def test_the_checkers_name_anomalies_only_from_the_catalogue():
    """No checker passes a literal to ``add``; every module-level name it passes is an
    anomaly of the catalogue (cycles are named through :data:`CYCLE_SPECS`)."""
    assert {spec.anomaly for spec in CYCLE_SPECS} | {spec.shape for spec in CYCLE_SPECS} \
        <= set(CATALOGUE)
    for path in sorted(CHECKS.glob("*.py")):
        module = importlib.import_module(f"harness.checks.{path.stem}")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "add" and node.args):
                continue
            first = node.args[0]
            where = f"{path.name}:{node.lineno}"
            assert not isinstance(first, ast.Constant | ast.JoinedStr), where
            value = getattr(module, first.id, None) if isinstance(first, ast.Name) else None
            if isinstance(value, str):
                assert value in CATALOGUE, where


@pytest.mark.parametrize(("kinds", "anomaly"), [
    ((WW,), G0),
    ((WW, WW), G0),
    ((WR,), G1C),
    ((WW, WR), G1C),
    ((RW,), G_SINGLE),
    ((RW, WW), G_SINGLE),
    ((RW, WR), G_SINGLE),
    ((RW, WW, WR), G_SINGLE),
    ((RW, RW), G2),
    ((RW, RW, WW), G2),
    ((RW, RW, WR), G2),
    ((RW, WW, RW, WR), G2),
    ((RT,), G0_REALTIME),
    ((WW, RT), G0_REALTIME),
    ((WR, RT), G1C_REALTIME),
    ((WW, WR, RT), G1C_REALTIME),
    ((RW, RT), G_SINGLE_REALTIME),
    ((RW, WW, RT), G_SINGLE_REALTIME),
    ((RW, WR, RT), G_SINGLE_REALTIME),
    ((RW, WW, WR, RT), G_SINGLE_REALTIME),
    ((RW, RW, RT), G2_REALTIME),
    ((RW, RW, WW, RT), G2_REALTIME),
    ((RW, RW, WR, RT), G2_REALTIME),
    ((RW, WW, RW, WR, RT), G2_REALTIME),
])
def test_the_cycle_specs_name_every_combination_of_edge_kinds(kinds, anomaly):
    spec = cycle_anomaly(list(kinds))
    assert spec.anomaly == anomaly and spec.realtime == (RT in kinds)
    assert spec.shape == anomaly.removesuffix("-realtime")


def test_every_entry_is_reported_by_a_checker_test(monkeypatch):
    """Runs the checker tests that take no argument, recording what the checkers add."""
    reported: set[tuple[str, str]] = set()
    add = Collector.add

    def record(self: Collector, anomaly: str, *args: object, **kwargs: object) -> None:
        reported.add((self.prop, anomaly))
        add(self, anomaly, *args, **kwargs)

    monkeypatch.setattr(Collector, "add", record)
    for name in CHECKER_TESTS:
        module = importlib.import_module(f"tests.{name}")
        for test_name, test in vars(module).items():
            if test_name.startswith("test_") and inspect.isfunction(test) and \
                    not getattr(test, "is_hypothesis_test", False) and \
                    not inspect.signature(test).parameters:
                test()
    outside = {(prop, a) for prop, a in reported
               if a not in CATALOGUE or CATALOGUE[a].property != prop}
    assert not outside, "reported, but not in the catalogue under that property"
    unreported = {a.name for a in ANOMALIES} - {a for _, a in reported}
    assert not unreported, "in the catalogue, but reported by no checker test"
