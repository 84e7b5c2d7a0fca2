"""The timeline of a counterexample as inline SVG: what each worker ran, and the anomaly.

One row per worker (a lane more when its bars overlap: COMMIT and ABORT are recorded at
install, after the worker may have started its next transaction), one bar per attempt from
its START to its COMMIT or ABORT, its READ and WRITE marks at their times labelled
``account@version`` and value, and the edges of the failing verdicts' violations
(:class:`~harness.checks.verdict.Edge`: a cycle's ww, wr, rw and rt edges, the dependency
that was not respected) drawn as labelled arrows between the events they join. The
transactions the violations name are outlined; colours say committed or aborted only
(Okabe–Ito blue and vermillion, told apart also by their end marks).

Time runs left to right in µs since the first event of the trace, the origin of the
explanations' times (:meth:`harness.checks.facts.Facts.at`); when a few long stretches
without any event would squeeze the rest, they are cut short and marked. The SVG is drawn at
its natural size (fonts never below 11 px): put it in :func:`scroll_box` so that a narrow
page scrolls it instead of overflowing. Hover details are SVG ``<title>`` elements; there is
no script and no external resource.
"""

from __future__ import annotations

import math
import statistics
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from itertools import accumulate
from typing import Any

from aethel.trace import ABORT, COMMIT, READ, START, WRITE
from harness.checks.verdict import duration

BLUE, VERMILLION, GREY, INK, PALE = "#0072B2", "#D55E00", "#8C8C8C", "#1d2430", "#f4f6f9"
"""Committed, aborted (Okabe–Ito), no end recorded, ink, and shaded backgrounds."""
CHAR = 6.7
"""Width in pixels of one character of 11 px text (an upper estimate)."""
GUTTER, LEVEL, BAR = 96, 14, 20
"""Width of the row labels; height of a line of labels; height of a bar."""
ROW = 4 * LEVEL + BAR + 14
"""Height of a row: two lines of labels above the bar, two below."""
WIDTH, MAX_WIDTH, TICK = 840, 4000, 90
"""Pixels the time axis aims at, and takes at most; least pixels between ticks."""
MIN_STEP, READABLE, CAP, MAX_SCALE = 10, 16, 160, 40.0
"""Fewest pixels between two distinct times; pixels the median gap between events should
get; fewest pixels a gap cut short still takes; most pixels per µs."""
LEGEND_WIDTH = 430
"""The legend wraps within this width, so that a 500 px page shows it whole."""
LABEL_CHARS = 30
"""Longest mark label drawn; the tooltip holds the whole event."""

DASHES = {"ww": "", "wr": "7 3", "rw": "3 3", "rt": "1 3", "order": "9 3 2 3"}
MEANINGS = {
    "ww": "ww: a write → the write that replaced its version",
    "wr": "wr: a write → a read of its version",
    "rw": "rw: a read → the write of a later version it did not see",
    "rt": "rt: an end → a start after it (real time)",
    "order": "order: a dependency's end → its dependant's start",
}
"""Edge kinds of :class:`~harness.checks.verdict.Edge`, as the legend explains them."""

_STYLE = (
    ".aethel-timeline text{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;"
    f"font-size:11px;fill:{INK}}}"
    ".aethel-timeline .tl-mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"
    "'DejaVu Sans Mono',monospace}"
    ".aethel-timeline .tl-halo{paint-order:stroke;stroke:#fff;stroke-width:3px;"
    "stroke-linejoin:round}"
    ".aethel-timeline .tl-name{font-weight:bold;fill:#fff}"
    f".aethel-timeline .tl-retried .tl-name{{fill:{INK}}}"
    ".aethel-timeline .tl-note{fill:#5b6576}"
)
_DEFS = (
    '<defs><pattern id="aethel-tl-retry" patternUnits="userSpaceOnUse" width="6" height="6" '
    f'patternTransform="rotate(45)"><rect width="6" height="6" fill="{VERMILLION}"/>'
    '<rect width="2.5" height="6" fill="#f3c4a2"/></pattern>'
    '<marker id="aethel-tl-head" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" '
    f'markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{INK}"/></marker>'
    "</defs>"
)


def scroll_box(svg: str) -> str:
    """``svg`` in a box that scrolls sideways when the page is narrower than the drawing."""
    return f'<div class="aethel-timeline-box" style="overflow-x:auto;max-width:100%">{svg}</div>'


