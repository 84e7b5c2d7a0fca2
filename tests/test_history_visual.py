"""The history page: the failure drawn first, processes in numeric order, labels that fit."""

from __future__ import annotations

import re

from harness.history import check, make_model, parse_history, render_html
from harness.history.visual import FOCUS
from tests.browser import fits, needs_chromium, screenshot


def _writes_then_stale_read(writers: int) -> str:
    """``writers`` processes write 1, 2, … one after another; process ``writers`` then
    reads 1 (stale)."""
    rows = []
    for p in range(writers):
        rows += [f"{{:process {p} :type :invoke :f :write :value {p + 1}}}",
                 f"{{:process {p} :type :ok :f :write :value {p + 1}}}"]
    rows += [f"{{:process {writers} :type :invoke :f :read :value nil}}",
             f"{{:process {writers} :type :ok :f :read :value 1}}"]
    return "\n".join(rows)


def test_a_violation_is_drawn_around_its_failure_then_whole():
    result = check(parse_history(_writes_then_stale_read(30)), make_model("register"))
    page = render_html(result, "stale")
    focus, whole = page.split("<svg")[1:]
    assert focus.count("<rect") == FOCUS + 1  # the last writes of the order and the read
    assert whole.count("<rect") == 31
    assert "#e53935" in focus and "Around the failure" in page
    labels = re.findall(r">process (\d+)<", whole)
    assert labels == [str(p) for p in range(31)]  # 0, 1, 2, …, 10: numeric order


def test_labels_are_cut_to_their_bar_with_the_whole_operation_in_the_tooltip():
    long = '"a-rather-long-value-that-cannot-fit"'
    events = parse_history("\n".join(
        [f"{{:process 0 :type :invoke :f :write :value {long}}}"]
        + [f"{{:process {p} :type :{t} :f :read :value nil}}" for p in (1, 2, 3)
           for t in ("invoke", "ok")]
        + [f"{{:process 0 :type :ok :f :write :value {long}}}"]))
    page = render_html(check(events, make_model("register")), "long")
    assert "…" in page and page.count("a-rather-long-value-that-cannot-fit") == 1
    assert re.search(r"<title>[^<]*a-rather-long-value-that-cannot-fit", page)


@needs_chromium
def test_the_page_fits_a_500_px_window_in_chromium(tmp_path):
    page = render_html(check(parse_history(_writes_then_stale_read(30)),
                             make_model("register")), "stale")
    (tmp_path / "history.html").write_text(page)
    for width in (1400, 500):
        assert fits(page, width, tmp_path).startswith("fits true "), width
        screenshot(tmp_path / "history.html", f"history-{width}.png", width)
