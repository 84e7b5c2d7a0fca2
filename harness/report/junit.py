"""JUnit XML of a campaign summary, for CI systems that show test cases."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree


def junit_xml(summary: dict[str, Any]) -> str:
    """One JUnit test case per property, and one for the executor itself (it must return,
    and raise nothing but an execution error)."""
    rows = summary["properties"]
    ce = summary.get("counterexample") or {}
    broken = ce.get("kind", "violation") != "violation"
    suite = ElementTree.Element(
        "testsuite", name="aethel-verify", tests=str(len(rows) + 1),
        failures=str(sum(1 for c in rows.values() if c["failed"]) + broken),
        time=f"{summary['seconds']:.3f}")
    case = ElementTree.SubElement(suite, "testcase", classname="aethel.verify",
                                  name="executor returns")
    if broken:
        ElementTree.SubElement(case, "failure", message=ce["error"])
    for prop, counts in rows.items():
        case = ElementTree.SubElement(suite, "testcase", classname="aethel.verify", name=prop)
        if counts["failed"]:
            lines = [line for v in ce.get("verdicts", []) if v["property"] == prop
                     for line in v["lines"]]
            failure = ElementTree.SubElement(
                case, "failure", message=f"{counts['failed']} of "
                f"{counts['passed'] + counts['failed']} examples violate {prop}")
            failure.text = "\n".join(lines)
    return ElementTree.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"