@dataclass
class _Attempt:
    """One attempt of a transaction: START (if recorded) … COMMIT, ABORT or nothing."""

    txn: str
    worker: int
    start: int
    end: int
    first: dict[str, Any] | None
    last: dict[str, Any] | None = None
    marks: list[dict[str, Any]] = field(default_factory=list)
    number: int = 1
    of: int = 1
    row: int = 0

    @property
    def outcome(self) -> str:
        """``COMMIT``, ``ABORT`` or ``""`` (no end recorded)."""
        return self.last["event"] if self.last else ""

    @property
    def retried(self) -> bool:
        """Whether another attempt of the transaction followed this one."""
        return self.number < self.of

    @property
    def extent(self) -> tuple[int, int]:
        """The times the attempt's bar and marks cover."""
        times = [e["ts"] for e in self.marks]
        return min([self.start, *times]), max([self.end, *times])


@dataclass
class _Arrow:
    """An edge of the failing verdicts' violations, and what says so."""

    source: str
    target: str
    kind: str
    account: str | None
    reasons: list[str] = field(default_factory=list)


def _attempts(trace: list[dict[str, Any]]) -> list[_Attempt]:
    """The attempts in the trace, in time order. A START opens one; COMMIT or ABORT closes
    it; a READ or WRITE belongs to the open attempt, else to the transaction's last one (it
    lies outside its bar), else opens one without START."""
    attempts: list[_Attempt] = []
    running: dict[str, _Attempt] = {}
    latest: dict[str, _Attempt] = {}
    for e in sorted(trace, key=lambda e: e["ts"]):
        kind, txn, ts = e.get("event"), e["txn"], e["ts"]
        if kind not in (START, READ, WRITE, COMMIT, ABORT):
            continue
        current = running.get(txn)
        if current is None and kind in (READ, WRITE) and txn in latest:
            latest[txn].marks.append(e)
            continue
        if kind == START or current is None:
            current = _Attempt(txn, e.get("worker", 0), ts, ts, e if kind == START else None)
            attempts.append(current)
            running[txn] = latest[txn] = current
        current.end = ts
        if kind in (READ, WRITE):
            current.marks.append(e)
        elif kind in (COMMIT, ABORT):
            current.last = e
            del running[txn]
    counts: dict[str, int] = {}
    for a in attempts:
        counts[a.txn] = a.number = counts.get(a.txn, 0) + 1
    for a in attempts:
        a.of = counts[a.txn]
    return attempts


def _rows(attempts: list[_Attempt]) -> list[tuple[int, int]]:
    """Give each attempt a row (worker, lane): the first lane of its worker free over its
    extent. Returns the rows in order."""
    ends: dict[tuple[int, int], int] = {}
    for a in sorted(attempts, key=lambda a: a.extent):
        lo, hi = a.extent
        lane = 0
        while ends.get((a.worker, lane), lo - 1) >= lo:
            lane += 1
        ends[(a.worker, lane)] = hi
        a.row = lane  # the lane, until the rows are numbered below
    rows = sorted(ends)
    index = {row: i for i, row in enumerate(rows)}
    for a in attempts:
        a.row = index[(a.worker, a.row)]
    return rows


def _width(gaps: list[float], scale: float, cap: float) -> float:
    """Pixels the gaps (µs) take at ``scale`` pixels per µs, each between :data:`MIN_STEP`
    and ``cap``."""
    return sum(min(max(g * scale, MIN_STEP), cap) for g in gaps)


def _largest(fits: Callable[[float], bool], lo: float, hi: float) -> float:
    """The largest value in [lo, hi] that ``fits`` (which holds up to some point), or
    ``lo``."""
    if fits(hi):
        return hi
    for _ in range(50):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


