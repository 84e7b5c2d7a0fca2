"""Building blocks for self-contained HTML reports (and their Markdown twins).

A page is one HTML file: inline CSS, matplotlib figures embedded as base64 PNG, no
scripts and no external URLs, so it opens anywhere and can be attached to a CI run.
Figures are plain :class:`matplotlib.figure.Figure` objects rendered with the Agg
canvas; pyplot's global state is never touched.
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from aethel.errors import EnvironmentFailure
from aethel.files import check_folder


def new_run_dir(parent: Path, prefix: str) -> Path:
    """Create and return a fresh report folder ``parent/<prefix>-<UTC time>-<pid>[-n]``.

    The folder is made here, exclusively, before the run writes anything: two runs started
    in the same second (or in one process) never share a folder, and a folder never holds
    another run's files. A folder that cannot be made or written to is an
    :class:`EnvironmentFailure` naming ``--report``, raised before the run starts."""
    stem = f"{prefix}-{datetime.now(UTC):%Y%m%d-%H%M%S}-{os.getpid()}"
    try:
        parent.mkdir(parents=True, exist_ok=True)
        for n in range(1, 1000):
            directory = parent / (stem if n == 1 else f"{stem}-{n}")
            try:
                directory.mkdir()
            except FileExistsError:
                continue
            check_folder(directory, "--report")
            return directory
    except OSError as exc:
        raise EnvironmentFailure(f"cannot make a report folder in {parent}: {exc.strerror}",
                                 "--report") from None
    raise EnvironmentFailure(f"no free report folder name for {parent / stem}", "--report")


CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
       color: #1d2430; background: #fff; line-height: 1.45; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 64px; }
h1 { font-size: 1.7em; margin: 0 0 4px; }
h2 { font-size: 1.3em; margin: 36px 0 10px; border-bottom: 2px solid #e3e7ee;
     padding-bottom: 4px; }
h3 { font-size: 1.08em; margin: 22px 0 8px; }
p.subtitle { color: #5b6576; margin: 0 0 18px; }
code { background: #f2f4f8; padding: 1px 5px; border-radius: 4px; font-size: 0.92em; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 0.9em; }
th, td { border: 1px solid #d9dee7; padding: 4px 9px; text-align: right; vertical-align: top; }
th { background: #f2f4f8; text-align: center; }
td:first-child, th:first-child { text-align: left; }
td.text { text-align: left; }
tr.ok td.status { background: #e3f5e6; color: #17642a; font-weight: 600; }
tr.bad td.status { background: #fde6e6; color: #9c1c1c; font-weight: 600; }
tr.na td.status { background: #f2f4f8; color: #5b6576; }
figure { margin: 12px 0 24px; }
figure img { max-width: 100%; height: auto; border: 1px solid #e3e7ee; }
figcaption { color: #5b6576; font-size: 0.9em; margin-top: 4px; }
details { margin: 6px 0; }
summary { cursor: pointer; font-weight: 600; }
.note { background: #f7f9fc; border-left: 4px solid #7a8bb0; padding: 8px 14px; margin: 12px 0; }
"""


def escape(value: Any) -> str:
    """HTML-escape ``value`` (anything, via ``str``)."""
    return html.escape(str(value), quote=True)


def figure_data_uri(fig: Figure, dpi: int = 100) -> str:
    """The figure as a ``data:image/png;base64,...`` URI."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def figure_html(fig: Figure, alt: str, caption: str | None = None, dpi: int = 100) -> str:
    """An embedded figure with alt text and an optional caption."""
    cap = f"<figcaption>{escape(caption)}</figcaption>" if caption else ""
    return (f'<figure><img alt="{escape(alt)}" src="{figure_data_uri(fig, dpi)}">'
            f"{cap}</figure>")


def table_html(headers: Sequence[str], rows: Iterable[Sequence[Any]],
               row_classes: Sequence[str] | None = None,
               cell_classes: Sequence[str] | None = None) -> str:
    """A table; cells are escaped. ``row_classes[i]`` styles row i, ``cell_classes[j]``
    column j (e.g. ``"text"`` to left-align, ``"status"`` for ok/bad colouring)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        cells = "".join(
            f'<td class="{cell_classes[j]}">{escape(c)}</td>' if cell_classes and
            cell_classes[j] else f"<td>{escape(c)}</td>" for j, c in enumerate(row))
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def paragraph(text: str, css_class: str | None = None) -> str:
    """An escaped paragraph."""
    cls = f' class="{css_class}"' if css_class else ""
    return f"<p{cls}>{escape(text)}</p>"


def section(title: str, *parts: str, level: int = 2) -> str:
    """A heading followed by already-rendered parts."""
    return f"<section><h{level}>{escape(title)}</h{level}>{''.join(parts)}</section>"


def details(summary: str, *parts: str) -> str:
    """A collapsible block."""
    return f"<details><summary>{escape(summary)}</summary>{''.join(parts)}</details>"


def page_html(title: str, parts: Iterable[str], subtitle: str | None = None) -> str:
    """A complete, self-contained HTML document."""
    sub = f'<p class="subtitle">{escape(subtitle)}</p>' if subtitle else ""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{escape(title)}</title><style>{CSS}</style></head>"
            f"<body><main><h1>{escape(title)}</h1>{sub}{''.join(parts)}</main></body></html>\n")


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A GitHub-flavoured Markdown table (pipes in cells are escaped)."""
    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(cell(h) for h in headers) + " |",
             "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def status_class(met: bool | None) -> str:
    """Row class for a pass/fail/not-measured status."""
    return "na" if met is None else ("ok" if met else "bad")


def status_text(met: bool | None) -> str:
    """Words for a pass/fail/not-measured status."""
    return "not measured" if met is None else ("met" if met else "missed")
