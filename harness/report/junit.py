"""JUnit XML of a campaign summary, for CI systems that show test cases."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree

from harness.report.campaign import failed_properties, not_judged_line, verdict_lines


def junit_xml(summary: dict[str, Any]) -> str:
    """One JUnit test case per property, and one for the executor itself (it must return,
    and raise nothing but an execution error). A property an example or the counterexample
    failed is a failure, explained by the counterexample; one that no example failed and
    some example did not judge is skipped, with the reason. The suite's properties name the
    version, commit and command that made it."""
    rows = summary["properties"]
    ce = summary.get("counterexample") or {}
    broken = ce.get("kind", "violation") != "violation"
    failed = set(failed_properties(summary))
    suite = ElementTree.Element(
        "testsuite", name="aethel-verify", tests=str(len(rows) + 1),
        failures=str(len(failed) + broken),
        skipped=str(sum(1 for p, c in rows.items() if p not in failed and c.get("not_judged"))),
        time=f"{summary['seconds']:.3f}")
    made = summary.get("provenance") or {}
    if made:
        properties = ElementTree.SubElement(suite, "properties")
        for key in ("version", "commit", "command"):
            ElementTree.SubElement(properties, "property", name=f"aethel.{key}",
                                   value=made.get(key) or "not known")
    case = ElementTree.SubElement(suite, "testcase", classname="aethel.verify",
                                  name="executor returns")
    if broken:
        ElementTree.SubElement(case, "failure", message=ce["error"])
    for prop, counts in rows.items():
        case = ElementTree.SubElement(suite, "testcase", classname="aethel.verify", name=prop)
        if prop in failed:
            lines = [line for v in ce.get("verdicts", []) if v["property"] == prop
                     and not v["ok"] for line in verdict_lines(v)]
            total = counts["passed"] + counts["failed"] + counts.get("not_judged", 0)
            failure = ElementTree.SubElement(
                case, "failure", message=f"{counts['failed']} of {total} examples violate "
                f"{prop}" if counts["failed"] else f"the shrunk counterexample violates {prop}")
            failure.text = "\n".join(lines)
        elif counts.get("not_judged"):
            ElementTree.SubElement(case, "skipped", message=not_judged_line(prop, counts))
    return ElementTree.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"