class _Scale:
    """Time → x: linear at :attr:`scale` pixels per µs, each gap between consecutive event
    times taking at least :data:`MIN_STEP` pixels.

    When the whole trace fits :data:`WIDTH` at a scale that gives the median gap
    :data:`READABLE` pixels, it is linear. Otherwise the longest gaps are cut short to
    ``cap`` pixels (:data:`CAP` to twice that), as few as make it fit :data:`WIDTH` at that
    scale, and the scale then grows to fill :data:`WIDTH` (or shrinks to fit
    :data:`MAX_WIDTH`). The gaps cut short are :attr:`broken`."""

    def __init__(self, times: list[int]) -> None:
        self.times = sorted(set(times))
        gaps = [(b - a) / 1000 for a, b in zip(self.times, self.times[1:], strict=False)]
        target = max(WIDTH, 2 * MIN_STEP * len(gaps))
        linear = _largest(lambda s: _width(gaps, s, math.inf) <= target, 0.0, MAX_SCALE)
        wanted = min(READABLE / statistics.median(gaps), MAX_SCALE) if gaps else MAX_SCALE
        scale, cap = linear, math.inf
        if linear < wanted:
            cap = _largest(lambda c: _width(gaps, wanted, c) <= target, CAP, 2 * CAP)
            room = min(max(target, _width(gaps, wanted, cap)), MAX_WIDTH)
            scale = _largest(lambda s: _width(gaps, s, cap) <= room, 0.0, MAX_SCALE)
        self.scale = scale or MAX_SCALE
        self.broken = [g * self.scale > cap for g in gaps]
        self.xs = list(accumulate((min(max(g * self.scale, MIN_STEP), cap) for g in gaps),
                                  initial=0.0))

    @property
    def width(self) -> float:
        """Pixels from the first event to the last."""
        return self.xs[-1]

    def x(self, ts: float) -> float:
        """The position of time ``ts`` (ns)."""
        times, xs = self.times, self.xs
        i = min(max(bisect_right(times, ts) - 1, 0), len(times) - 1)
        if i == len(times) - 1:
            return xs[i]
        return xs[i] + (ts - times[i]) / (times[i + 1] - times[i]) * (xs[i + 1] - xs[i])

    def ticks(self) -> list[float]:
        """Tick times (µs since the first event) at round steps, none inside a cut gap,
        at least :data:`TICK` pixels apart."""
        step = _nice(TICK / self.scale)
        t0, out, last = self.times[0], [], -math.inf
        runs, begin = [], self.times[0]
        for i, broken in enumerate(self.broken):
            if broken:
                runs.append((begin, self.times[i]))
                begin = self.times[i + 1]
        runs.append((begin, self.times[-1]))
        for a, b in runs:
            for k in range(math.ceil((a - t0) / 1000 / step - 1e-9),
                           math.floor((b - t0) / 1000 / step + 1e-9) + 1):
                x = self.x(t0 + k * step * 1000)
                if x - last >= TICK * 0.8:
                    out.append(k * step)
                    last = x
        return out


