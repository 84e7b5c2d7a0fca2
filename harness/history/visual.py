"""A history drawn as an HTML page with inline SVG (no JavaScript): one row per process,
each operation a bar from its call to its return, numbered in the order found (the
partial linearization), the operation that cannot take effect in red, and a legend. A
partition that is not linearizable is drawn first around its failure (the last operations
of the order found, the culprit and whatever overlaps them), then whole."""

from __future__ import annotations

import math
from html import escape

from harness.history.explain import explain
from harness.history.model import describe, show
from harness.history.operations import Operation
from harness.history.wgl import PartitionResult, Result

DRAWN = 12
"""Partitions drawn at most (violating ones first)."""
FOCUS = 8
"""Operations of the order found that the view around a failure starts with."""
_ROW, _TOP, _LEFT, _STEP, _FOCUS_STEP, _CHAR = 34, 36, 110, 22, 44, 6

_STYLE = """
body { font: 14px system-ui, sans-serif; margin: 1.5em; color: #222; }
pre { background: #f6f6f6; padding: 0.8em; white-space: pre-wrap; }
.scroll { overflow-x: auto; border: 1px solid #ddd; margin-bottom: 1.5em; }
svg text { font: 11px system-ui, sans-serif; }
.legend span { display: inline-block; margin-right: 1.5em; }
.swatch { display: inline-block; width: 1.6em; height: 0.9em; vertical-align: middle;
          margin-right: 0.4em; border: 1px solid #555; }
"""
_FILL = {"culprit": "#e53935", "linearized": "#81c784", "other": "#cfd8dc"}


def render_html(result: Result, title: str = "history") -> str:
    """The page for ``result`` (``title`` names the history)."""
    ranked = sorted(result.partitions, key=lambda p: p.outcome != "not linearizable")
    drawn = ranked[:DRAWN]
    body = [f"<h1>{escape(title)}: {escape(result.outcome)}</h1>",
            f"<pre>{escape(explain(result))}</pre>", _legend()]
    for part in drawn:
        heading = "all operations" if part.key is None else f"key {show(part.key)}"
        body.append(f"<h2>{escape(heading)}: {escape(part.outcome)}</h2>")
        if part.culprit is not None:
            focus = _around_failure(part)
            body.append(f"<p>Around the failure: the last {min(FOCUS, len(part.prefix))} "
                        f"operations of the order found, the one that cannot take effect "
                        f"and the {len(focus)} operations overlapping them. The whole "
                        f"partition follows.</p>")
            body.append(f'<div class="scroll">{_svg(part, focus, _FOCUS_STEP)}</div>')
        body.append(f'<div class="scroll">{_svg(part, part.operations)}</div>')
    if len(ranked) > len(drawn):
        body.append(f"<p>{len(ranked) - len(drawn)} more partitions are not drawn.</p>")
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def _legend() -> str:
    items = [(_FILL["linearized"], "solid", "took effect, in the numbered order found"),
             (_FILL["culprit"], "solid", "cannot take effect"),
             (_FILL["other"], "solid", "not placed in that order"),
             ("#ffffff", "dashed", "crashed (:info): may take effect any time after its call, "
                                   "or never")]
    spans = [f'<span><i class="swatch" style="background:{fill};border-style:{line}"></i>'
             f"{escape(text)}</span>" for fill, line, text in items]
    return f'<p class="legend">{"".join(spans)}</p>'


def _around_failure(part: PartitionResult) -> list[Operation]:
    """The operations overlapping the span from the call of the first of the last
    :data:`FOCUS` operations of the order found (or of the culprit) to the culprit's
    return."""
    assert part.culprit is not None
    shown = [*part.prefix[-FOCUS:], part.culprit]
    start = min(op.call for op in shown)
    stop = part.culprit.ret
    return [op for op in part.operations if op.call <= stop and op.ret >= start]


def _process_order(process: object) -> tuple[bool, float, str]:
    """Processes in numeric order (0, 1, 2, …, 10), named ones after them."""
    number = isinstance(process, int | float) and not isinstance(process, bool)
    return not number, float(process) if number else 0.0, str(process)  # type: ignore[arg-type]


def _svg(part: PartitionResult, ops: list[Operation], step: int = _STEP) -> str:
    times = sorted({t for op in ops for t in (op.call, op.ret) if t != math.inf})
    rank = {t: i for i, t in enumerate(times)}
    end = len(times) + 1
    processes = sorted({op.process for op in ops}, key=_process_order)
    row = {p: i for i, p in enumerate(processes)}
    order = {op.id: n for n, op in enumerate(part.prefix, 1)}
    width = _LEFT + (end + 1) * step
    height = _TOP + len(processes) * _ROW + 10
    shapes = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">',
              f'<text x="{_LEFT}" y="14">time (order of calls and returns) →</text>']
    for process, y in row.items():
        shapes.append(f'<text x="6" y="{_TOP + y * _ROW + 17}">process '
                      f"{escape(str(process))}</text>")
    for op in ops:
        x1 = _LEFT + rank[op.call] * step
        x2 = _LEFT + (end if op.ret == math.inf else rank[op.ret]) * step + step // 2
        y = _TOP + row[op.process] * _ROW
        kind = "culprit" if part.culprit and op.id == part.culprit.id else \
            "linearized" if op.id in order else "other"
        dashed = ' stroke-dasharray="4 3"' if op.status == "info" else ""
        fill = "#ffffff" if op.status == "info" and kind == "other" else _FILL[kind]
        label = f"{op.f} {show(op.value)}" if op.value is not None else op.f
        number = f"#{order[op.id]} " if op.id in order else ""
        shapes.append(f'<g><title>{escape(describe(op))}</title>'
                      f'<rect x="{x1}" y="{y + 4}" width="{x2 - x1}" height="{_ROW - 10}" '
                      f'rx="3" fill="{fill}" stroke="#455a64"{dashed}/>'
                      f'<text x="{x1 + 4}" y="{y + 18}"><tspan font-weight="bold">'
                      f'{escape(number)}</tspan>'
                      f'{escape(_fit(label, (x2 - x1 - 8) // _CHAR - len(number)))}</text>'
                      "</g>")
    shapes.append("</svg>")
    return "".join(shapes)


def _fit(label: str, chars: int) -> str:
    """``label`` cut to ``chars`` characters, with an ellipsis when cut (the whole operation
    is in the bar's tooltip)."""
    return label if len(label) <= chars else label[:chars - 1] + "…" if chars > 1 else ""
