"""The counterexample timeline (``harness.report.timeline``) and the edges it draws, which
the checkers record on their violations."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from aethel.batchfile import batch_from_json
from aethel.trace import event_from_json
from harness.campaign import CampaignConfig, close_executors, run_campaign
from harness.checks import check_all, derive_facts
from harness.checks.verdict import Edge, Verdict, Violation
from harness.report.common import page_html, section
from harness.report.timeline import BLUE, VERMILLION, scroll_box, timeline_svg
from tests.browser import fits, needs_chromium, screenshot

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(autouse=True)
def _close_cached_executors():
    yield
    close_executors()


def event(kind: str, txn: str, us: float, worker: int = 0, **fields: Any) -> dict[str, Any]:
    """A trace event at ``us`` µs (timestamps in ns, as recorded)."""
    return {"event": kind, "txn": txn, "ts": int(us * 1000) + 5_000_000, "worker": worker,
            "pid": 100, **fields}


def verdict(prop: str, anomaly: str = "", message: str = "", txns: tuple[str, ...] = (),
            details: tuple[str, ...] = (), edges: tuple[tuple[str, ...], ...] = ()
            ) -> dict[str, Any]:
    """A verdict as counterexample.json holds it (a pass without ``anomaly``)."""
    if not anomaly:
        return {"property": prop, "ok": True, "lines": [f"PASS {prop}"],
                "counterexample": None}
    return {"property": prop, "ok": False, "lines": [f"FAIL {prop}: {message}"],
            "counterexample": {"anomaly": anomaly, "message": message, "txns": list(txns),
                               "accounts": ["a"], "details": list(details),
                               "edges": [list(e) for e in edges]}}


def counterexample(accounts: dict[str, int], txs: dict[str, list[dict[str, Any]]],
                   trace: list[dict[str, Any]], verdicts: list[dict[str, Any]]
                   ) -> dict[str, Any]:
    return {"kind": "violation", "backend": "thread", "workers": 2,
            "transactions": len(txs), "transactions_before_shrinking": len(txs),
            "batch": {"version": 1, "mode": "independent", "accounts": accounts,
                      "transactions": [{"id": t, "ops": ops} for t, ops in txs.items()]},
            "trace": trace, "verdicts": verdicts}


def deposit(account: str, amount: int) -> dict[str, Any]:
    return {"op": "deposit", "account": account, "amount": amount}


LOST_UPDATE = counterexample(
    {"a": 30}, {"t1": [deposit("a", 15)], "t2": [deposit("a", 10)]},
    [event("START", "t1", 1), event("START", "t2", 2, worker=1),
     event("READ", "t1", 3, account="a", value=30, version="init"),
     event("READ", "t2", 4, worker=1, account="a", value=30, version="init"),
     event("WRITE", "t1", 6, account="a", value=45, replaced="init"),
     event("COMMIT", "t1", 7),
     event("WRITE", "t2", 8, worker=1, account="a", value=40, replaced="t1"),
     event("COMMIT", "t2", 9, worker=1)],
    [verdict("serial equivalence"),
     verdict("isolation", "lost update", "t2 read a@init but its install replaced a@t1: the "
             "update by t1 is lost", ("t2", "t1"), edges=(("t1", "t2", "ww", "a"),)),
     verdict("strict serializability", "G-single", "t1 → t2 → t1 is a cycle with exactly one "
             "anti-dependency (read skew; lost update) — a lost update on a", ("t1", "t2"),
             ("t1 → t2 (ww): t2 overwrote t1's write: its install of a replaced a@t1",
              "t2 → t1 (rw): t2 read a@init, but t1 installed the next version a@t1: t2 did "
              "not see t1's write"),
             (("t1", "t2", "ww", "a"), ("t2", "t1", "rw", "a")))])

READ_SKEW = counterexample(
    {"a": 50, "b": 50},
    {"t1": [{"op": "transfer", "from": "a", "to": "b", "amount": 10}],
     "t2": [{"op": "read", "account": "a"}, {"op": "read", "account": "b"}]},
    [event("START", "t1", 1), event("START", "t2", 2, worker=1),
     event("READ", "t2", 3, worker=1, account="a", value=50, version="init"),
     event("READ", "t1", 4, account="a", value=50, version="init"),
     event("READ", "t1", 5, account="b", value=50, version="init"),
     event("WRITE", "t1", 7, account="a", value=40, replaced="init"),
     event("WRITE", "t1", 8, account="b", value=60, replaced="init"),
     event("COMMIT", "t1", 9),
     event("READ", "t2", 10, worker=1, account="b", value=60, version="t1"),
     event("COMMIT", "t2", 11, worker=1)],
    [verdict("strict serializability", "G-single", "t1 → t2 → t1 is a cycle with exactly "
             "one anti-dependency (read skew; lost update)", ("t1", "t2"),
             ("t1 → t2 (wr): t2 read b@t1, the version t1 installed",
              "t2 → t1 (rw): t2 read a@init, but t1 installed the next version a@t1: t2 did "
              "not see t1's write"),
             (("t1", "t2", "wr", "b"), ("t2", "t1", "rw", "a")))])

WRITE_SKEW = counterexample(
    {"a": 50, "b": 50}, {"t1": [deposit("a", 1)], "t2": [deposit("b", 1)]},
    [event("START", "t1", 1), event("START", "t2", 1.5, worker=1),
     event("READ", "t1", 2, account="a", value=50, version="init"),
     event("READ", "t1", 2.5, account="b", value=50, version="init"),
     event("READ", "t2", 3, worker=1, account="a", value=50, version="init"),
     event("READ", "t2", 3.5, worker=1, account="b", value=50, version="init"),
     event("WRITE", "t1", 5, account="a", value=51, replaced="init"),
     event("COMMIT", "t1", 6),
     event("WRITE", "t2", 7, worker=1, account="b", value=51, replaced="init"),
     event("COMMIT", "t2", 8, worker=1)],
    [verdict("strict serializability", "G2", "t1 → t2 → t1 is a cycle of anti-dependencies "
             "(write skew)", ("t1", "t2"),
             edges=(("t1", "t2", "rw", "b"), ("t2", "t1", "rw", "a")))])

RETRIED_AND_ABORTED = counterexample(
    {"a": 30},
    {"t1": [deposit("a", 15)], "t2": [deposit("a", 10)],
     "t3": [{"op": "withdraw", "account": "a", "amount": 500}]},
    [event("START", "t1", 1), event("START", "t2", 2, worker=1),
     event("READ", "t1", 3, account="a", value=30, version="init"),
     event("READ", "t2", 4, worker=1, account="a", value=30, version="init"),
     event("WRITE", "t1", 6, account="a", value=45, replaced="init"),
     event("COMMIT", "t1", 7),
     event("ABORT", "t2", 8, worker=1, reason="SQLSTATE 40001: could not serialize access"),
     event("START", "t2", 9, worker=1),
     event("READ", "t2", 10, worker=1, account="a", value=45, version="t1"),
     event("START", "t3", 11),
     event("READ", "t3", 12, account="a", value=45, version="t1"),
     event("WRITE", "t2", 13, worker=1, account="a", value=55, replaced="t1"),
     event("COMMIT", "t2", 14, worker=1),
     event("ABORT", "t3", 15, reason="insufficient funds")],
    [verdict("serial equivalence", "final balance", "a is 55 in the executor's final state "
             "but 56 after serial execution", ("t2",))])


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def classes(element: ET.Element) -> set[str]:
    return set(element.get("class", "").split())


def groups(root: ET.Element, css: str) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if css in classes(g)]


def title(element: ET.Element) -> str:
    found = element.find(f"{SVG}title")
    assert found is not None, ET.tostring(element)
    return found.text or ""


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text")]


def start_x(path: str) -> float:
    """The x of the first point of an SVG path."""
    return float(path[1:].split(",")[0])


def edges_drawn(root: ET.Element) -> list[tuple[str, ...]]:
    return [tuple(g.get("data-edge").split()) for g in groups(root, "tl-edge")]


def test_a_lost_update_shows_both_writers_their_marks_and_the_cycle():
    svg = timeline_svg(LOST_UPDATE)
    root = parse(svg)
    bars = groups(root, "tl-bar")
    assert [(b.get("data-txn"), b.get("data-attempt")) for b in bars] == [("t1", "1"),
                                                                          ("t2", "1")]
    assert all("tl-named" in classes(b) and b.find(f"{SVG}rect[@class='tl-outline']")
               is not None for b in bars)
    labels = texts(root)
    assert {"R a@init=30", "W a=45 (replaced init)", "W a=40 (replaced t1)"} <= set(labels)
    # isolation and serializability both give t1 → t2 (ww): one arrow, both reasons
    assert sorted(edges_drawn(root)) == [("t1", "t2", "ww"), ("t2", "t1", "rw")]
    ww = next(g for g in groups(root, "tl-edge") if g.get("data-edge") == "t1 t2 ww")
    assert "ww" in [t.text for t in ww.iter(f"{SVG}text")]
    assert "isolation, lost update" in title(ww)
    assert "t2 overwrote t1's write" in title(ww)
    assert "<script" not in svg.lower() and "href=\"http" not in svg
    assert root.get("viewBox") == f"0 0 {root.get('width')} {root.get('height')}"


def test_every_bar_and_mark_has_a_tooltip():
    root = parse(timeline_svg(LOST_UPDATE))
    t1 = groups(root, "tl-bar")[0]
    assert title(t1).splitlines() == [
        "t1: committed", "deposit account=a amount=15",
        "worker 0; START +0.0 µs, COMMIT +6.0 µs (6.0 µs)",
        "named by isolation (lost update); strict serializability (G-single)"]
    marks = groups(root, "tl-mark")
    assert len(marks) == 4
    assert title(marks[0]) == ("+2.0 µs READ by t1: ts=5003000, worker=0, pid=100, "
                               "account=a, value=30, version=init")
    ends = groups(root, "tl-end")
    assert [title(g).split()[2] for g in ends] == ["COMMIT", "COMMIT"]


def test_a_cycle_with_wr_and_rw_edges_joins_the_read_and_write_of_each_account():
    root = parse(timeline_svg(READ_SKEW))
    assert sorted(edges_drawn(root)) == [("t1", "t2", "wr"), ("t2", "t1", "rw")]
    edge_labels = {t.text for g in groups(root, "tl-edge") for t in g.iter(f"{SVG}text")}
    assert edge_labels == {"wr", "rw"}
    assert {"R b@t1=60", "R a@init=50", "W b=60 (replaced init)"} <= set(texts(root))
    wr = next(g for g in groups(root, "tl-edge") if g.get("data-edge") == "t1 t2 wr")
    assert title(wr).startswith("t1 → t2 (wr) on b\n")
    # the arrow leaves from t1's WRITE of b (a diamond whose top vertex is its first point)
    write_b = next(g for g in groups(root, "tl-mark")
                   if title(g).startswith("+7.0 µs WRITE by t1") and "account=b" in title(g))
    assert start_x(wr.find(f"{SVG}path").get("d")) == start_x(
        write_b.find(f"{SVG}path").get("d"))


def test_a_write_skew_draws_two_rw_arrows():
    root = parse(timeline_svg(WRITE_SKEW))
    assert sorted(edges_drawn(root)) == [("t1", "t2", "rw"), ("t2", "t1", "rw")]
    legend = " ".join(title for title in texts(root))
    assert "rw: a read → the write of a later version it did not see" in legend
    assert "ww:" not in legend and "wr:" not in legend


def test_each_attempt_is_a_bar_and_aborts_keep_their_own_colour():
    root = parse(timeline_svg(RETRIED_AND_ABORTED))
    bars = groups(root, "tl-bar")
    assert [(b.get("data-txn"), b.get("data-attempt")) for b in bars] == [
        ("t1", "1"), ("t2", "1"), ("t2", "2"), ("t3", "1")]
    kinds = [next(c for c in classes(b) if c in ("tl-committed", "tl-aborted", "tl-retried"))
             for b in bars]
    assert kinds == ["tl-committed", "tl-retried", "tl-committed", "tl-aborted"]
    fills = [b.find(f"{SVG}rect").get("fill") for b in bars]
    assert fills == [BLUE, "url(#aethel-tl-retry)", BLUE, VERMILLION]
    assert title(bars[1]).startswith("t2: aborted, run again: SQLSTATE 40001: could not "
                                     "serialize access (attempt 1 of 2)")
    assert title(bars[3]).startswith("t3: aborted: insufficient funds")
    # only the transaction the failing verdict names is outlined, every attempt of it
    assert [b.get("data-txn") for b in bars if "tl-named" in classes(b)] == ["t2", "t2"]
    assert [c for g in groups(root, "tl-end") for c in classes(g) if c != "tl-end"] == [
        "tl-commit", "tl-abort", "tl-commit", "tl-abort"]
    legend = texts(root)
    assert {"committed (bar at COMMIT)", "aborted (cross at ABORT)",
            "aborted attempt, run again", "named by the violation"} <= set(legend)
    assert not any(": " in t and t.split(":")[0] in ("ww", "wr", "rw", "rt", "order")
                   for t in legend)


def test_the_legend_lists_only_what_is_drawn():
    legend = [title for title in texts(parse(timeline_svg(LOST_UPDATE)))]
    assert "committed (bar at COMMIT)" in legend
    assert not {"aborted (cross at ABORT)", "aborted attempt, run again",
                "no COMMIT or ABORT recorded", "time without events, cut short"} & set(legend)
    assert [t for t in legend if t.startswith(("ww:", "rw:", "wr:", "rt:", "order:"))] == [
        "rw: a read → the write of a later version it did not see",
        "ww: a write → the write that replaced its version"]


def test_a_counterexample_saved_before_edges_existed_still_draws():
    old = json.loads(json.dumps(LOST_UPDATE))
    for v in old["verdicts"]:
        if v["counterexample"]:
            del v["counterexample"]["edges"]
    root = parse(timeline_svg(old))
    assert not groups(root, "tl-edge") and len(groups(root, "tl-bar")) == 2


def test_an_empty_trace_says_so():
    assert "no events" in timeline_svg({"trace": [], "verdicts": []})


def test_a_long_wait_is_cut_short_and_close_events_are_not_merged():
    trace = [event("START", "t1", 0), event("READ", "t1", 0.2, account="a", value=1,
                                            version="init"),
             event("START", "t2", 1, worker=1), event("COMMIT", "t2", 2, worker=1),
             event("COMMIT", "t1", 100_000)]
    root = parse(timeline_svg(counterexample({"a": 1}, {"t1": [], "t2": []}, trace, [])))
    assert len(groups(root, "tl-cut")) == 1
    assert "time without events, cut short" in texts(root)
    assert "100.0 ms cut" in texts(root)
    assert int(root.get("width")) < 1400
    # no cut when the wait is like the other gaps
    root = parse(timeline_svg(LOST_UPDATE))
    assert not groups(root, "tl-cut")
    ticks = [t for t in texts(root) if re.fullmatch(r"\+\d+\.\d µs", t)]
    assert ticks == ["+0.0 µs", "+2.5 µs", "+5.0 µs", "+7.5 µs"]


def test_labels_that_would_overlap_are_left_to_the_tooltip():
    trace = [event("START", "t1", 0)]
    trace += [event("READ", "t1", 1 + i * 0.3, account=f"account{i}", value=i,
                    version="init") for i in range(30)]
    trace.append(event("COMMIT", "t1", 12))
    root = parse(timeline_svg(counterexample({}, {"t1": []}, trace, [])))
    assert len(groups(root, "tl-mark")) == 30
    labels = [t for t in texts(root) if t.startswith("R account")]
    note = next(t for t in texts(root) if t.endswith("are shown on hover only."))
    assert note == f"{30 - len(labels)} labels that would overlap are shown on hover only."
    assert 4 <= len(labels) < 30


def checked(ce: dict[str, Any]) -> list[Verdict]:
    """The checkers' verdicts on a counterexample's batch and trace."""
    batch = batch_from_json(ce["batch"])
    return check_all(derive_facts(batch, [event_from_json(e) for e in ce["trace"]]))


def failing(verdicts: list[Verdict], prop: str) -> Violation:
    found = next(v for v in verdicts if v.property == prop)
    assert not found.ok and found.counterexample is not None
    return found.counterexample


def test_the_checkers_record_the_edges_of_a_lost_update():
    verdicts = checked(LOST_UPDATE)
    cycle = failing(verdicts, "strict serializability")
    assert cycle.edges == (Edge("t1", "t2", "ww", "a"), Edge("t2", "t1", "rw", "a"))
    # each edge is also a line of the details, in the same order
    assert [d.split(":")[0] for d in cycle.details] == ["t1 → t2 (ww)", "t2 → t1 (rw)"]
    isolation = next(v for v in verdicts if v.property == "isolation")
    by_anomaly = {v.anomaly: v.edges for v in isolation.violations}
    assert by_anomaly["lost update"] == (Edge("t1", "t2", "ww", "a"),)
    # t2 should have read t1's version: the read of init did not see t1's write
    assert by_anomaly["stale read"] == (Edge("t2", "t1", "rw", "a"),)


def test_the_checkers_record_a_read_skew_cycle_and_the_dependency_not_respected():
    verdicts = checked(READ_SKEW)
    cycle = failing(verdicts, "strict serializability")
    assert cycle.anomaly == "G-single"
    assert set(cycle.edges) == {Edge("t1", "t2", "wr", "b"), Edge("t2", "t1", "rw", "a")}
    order = failing(verdicts, "dependency order")
    assert order.edges == (Edge("t1", "t2", "order", "a"),)


def test_the_edges_serialise_and_the_timeline_draws_the_checkers_edges():
    verdicts = [v.to_json() for v in checked(READ_SKEW)]
    saved = json.loads(json.dumps(verdicts))
    cycle = next(v for v in saved if v["property"] == "strict serializability")
    assert sorted(cycle["counterexample"]["edges"]) == [["t1", "t2", "wr", "b"],
                                                         ["t2", "t1", "rw", "a"]]
    root = parse(timeline_svg({**READ_SKEW, "verdicts": saved}))
    drawn = set(edges_drawn(root))
    assert {("t1", "t2", "wr"), ("t2", "t1", "rw"), ("t1", "t2", "order")} <= drawn
    assert "order: a dependency's end → its dependant's start" in texts(root)


def test_a_mutant_campaign_counterexample_draws_the_edges_of_its_violations():
    config = CampaignConfig(executor="harness.mutants:IgnoresDependencies",
                            backends=("thread",), examples=50)
    with ThreadPoolExecutor(1) as pool:
        result = run_campaign(config, pool)
    assert not result.ok
    # as counterexample.json and summary.json hold it
    summary = json.loads(json.dumps(result.to_json()))
    ce = summary["counterexample"]
    edges = {tuple(e[:3]) for v in ce["verdicts"] if not v["ok"] and v["counterexample"]
             for e in v["counterexample"].get("edges", [])}
    # which violations the shrunk example shows depends on thread timing; each has its edges
    assert len(edges) >= 2, ce["verdicts"]
    root = parse(timeline_svg(ce))
    assert set(edges_drawn(root)) == edges
    named = {t for v in ce["verdicts"] if not v["ok"] and v["counterexample"]
             for t in v["counterexample"]["txns"]}
    assert {b.get("data-txn") for b in groups(root, "tl-bar") if "tl-named" in classes(b)} \
        == named


@needs_chromium
def test_the_timelines_fit_a_500_px_page_in_chromium(tmp_path):
    page = page_html("Counterexample timelines", [
        section(name, scroll_box(timeline_svg(ce)))
        for name, ce in (("Lost update", LOST_UPDATE), ("Read skew", READ_SKEW),
                         ("A retried and an aborted transaction", RETRIED_AND_ABORTED))])
    (tmp_path / "index.html").write_text(page)
    for width in (1400, 500):
        assert fits(page, width, tmp_path).startswith("fits true "), width
        screenshot(tmp_path / "index.html", f"timeline-{width}.png", width)


def test_a_trace_without_versions_is_labelled_by_values_alone():
    trace = [{k: v for k, v in e.items() if k not in ("version", "replaced")}
             for e in LOST_UPDATE["trace"]]
    root = parse(timeline_svg({**LOST_UPDATE, "trace": trace}))
    labels = texts(root)
    assert {"R a=30", "W a=45", "W a=40"} <= set(labels)
    assert {"READ account=value", "WRITE account=value"} <= set(labels)
    assert not any("@" in t for t in labels)


def test_an_edge_to_a_transaction_without_events_is_named_instead_of_drawn():
    ce = json.loads(json.dumps(LOST_UPDATE))
    ce["verdicts"].append(verdict("dependency order", "order", "t3 started before t9 ended",
                                  ("t9", "t3"), edges=(("t9", "t1", "order", "a"),)))
    root = parse(timeline_svg(ce))
    assert ("t9", "t1", "order") not in edges_drawn(root)
    assert "Not drawn: t9 → t1 (order): t9 has no events." in texts(root)
    assert not any(t.startswith("order:") for t in texts(root))