def _nice(x: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10^k that is at least ``x``."""
    power = 10.0 ** math.floor(math.log10(x))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= x * (1 - 1e-9))


def _at(ts: float, t0: int) -> str:
    """``+12.5 µs``: the time since the first event, as the explanations write it."""
    return f"+{(ts - t0) / 1000:.1f} µs"


def _event_text(e: dict[str, Any], t0: int) -> str:
    """The event in full: ``+5.8 µs READ by t0: account=a, value=30, version=t1, …``."""
    rest = ", ".join(f"{k}={v}" for k, v in e.items() if k not in ("event", "txn"))
    return f"{_at(e['ts'], t0)} {e['event']} by {e['txn']}: {rest}"


def _mark_label(e: dict[str, Any]) -> str:
    """``R a@t1=30`` or ``W a=45 (replaced t1)`` (versions only when recorded)."""
    account = e.get("account", "?")
    if e["event"] == READ:
        version = f"@{e['version']}" if e.get("version") is not None else ""
        text = f"R {account}{version}={e.get('value', '?')}"
    else:
        replaced = f" (replaced {e['replaced']})" if e.get("replaced") is not None else ""
        text = f"W {account}={e.get('value', '?')}{replaced}"
    return text if len(text) <= LABEL_CHARS else text[:LABEL_CHARS - 1] + "…"


def _op(op: dict[str, Any]) -> str:
    """``transfer from=a to=b amount=10``."""
    return " ".join([str(op.get("op", "?")), *(f"{k}={v}" for k, v in op.items() if k != "op")])


def _ops(batch: dict[str, Any]) -> dict[str, str]:
    """Transaction id → its operations in words."""
    return {str(tx.get("id")): "; ".join(_op(op) for op in tx.get("ops", [])
                                         if isinstance(op, dict))
            for tx in batch.get("transactions", []) if isinstance(tx, dict)}


def _failing(ce: dict[str, Any]) -> list[dict[str, Any]]:
    """The failing verdicts with a counterexample."""
    return [v for v in ce.get("verdicts", []) if not v.get("ok", True)
            and isinstance(v.get("counterexample"), dict)]


def _arrows(ce: dict[str, Any]) -> list[_Arrow]:
    """The edges of the failing verdicts' violations, each once, with the lines that give
    it (counterexamples written before violations had edges give none)."""
    arrows: dict[tuple[str, str, str, str | None], _Arrow] = {}
    for verdict in _failing(ce):
        violation = verdict["counterexample"]
        for edge in violation.get("edges") or ():
            if not isinstance(edge, list | tuple) or len(edge) < 3:
                continue
            source, target, kind = map(str, edge[:3])
            account = str(edge[3]) if len(edge) > 3 and edge[3] is not None else None
            arrow = arrows.setdefault((source, target, kind, account),
                                      _Arrow(source, target, kind, account))
            prefix = f"{source} → {target} ({kind})"
            said = [d for d in violation.get("details", ()) if str(d).startswith(prefix)]
            arrow.reasons.append(f"{verdict.get('property')}, {violation.get('anomaly')}: "
                                 + (" ".join(said) if said else violation.get("message", "")))
    return list(arrows.values())


class _Labels:
    """Mark labels of one row, staggered on four lines (above the bar, below it, then
    further out) so that they never overlap; a label that fits on none is left to the
    tooltip."""

    ORDER = (0, 2, 1, 3)

    def __init__(self) -> None:
        self.right = [-math.inf] * 4

    def place(self, x: float, width: float) -> int | None:
        """The line a label from ``x`` of ``width`` pixels goes on, or None."""
        for level in self.ORDER:
            if x >= self.right[level] + 6:
                self.right[level] = x + width
                return level
        return None


def timeline_svg(ce: dict[str, Any]) -> str:
    """The timeline of counterexample ``ce`` (the content of ``counterexample.json``) as an
    ``<svg>`` element, drawn at its natural size (see :func:`scroll_box`)."""
    trace = [e for e in ce.get("trace", []) if isinstance(e, dict) and "txn" in e
             and isinstance(e.get("ts"), int | float)]
    attempts = _attempts(trace)
    if not attempts:
        return ('<svg xmlns="http://www.w3.org/2000/svg" class="aethel-timeline" width="320" '
                'height="30" viewBox="0 0 320 30" role="img" aria-label="empty timeline">'
                f'<style>{_STYLE}</style><text x="4" y="19">The trace has no events.</text>'
                "</svg>")
    return _Drawing(ce, attempts, min(e["ts"] for e in trace)).svg()


class _Drawing:
    """Lays out and draws one timeline."""

    def __init__(self, ce: dict[str, Any], attempts: list[_Attempt], t0: int) -> None:
        self.attempts = attempts
        self.rows = _rows(attempts)
        self.t0 = t0
        self.scale = _Scale([ts for a in attempts
                             for ts in (a.start, a.end, *(e["ts"] for e in a.marks))])
        self.ops = _ops(ce.get("batch") or {})
        self.named: dict[str, list[str]] = {}
        for verdict in _failing(ce):
            violation = verdict["counterexample"]
            for txn in violation.get("txns", ()):
                self.named.setdefault(str(txn), []).append(
                    f"{verdict.get('property')} ({violation.get('anomaly')})")
        ran = {a.txn for a in attempts}
        self.arrows = [a for a in _arrows(ce) if {a.source, a.target} <= ran]
        self.undrawn = [f"{a.source} → {a.target} ({a.kind}): "
                        f"{a.source if a.source not in ran else a.target} has no events"
                        for a in _arrows(ce) if not {a.source, a.target} <= ran]
        self.hidden = 0
        self.outside: list[tuple[_Attempt, str]] = []  # names of bars too short to hold them
        self.points: dict[int, tuple[float, float]] = {}  # id of a READ or WRITE → its mark
        self.left = GUTTER + 14
        self.right = self.left + self.scale.width
        self.legend_parts, legend_height = self.legend()
        self.top = legend_height + 30

    def x(self, ts: float) -> float:
        """The position of time ``ts`` (ns)."""
        return self.left + self.scale.x(ts)

    def bar_top(self, row: int) -> float:
        """The top of the bars of ``row``."""
        return self.top + row * ROW + 2 * LEVEL + 6

    def svg(self) -> str:
        """The whole drawing."""
        legend = self.legend_parts
        body = [*self.backgrounds(), *self.bars()]
        labels = self.marks()
        arrows = self.edges()
        bottom = self.top + len(self.rows) * ROW
        axis, axis_height = self.axis(bottom)
        width = math.ceil(max(self.right + 16, LEGEND_WIDTH + 12))
        height = math.ceil(bottom + axis_height)
        parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" class="aethel-timeline" width="{width}" '
            f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="{escape(self.summary())}">',
            f"<style>{_STYLE}</style>", _DEFS, *legend, *body, *arrows, *labels, *axis, "</svg>",
        ]
        return "".join(parts)

    def summary(self) -> str:
        """What the drawing shows, in one sentence (for screen readers)."""
        txns = len({a.txn for a in self.attempts})
        return (f"Timeline of {txns} transactions on {len({r[0] for r in self.rows})} workers"
                f"; {len(self.arrows)} edges of the violation")

    def backgrounds(self) -> list[str]:
        """Shading per worker, row labels and the bands of the gaps cut short."""
        out = []
        height = len(self.rows) * ROW
        workers = sorted({w for w, _ in self.rows})
        for i, (worker, lane) in enumerate(self.rows):
            y = self.top + i * ROW
            lanes = sum(1 for w, _ in self.rows if w == worker)
            if workers.index(worker) % 2 == 0:
                out.append(f'<rect x="0" y="{y}" width="100%" height="{ROW}" fill="{PALE}"/>')
            centre = self.bar_top(i) + BAR / 2
            out.append(f'<text x="8" y="{centre + 4:.1f}">worker {escape(str(worker))}</text>')
            if lanes > 1:
                out.append(f'<text class="tl-note" x="8" y="{centre + 18:.1f}">'
                           f"lane {lane + 1} of {lanes}</text>")
        times, xs = self.scale.times, self.scale.xs
        for i, broken in enumerate(self.scale.broken):
            if broken:
                gap = times[i + 1] - times[i]
                x0, x1 = self.left + xs[i] + 4, self.left + xs[i + 1] - 4
                out.append(
                    f'<g class="tl-cut"><title>No event for {escape(duration(gap))} '
                    f"({_at(times[i], self.t0)} to {_at(times[i + 1], self.t0)}): cut "
                    f"short</title><rect x=\"{x0:.1f}\" y=\"{self.top}\" "
                    f'width="{x1 - x0:.1f}" height="{height}" fill="#e6e9ef"/></g>')
        return out

    def bars(self) -> list[str]:
        """One bar per attempt, its end mark and its outline if a violation names it."""
        out = []
        for a in self.attempts:
            x0, x1 = self.x(a.start), self.x(a.end)
            width = max(x1 - x0, 3)
            y = self.bar_top(a.row)
            kind = ("tl-retried" if a.retried and a.outcome == ABORT else
                    {COMMIT: "tl-committed", ABORT: "tl-aborted"}.get(a.outcome, "tl-open"))
            fill = {"tl-retried": "url(#aethel-tl-retry)", "tl-committed": BLUE,
                    "tl-aborted": VERMILLION, "tl-open": GREY}[kind]
            dash = ' stroke-dasharray="4 2"' if a.outcome != COMMIT else ""
            named = a.txn in self.named
            classes = f"tl-bar {kind}{' tl-named' if named else ''}"
            parts = [f'<g class="{classes}" data-txn="{escape(a.txn)}" data-attempt="{a.number}">'
                     f"<title>{escape(self.bar_title(a))}</title>",
                     f'<rect x="{x0:.1f}" y="{y}" width="{width:.1f}" height="{BAR}" rx="2" '
                     f'fill="{fill}" stroke="{INK}" stroke-width="1"{dash}/>']
            if named:
                parts.append(f'<rect class="tl-outline" x="{x0 - 3:.1f}" y="{y - 3}" '
                             f'width="{width + 6:.1f}" height="{BAR + 6}" rx="4" fill="none" '
                             f'stroke="#000" stroke-width="3"/>')
            first_mark = min((self.x(e["ts"]) for e in a.marks if e["ts"] >= a.start),
                             default=x0 + width)
            room = min(first_mark, x0 + width) - x0 - 8
            name = a.txn if a.of == 1 else f"{a.txn} #{a.number}"
            if len(name) * CHAR <= room:
                halo = " tl-halo" if kind == "tl-retried" else ""
                parts.append(f'<text class="tl-name{halo}" x="{x0 + 4:.1f}" y="{y + 14}">'
                             f"{escape(name)}</text>")
            else:
                self.outside.append((a, name))
            parts.append("</g>")
            out.append("".join(parts))
            if a.last is not None:
                out.append(self.end_mark(a.last, x0 + width, y))
        return out

    def bar_title(self, a: _Attempt) -> str:
        """Transaction, operations, outcome, times and the violations naming it."""
        reason = a.last.get("reason") if a.last else None
        outcome = {COMMIT: "committed", ABORT: "aborted"}.get(a.outcome,
                                                               "no COMMIT or ABORT recorded")
        if a.retried and a.outcome == ABORT:
            outcome = "aborted, run again"
        if reason:
            outcome += f": {reason}"
        head = f"{a.txn}: {outcome}" + (f" (attempt {a.number} of {a.of})" if a.of > 1 else "")
        begin = "START" if a.first is not None else "first event (no START)"
        end = f"{a.outcome or 'last event'} {_at(a.end, self.t0)}"
        lines = [head, self.ops.get(a.txn, "operations unknown"),
                 f"worker {a.worker}; {begin} {_at(a.start, self.t0)}, {end} "
                 f"({duration(a.end - a.start)})"]
        if a.txn in self.named:
            lines.append("named by " + "; ".join(self.named[a.txn]))
        return "\n".join(lines)

    def end_mark(self, end: dict[str, Any], x: float, y: float) -> str:
        """A bar at a COMMIT, a cross at an ABORT."""
        title = f"<title>{escape(_event_text(end, self.t0))}</title>"
        if end["event"] == COMMIT:
            shape = (f'<line x1="{x:.1f}" y1="{y - 5}" x2="{x:.1f}" y2="{y + BAR + 5}" '
                     f'stroke="{INK}" stroke-width="3"/>')
        else:
            c, r = y + BAR / 2, 6
            shape = (f'<path d="M{x - r:.1f},{c - r} L{x + r:.1f},{c + r} M{x - r:.1f},{c + r} '
                     f'L{x + r:.1f},{c - r}" stroke="#fff" stroke-width="5"/>'
                     f'<path d="M{x - r:.1f},{c - r} L{x + r:.1f},{c + r} M{x - r:.1f},{c + r} '
                     f'L{x + r:.1f},{c - r}" stroke="{INK}" stroke-width="2.5"/>')
        return f'<g class="tl-end tl-{end["event"].lower()}">{title}{shape}</g>'

    def marks(self) -> list[str]:
        """READ and WRITE marks, and their labels staggered per row."""
        shapes, labels = [], []
        placers = [_Labels() for _ in self.rows]
        items: list[tuple[float, int, _Attempt, dict[str, Any] | None, str]] = [
            (self.x(a.start), 0, a, None, name) for a, name in self.outside]
        items += [(self.x(e["ts"]), 1, a, e, _mark_label(e))
                  for a in self.attempts for e in a.marks]
        for x, _, a, e, text in sorted(items, key=lambda item: item[:2]):
            top = self.bar_top(a.row)
            weight = ' font-weight="bold"' if e is None else ""
            if e is not None:
                self.points[id(e)] = (x, top + BAR / 2)
                shapes.append(self.mark(e, x, top + BAR / 2))
            width = 3 + len(text) * CHAR
            level = placers[a.row].place(x, width)
            if level is None:
                self.hidden += 1
                continue
            self.right = max(self.right, x + width)
            if level < 2:
                baseline = top - 8 - level * LEVEL
                leader = (top, baseline + 2)
            else:
                baseline = top + BAR + 16 + (level - 2) * LEVEL
                leader = (top + BAR, baseline - 9)
            labels.append(f'<line x1="{x:.1f}" y1="{leader[0]}" x2="{x:.1f}" y2="{leader[1]}" '
                          f'stroke="{GREY}" stroke-width="0.75"/>'
                          f'<text class="tl-mono tl-halo" x="{x + 3:.1f}" y="{baseline}"'
                          f"{weight}>"
                          f"{escape(text)}</text>")
        return [*shapes, *labels]

    def mark(self, e: dict[str, Any], x: float, y: float) -> str:
        """A READ as a white circle, a WRITE as a dark diamond."""
        title = f"<title>{escape(_event_text(e, self.t0))}</title>"
        if e["event"] == READ:
            shape = (f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4.5" fill="#fff" stroke="{INK}" '
                     'stroke-width="1.5"/>')
        else:
            shape = (f'<path d="M{x:.1f},{y - 6:.1f} L{x + 6:.1f},{y:.1f} L{x:.1f},{y + 6:.1f} '
                     f'L{x - 6:.1f},{y:.1f} z" fill="{INK}" stroke="#fff" stroke-width="1.5"/>')
        return f'<g class="tl-mark tl-{e["event"].lower()}">{title}{shape}</g>'

    def anchor(self, txn: str, kind: str, account: str | None, source: bool
               ) -> tuple[float, float]:
        """Where an edge leaves (``source``) or enters a transaction: the READ or WRITE of
        the account the edge names, else the top corner of its last attempt's bar at its end
        (leaving) or START (entering; its first attempt's, for a dependency: order counts
        from the first START)."""
        mine = [a for a in self.attempts if a.txn == txn]
        event = {("ww", True): WRITE, ("ww", False): WRITE, ("wr", True): WRITE,
                 ("wr", False): READ, ("rw", True): READ, ("rw", False): WRITE}.get(
                     (kind, source))
        if event is not None and account is not None:
            for a in reversed(mine):
                for e in a.marks:
                    if e["event"] == event and e.get("account") == account:
                        return self.points[id(e)]
        a = mine[0] if kind == "order" and not source else mine[-1]
        return self.x(a.end if source else a.start), self.bar_top(a.row) - 3

    def edges(self) -> list[str]:
        """The violations' edges as curved arrows with their kind."""
        out = []
        seen: dict[tuple[str, str], int] = {}
        for arrow in self.arrows:
            p = self.anchor(arrow.source, arrow.kind, arrow.account, True)
            q = self.anchor(arrow.target, arrow.kind, arrow.account, False)
            pair = (min(arrow.source, arrow.target), max(arrow.source, arrow.target))
            k = seen[pair] = seen.get(pair, -1) + 1
            out.append(self.arrow(arrow, p, q, k))
        return out

    def arrow(self, arrow: _Arrow, p: tuple[float, float], q: tuple[float, float], k: int
              ) -> str:
        """One curved arrow p → q bowing to its left, further for the ``k``-th edge between
        the same two transactions, with its kind at the middle."""
        (x0, y0), (x1, y1) = p, q
        dx, dy = x1 - x0, y1 - y0
        length = math.hypot(dx, dy)
        if length < 8:
            c1, c2 = (x0 - 24, y0 - 40 - 10 * k), (x0 + 24, y0 - 40 - 10 * k)
            path = f"M{x0:.1f},{y0:.1f} C{c1[0]:.1f},{c1[1]:.1f} {c2[0]:.1f},{c2[1]:.1f} " \
                   f"{x1:.1f},{y1:.1f}"
            mid = (x0, y0 - 30 - 7.5 * k)
        else:
            bow = min(24 + 0.15 * length, 70) + 16 * k
            cx = (x0 + x1) / 2 + dy / length * bow
            cy = max((y0 + y1) / 2 - dx / length * bow, self.top - 20)
            ex, ey = x1 - cx, y1 - cy
            norm = math.hypot(ex, ey) or 1
            x1, y1 = x1 - ex / norm * 6, y1 - ey / norm * 6  # stop at the mark's edge
            path = f"M{x0:.1f},{y0:.1f} Q{cx:.1f},{cy:.1f} {x1:.1f},{y1:.1f}"
            mid = (0.25 * x0 + 0.5 * cx + 0.25 * x1, 0.25 * y0 + 0.5 * cy + 0.25 * y1)
        dash = DASHES.get(arrow.kind, "")
        dashes = f' stroke-dasharray="{dash}"' if dash else ""
        on = f" on {arrow.account}" if arrow.account else ""
        title = "\n".join([f"{arrow.source} → {arrow.target} ({arrow.kind}){on}",
                           *arrow.reasons])
        return (f'<g class="tl-edge tl-edge-{escape(arrow.kind)}" '
                f'data-edge="{escape(arrow.source)} {escape(arrow.target)} '
                f'{escape(arrow.kind)}"><title>{escape(title)}</title>'
                f'<path d="{path}" fill="none" stroke="#fff" stroke-width="4.5" '
                'stroke-opacity="0.85"/>'
                f'<path d="{path}" fill="none" stroke="{INK}" stroke-width="1.6"{dashes} '
                'stroke-linecap="round" marker-end="url(#aethel-tl-head)"/>'
                f'<text class="tl-halo" x="{mid[0]:.1f}" y="{mid[1] + 4:.1f}" '
                f'text-anchor="middle" font-weight="bold">{escape(arrow.kind)}</text></g>')

    def axis(self, y: float) -> tuple[list[str], float]:
        """The time axis under the rows: ticks, the gaps cut short, and a note on what
        only the tooltips show."""
        out = [f'<line x1="{self.left}" y1="{y + 6}" x2="{self.right:.1f}" y2="{y + 6}" '
               f'stroke="{INK}"/>']
        for t in self.scale.ticks():
            x = self.x(self.t0 + t * 1000)
            out.append(f'<line x1="{x:.1f}" y1="{y + 6}" x2="{x:.1f}" y2="{y + 11}" '
                       f'stroke="{INK}"/><text x="{x:.1f}" y="{y + 23}" text-anchor="middle">'
                       f"+{t:.1f} µs</text>")
        times, xs = self.scale.times, self.scale.xs
        for i, broken in enumerate(self.scale.broken):
            if broken:
                x = self.left + (xs[i] + xs[i + 1]) / 2
                out.append(f'<path d="M{x - 5:.1f},{y + 12} L{x - 1:.1f},{y} M{x + 1:.1f},'
                           f'{y + 12} L{x + 5:.1f},{y}" stroke="{INK}" stroke-width="1.5"/>'
                           f'<text class="tl-note" x="{x:.1f}" y="{y + 37}" '
                           f'text-anchor="middle">{escape(duration(times[i + 1] - times[i]))} '
                           "cut</text>")
        notes = ["Time since the first event of the trace. Hover a bar, mark or arrow for "
                 "details."]
        if self.hidden:
            notes.append(f"{self.hidden} labels that would overlap are shown on hover only.")
        notes += [f"Not drawn: {line}." for line in self.undrawn]
        for i, note in enumerate(notes):
            out.append(f'<text class="tl-note" x="8" y="{y + 56 + i * LEVEL}">'
                       f"{escape(note)}</text>")
        self.right = max(self.right, 8 + max(len(n) for n in notes) * CHAR)
        return out, 64 + len(notes) * LEVEL

    def legend(self) -> tuple[list[str], float]:
        """Exactly what is drawn, wrapped within :data:`LEGEND_WIDTH`."""
        outcomes = {("tl-retried" if a.retried and a.outcome == ABORT else a.outcome)
                    for a in self.attempts}
        marks = [e for a in self.attempts for e in a.marks]
        kinds = {e["event"] for e in marks}
        versions = any(e.get("version", e.get("replaced")) is not None for e in marks)
        items: list[tuple[str, str]] = []
        bar = '<rect x="0" y="-9" width="22" height="12" rx="2" fill="{}" stroke="' + INK + \
            '"{}/>'
        if COMMIT in outcomes:
            items.append((bar.format(BLUE, "") + f'<line x1="22" y1="-12" x2="22" y2="6" '
                          f'stroke="{INK}" stroke-width="3"/>', "committed (bar at COMMIT)"))
        if ABORT in outcomes:
            items.append((bar.format(VERMILLION, ' stroke-dasharray="4 2"') +
                          f'<path d="M17,-9 L27,3 M17,3 L27,-9" stroke="{INK}" '
                          'stroke-width="2.5"/>', "aborted (cross at ABORT)"))
        if "tl-retried" in outcomes:
            items.append((bar.format("url(#aethel-tl-retry)", ' stroke-dasharray="4 2"'),
                          "aborted attempt, run again"))
        if "" in outcomes:
            items.append((bar.format(GREY, ' stroke-dasharray="4 2"'),
                          "no COMMIT or ABORT recorded"))
        if any(a.txn in self.named for a in self.attempts):
            items.append(('<rect x="1" y="-9" width="22" height="12" rx="3" fill="none" '
                          'stroke="#000" stroke-width="3"/>', "named by the violation"))
        if READ in kinds:
            items.append((f'<circle cx="11" cy="-3" r="4.5" fill="#fff" stroke="{INK}" '
                          'stroke-width="1.5"/>',
                          f"READ account{'@version' if versions else ''}=value"))
        if WRITE in kinds:
            items.append((f'<path d="M11,-9 L17,-3 L11,3 L5,-3 z" fill="{INK}"/>',
                          f"WRITE account=value{' (replaced version)' if versions else ''}"))
        for kind in sorted({a.kind for a in self.arrows}, key=lambda k: (k not in DASHES, k)):
            dash = DASHES.get(kind, "")
            dashes = f' stroke-dasharray="{dash}"' if dash else ""
            items.append((f'<line x1="0" y1="-3" x2="20" y2="-3" stroke="{INK}" '
                          f'stroke-width="1.6"{dashes} marker-end="url(#aethel-tl-head)"/>',
                          MEANINGS.get(kind, f"{kind}: an edge of the violation")))
        if any(self.scale.broken):
            items.append(('<rect x="0" y="-9" width="22" height="12" fill="#e6e9ef"/>',
                          "time without events, cut short"))
        out, x, line = [], 8.0, 0
        for swatch, text in items:
            width = 34 + len(text) * CHAR
            if x > 8 and x + width > LEGEND_WIDTH:
                x, line = 8.0, line + 1
            y = 18 + line * 18
            out.append(f'<g class="tl-legend" transform="translate({x:.1f},{y})">{swatch}'
                       f'<text x="34" y="0">{escape(text)}</text></g>')
            x += width + 16
        return out, 18 + line * 18
