"""Building blocks for self-contained HTML reports (and their Markdown twins).

A page is one HTML file: inline CSS and inline SVG, no scripts and no external URLs, so it
opens anywhere and can be attached to a CI run. Wide tables scroll inside their own
container and preformatted text wraps, so a page reads at 500 px as at 1400 px. Every
report names the Aethel version, the commit and the command line that made it
(:func:`provenance`).
"""

from __future__ import annotations

import html
import os
import shlex
import subprocess
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

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
p, li, code { overflow-wrap: anywhere; }
.scroll td:not(.text) { white-space: nowrap; }
.scroll td.wide { min-width: 15em; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #f7f9fc;
      border: 1px solid #e3e7ee; border-radius: 4px; padding: 8px 12px; font-size: 0.88em; }
.scroll { overflow-x: auto; max-width: 100%; }
.scroll table { margin-top: 0; }
tr.differs td { background: #fdf1f1; }
tr.differs td.mark { color: #9c1c1c; font-weight: 600; }
.banner { border-radius: 6px; padding: 12px 18px; margin: 8px 0 18px; font-size: 1.08em; }
.banner.ok { background: #e3f5e6; border: 2px solid #2f8f46; color: #17642a; }
.banner.bad { background: #fde6e6; border: 2px solid #c0392b; color: #9c1c1c; }
.banner.warn { background: #fff4d6; border: 2px solid #b7791f; color: #7a4b00; }
.banner strong { font-size: 1.15em; margin-right: 2px; }
@media (max-width: 640px) { main { padding: 16px 12px 48px; } h1 { font-size: 1.4em; } }
"""


def escape(value: Any) -> str:
    """HTML-escape ``value`` (anything, via ``str``)."""
    return html.escape(str(value), quote=True)


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


def scroll(block: str) -> str:
    """``block`` (a table) in a container that scrolls sideways when the page is narrower."""
    return f'<div class="scroll">{block}</div>'


def banner(kind: str, headline: str, text: str) -> str:
    """A coloured verdict block: ``kind`` is ``ok`` (green), ``bad`` (red) or ``warn``."""
    return f'<div class="banner {kind}"><strong>{escape(headline)}</strong> {escape(text)}</div>'


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


def markdown_aligned(headers: Sequence[str], rows: Iterable[Sequence[Any]],
                     numeric: Sequence[int]) -> str:
    """A Markdown table whose columns in ``numeric`` are right-aligned."""
    lines = markdown_table(headers, rows).split("\n")
    lines[1] = "|" + "|".join("---:" if j in numeric else "---"
                              for j in range(len(headers))) + "|"
    return "\n".join(lines)


PACKAGE = "aethel-synchrony"
GIT_TIMEOUT = 2.0
"""Seconds ``git rev-parse`` may take before the commit is reported as unknown."""


def provenance() -> dict[str, str | None]:
    """What made a report: the installed version of :data:`PACKAGE`, the commit of the
    checkout the harness runs from (None outside a git checkout, or when git is missing or
    slow) and the command line."""
    try:
        version: str | None = metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        version = None
    return {"version": version, "commit": _commit(), "command": command_line()}


def _commit() -> str | None:
    checkout = Path(__file__).resolve().parents[2]
    if not (checkout / "pyproject.toml").is_file():
        return None  # an installed copy, not a checkout (not some enclosing repository's)
    try:
        done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=checkout,
                              capture_output=True, text=True, timeout=GIT_TIMEOUT, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else None


def command_line() -> str:
    """This process's command line, as typed: ``aethel verify …`` for the installed command,
    ``python -m harness.cli verify …`` for the module."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    head = (["python", "-m", spec.name.removesuffix(".__main__")] if spec is not None
            else [Path(sys.argv[0]).name])
    return shlex.join([*head, *sys.argv[1:]])


def provenance_line(made: dict[str, Any] | None, markdown: bool = False) -> str:
    """``aethel-synchrony 0.1.0, commit 1a2b3c4; command: aethel verify …`` (parts not
    recorded are said to be); ``markdown``: the command in backticks."""
    version, commit, command = _provenance_parts(made)
    shown = (f"`{command}`" if markdown else command) if command else "not recorded"
    return f"{PACKAGE} {version}, {commit}; command: {shown}"


def provenance_html(made: dict[str, Any] | None) -> str:
    """:func:`provenance_line` as a paragraph, the command in ``<code>``."""
    version, commit, command = _provenance_parts(made)
    shown = f"<code>{escape(command)}</code>" if command else "not recorded"
    return (f'<p class="subtitle">{escape(PACKAGE)} {escape(version)}, {escape(commit)}; '
            f"command: {shown}</p>")


def _provenance_parts(made: dict[str, Any] | None) -> tuple[str, str, str | None]:
    made = made or {}
    version = made.get("version") or "version not recorded"
    commit = f"commit {made['commit']}" if made.get("commit") else "commit not known"
    return version, commit, made.get("command")
