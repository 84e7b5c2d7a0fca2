"""JUnit XML of a campaign summary, for CI systems that show test cases."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree

from harness.report.campaign import not_judged_line


def junit_xml(summary: dict[str, Any]) -> str:
    """One JUnit test case per property, and one for the executor itself (it must return,
    and raise nothing but an execution error). A property that no example failed and some
    example did not judge is skipped, with the reason."""
    rows = summary["properties"]
    ce = summary.get("counterexample") or {}
    broken = ce.get("kind", "violation") != "violation"
    suite = ElementTree.Element(
        "testsuite", name="aethel-verify", tests=str(len(rows) + 1),
        failures=str(sum(1 for c in rows.values() if c["failed"]) + broken),
        skipped=str(sum(1 for c in rows.values() if not c["failed"] and c.get("not_judged"))),
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
                f"{counts['passed'] + counts['failed'] + counts.get('not_judged', 0)} examples "
                f"violate {prop}")
            failure.text = "\n".join(lines)
        elif counts.get("not_judged"):
            ElementTree.SubElement(case, "skipped", message=not_judged_line(prop, counts))
    return ElementTree.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"
