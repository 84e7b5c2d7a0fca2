"""``bench.json``, ``bench.md`` and ``index.html`` from a benchmark document.

Both pages open with the verdict ("N of M targets met"), then the comparison with the peers
(what a user would write instead: a bare process pool, Dask), then the targets, one narrow table
per backend (at most seven columns, so it fits GitHub's width), the figures (HTML only:
inline SVG, colour-blind-safe palettes, ratios on log scales centred on 1), latency, and
every measured cell. The HTML page has no scripts; wide tables scroll inside their own
container and figures shrink to the window, so it reads at 500 px as at 1400 px.
"""

from __future__ import annotations

import io
import json
import math
import re
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import rc_context
from matplotlib.colors import LinearSegmentedColormap, LogNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from aethel.executor import SCHEDULES
from aethel.files import write_atomic
from harness.bench.summary import PARALLEL_BACKENDS, find_cell, headline
from harness.bench.targets import schedule_ratios, tally
from harness.report.common import (
    details,
    escape,
    markdown_table,
    page_html,
    paragraph,
    section,
    table_html,
)

COLORS = {"thread": "#0072B2", "process": "#E69F00", "ceiling": "#009E73"}
"""Okabe–Ito colours, told apart with every common colour-vision deficiency."""
MARKERS = {"thread": "o", "process": "s"}
HATCHES = {"thread": "", "process": "///"}
DIVERGING = LinearSegmentedColormap.from_list(
    "orange_blue", ["#b35806", "#f1a340", "#f7f7f7", "#67a9cf", "#2166ac"])
"""Orange below 1, blue above: a colour-blind-safe diverging palette."""

NOT_TESTS = ("Benchmarks are not tests: the test suite never asserts these targets, so a "
             "missed target is reported here and does not fail a build.")

HONESTY = (
    "CPython 3.11 has a global interpreter lock: pure-Python CPU work (the cpu-*, contention "
    "and dag workloads, which spin in Python) runs one thread at a time, so the thread "
    "backend cannot speed it up and only the process backend scales it. Threads scale on "
    "work that releases the GIL (hash) or waits (sleep). Every speedup below is a ratio to "
    "the serial backend measured in the same run, repetition by repetition; nothing is "
    "extrapolated. The ceiling is what W independent processes doing the same work with no "
    "communication achieved at the same time: on a shared machine it, not W, is the honest "
    "limit.")

STATUS_WORDS = {"met": "✅ met", "missed": "❌ missed", "not judged": "not judged",
                "not measured": "not measured"}
"""Markdown statuses: GitHub shows the emoji."""
PAGE_MARKS = str.maketrans("✅❌", "✓✗")
"""The HTML page's marks: text glyphs every font has, where an emoji font may be missing."""
STATUS_CLASSES = {"met": "ok", "missed": "bad", "not judged": "na", "not measured": "na"}
SCOPE_WORDS = {("full",): "full runs", ("quick", "full"): "quick and full runs"}

UNBROKEN = str.maketrans({" ": "\u00a0", "–": "–\u2060"})
"""A figure such as ``1.17 (1.13–1.22)`` kept on one line: no-break space, word joiner."""
SCROLL = '<div style="overflow-x:auto;max-width:100%">{}</div>'
GALLERY = '<div style="display:flex;flex-wrap:wrap;gap:4px 20px">{}</div>'


def count(n: int, noun: str, nouns: str | None = None) -> str:
    """``1 level``, ``2 levels``; ``nouns`` for an irregular plural."""
    return f"{n} {noun if n == 1 else nouns or noun + 's'}"


def num(value: float | None, digits: int = 2) -> str:
    """``value`` with ``digits`` decimals; an en dash for None or NaN."""
    if value is None or math.isnan(value):
        return "–"
    return f"{value:,.{digits}f}"


def sig(value: float | None, figures: int = 3) -> str:
    """``value`` to ``figures`` significant digits (all digits of its integer part), with
    thousands separators: ``7,569``, ``52.9``, ``0.109``."""
    if value is None or math.isnan(value):
        return "–"
    if value == 0:
        return "0"
    digits = max(0, figures - 1 - math.floor(math.log10(abs(value))))
    return f"{value:,.{digits}f}"


def span(s: dict[str, float], show: Callable[[float], str] = num, scale: float = 1.0) -> str:
    """``median (min–max)``, or the median alone when every run gave the same figure."""
    low, mid, high = (show(s[k] * scale) for k in ("min", "median", "max"))
    return mid if low == high else f"{mid} ({low}–{high})"


def measured_text(target: dict[str, Any]) -> str:
    """A target's measured figure: a count as an integer, a ratio with two decimals."""
    m = target["measured"]
    return str(m) if isinstance(m, int) else num(m)


def status_words(target: dict[str, Any], page: bool = False) -> str:
    """``✅ met``, ``❌ missed``, ``not judged``, ``not measured`` (``page``: ✓ and ✗);
    noisy figures flagged."""
    words = STATUS_WORDS[target["status"]] + (" (noisy)" if target["noisy"] else "")
    return words.translate(PAGE_MARKS) if page else words


def headline_workers(doc: dict[str, Any], workload: dict[str, Any]) -> int:
    """The widest measured worker count that fits the usable cores."""
    return headline(workload["workers"], doc["machine"]["usable_cores"])


def backends_of(doc: dict[str, Any]) -> list[str]:
    """The parallel backends this run measured, in report order."""
    return [b for b in PARALLEL_BACKENDS if b in doc["config"]["backends"]]


def verdict(doc: dict[str, Any]) -> str:
    """The first line: ``N of M targets met``, M counting only the targets judged; a quick
    run is marked indicative."""
    counts = tally(doc["targets"])
    judged = counts["met"] + counts["missed"]
    line = (f"{counts['met']} of {count(judged, 'target')} met" if judged
            else "No target judged")
    if doc["config"]["quick"]:
        line += " (quick run, indicative)"
    if not doc.get("complete", True):
        line += " (incomplete run)"
    return line


def verdict_detail(doc: dict[str, Any]) -> str:
    """What the verdict leaves out: which targets were missed, not judged or not measured,
    and, once, that benchmarks are not tests."""
    targets = doc["targets"]
    parts = []
    missed = [t["name"] for t in targets if t["status"] == "missed"]
    if missed:
        parts.append(f"Missed: {'; '.join(missed)}.")
    unjudged = sum(t["status"] == "not judged" for t in targets)
    if unjudged:
        parts.append(f"{count(unjudged, 'target')} stated for the full workload sizes "
                     f"{'is' if unjudged == 1 else 'are'} not judged in a quick run, whose "
                     "batches are a tenth of the size; their figures below are indicative.")
    unmeasured = sum(t["status"] == "not measured" for t in targets)
    if unmeasured:
        parts.append(f"{count(unmeasured, 'target')} not measured: "
                     f"{'its workload' if unmeasured == 1 else 'their workloads'} did not run.")
    parts.append(NOT_TESTS)
    return " ".join(parts)


def machine_line(doc: dict[str, Any]) -> str:
    """The machine in one sentence."""
    m = doc["machine"]
    quota = "no cgroup quota" if m["cgroup_quota"] is None else f"cgroup quota {m['cgroup_quota']}"
    return (f"{m['cpu_model']}, {m['logical_cores']} logical / {m['physical_cores']} physical "
            f"cores, affinity {m['affinity']}, {quota} → {m['usable_cores']} usable; "
            f"{m['memory_gib']} GiB; {m['implementation']} {m['python']} "
            f"({'GIL' if m['gil'] else 'free-threaded'}); {m['platform']}")


def noise_line(doc: dict[str, Any]) -> str:
    """The noise of the run in one sentence."""
    n = doc["noise"]
    foreign = n["foreign_cpu"]
    worst = max(n["serial_spread"].items(), key=lambda kv: kv[1], default=None)
    parts = []
    if foreign:
        parts.append(f"other processes used {num(foreign['median'])} cores (median over runs, "
                     f"max {num(foreign['max'])})")
    if worst:
        parts.append(f"serial runs varied by up to {worst[1] * 100:.0f} % ({worst[0]})")
    end = n["load_average_end"]
    parts.append(f"load average {num(n['load_average_start'][0])} at start, "
                 f"{num(end[0] if end else None)} at end")
    return "Noise: " + "; ".join(parts) + "."


def run_line(doc: dict[str, Any]) -> str:
    """When, how long, how many repetitions; whether the run was quick or stopped early."""
    c = doc["config"]
    stopped = "" if doc.get("complete", True) else (
        f"Incomplete: stopped early; {len(doc['workloads'])} of "
        f"{count(len(c['workloads']), 'workload')} measured. ")
    kind = ("Campaign-scaling run" if c.get("campaign") else
            "Quick run (small batches, indicative only)" if c["quick"] else "Full run")
    return (f"{stopped}{kind}, started {doc['started']}, took {doc['duration_s']:.0f} s; "
            f"{count(c['repetitions'], 'repetition')} per cell, seed {c['seed']}, workers "
            f"{'pinned' if c['pin'] else 'not pinned'}.")


PEER_HEADERS = ["workload", "bare pool", "Aethel process", "Aethel thread", "Aethel serial",
                "Dask", "ceiling"]
PEER_COLUMNS = ("bare-pool", "process", "thread", "serial", "dask")
RATIO_HEADERS = ["workload", "W", "process / bare pool", "Aethel / Dask", "process / serial",
                 "thread / serial"]
RATIO_COLUMNS = ("process/bare-pool", "process/dask", "process/serial", "thread/serial")


def peered(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The workloads whose peers ran."""
    return [w for w in doc["workloads"] if w.get("peers")]


def peer_name(workload: dict[str, Any]) -> str:
    """``cpu-0.1ms (4,000 tx)``."""
    return f"{workload['name']} ({workload['transactions']:,} tx)"


def figure(s: dict[str, float] | None, show: Callable[[dict[str, float]], str] = span) -> str:
    """A speedup or ratio as ``median (min–max)`` (or as ``show`` says); an en dash if it
    was not measured."""
    return "–" if s is None else show(s)


def peer_rows(doc: dict[str, Any], show: Callable[[dict[str, float]], str] = span
              ) -> list[list[str]]:
    """Per workload, speedups over the plain loop: bare pool, the engine's process, thread
    and serial backends, Dask; then the machine ceiling."""
    return [[peer_name(w), *(figure(w["peers"]["speedup"][c], show) for c in PEER_COLUMNS),
             figure(w["peers"]["ceiling"], show)] for w in peered(doc)]


def ratio_rows(doc: dict[str, Any], show: Callable[[dict[str, float]], str] = span
               ) -> list[list[str]]:
    """Per workload, the engine against the peers and against its serial backend."""
    return [[w["name"], str(w["peers"]["workers"]),
             *(figure(w["peers"]["ratio"][r], show) for r in RATIO_COLUMNS)]
            for w in peered(doc)]


def peer_note(doc: dict[str, Any]) -> str:
    """How the peer comparison was measured, and why Dask is missing if it is."""
    skipped = next((w["peers"]["dask_skipped"] for w in peered(doc)
                    if w["peers"]["dask_skipped"]), None)
    note = (
        "Speedup over a plain serial loop that does only the transactions' CPU work, at each "
        "workload's headline worker count W, median (min–max) of per-repetition ratios; every "
        "contender ran on the same batch in the same interleaved repetitions. Bare pool: a "
        "concurrent.futures.ProcessPoolExecutor of W processes, one chunked map per "
        "topological generation of the dependency DAG (about four chunks per worker). Aethel "
        "process and thread: the engine's backends, dataflow schedule; Aethel serial: its "
        "serial backend. Dask: a task graph with the same edges (unfused) on Dask's "
        "processes scheduler over W processes. Pools are warm for every contender, but "
        "every engine run is of an equal copy of the batch that the executor has not run, as "
        "a user's batch is new to it (the process backend ships it to its workers within "
        "the run, as the bare pool pickles its work in every run). The peers "
        "keep no state and write no trace: they bound the cost of scheduling from below, "
        "they are not rivals with equal duties. Ceiling: speedup of W independent processes "
        "over one (the machine's limit). The second table divides the engine's figures by "
        "the peers' (Aethel / Dask: the process backend against Dask).")
    if skipped:
        note += f" Dask did not run: {skipped}."
    return note


CAMPAIGN_TITLE = "Campaign scaling"
CAMPAIGN_HEADERS = ["campaign", "jobs", "engine workers", "examples/s (min–max)", "× 1 job",
                    "CPU (cores)", "all held"]
EVIDENCE_HEADERS = ["campaign", "jobs", "engine workers", "first shard done (s)",
                    "steady examples/s", "CPU ms / example", "engine processes' CPU"]


def campaign_rows(campaign: dict[str, Any]) -> list[list[str]]:
    """Per campaign shape: examples/s as ``aethel verify`` reports it, its ratio to one
    job, the CPU every process of the campaign used, and whether every campaign held."""
    return [[p["name"].split()[0], str(p["jobs"]), str(p["workers"]),
             figure(p["examples_per_s"], lambda s: span(s, sig)), num(p["vs_one_job"]),
             figure(p["cpu_cores"], lambda s: num(s["median"])), "yes" if p["ok"] else "no"]
            for p in campaign["points"]]


def evidence_rows(campaign: dict[str, Any]) -> list[list[str]]:
    """Per campaign shape: when its first shard finished (the jobs' start-up plus one
    shard), its steady rate between the first and the last shard, the CPU it spent per
    example and the engine worker processes' share of it."""
    return [[p["name"].split()[0], str(p["jobs"]), str(p["workers"]),
             figure(p["first_shard_s"]),
             figure(p["steady_examples_per_s"], lambda s: sig(s["median"])),
             figure(p.get("cpu_ms_per_example"), lambda s: sig(s["median"])),
             figure(p.get("engine_cpu_share"), lambda s: f"{s['median'] * 100:.0f} %")]
            for p in campaign["points"]]


def campaign_note(campaign: dict[str, Any]) -> str:
    """How the campaigns were measured, the best shapes and ``aethel verify``'s default."""
    best = "; ".join(f"{kind} campaign: {name.split(' ', 1)[1]}"
                     for kind, name in campaign["best"].items())
    return (f"Each row is a whole aethel verify campaign of {campaign['examples']:,} examples "
            f"({count(campaign['repetitions'], 'repetition')}, medians with min–max), run by "
            "the campaign runner on a fresh pool of job processes: thread = the thread backend "
            "alone (its jobs start no engine processes), default = thread and process "
            "backends, engine workers per executor as given. Examples/s counts the jobs' "
            "start-up, as aethel verify does; the second table separates it: when the first "
            "shard finished, and the rate between the first and the last shard. CPU: cores "
            "used by every process of the campaign, and CPU per example (which, unlike a "
            "rate, does not depend on other users' load); at 2 jobs a campaign reaches at "
            "most the cores / the cores busy at 1 job × its rate at 1 job. Best measured: "
            f"{best or 'none'}. "
            f"aethel verify runs by default: {campaign['verify_default']}.")


TARGET_HEADERS = ["status", "target", "applies to", "measured", "needed", "detail"]
TARGET_TEXT = (0, 1, 2, 5)


def target_rows(doc: dict[str, Any], page: bool = False) -> list[list[str]]:
    """Status, target, scope, measured, needed, where and how."""
    return [[status_words(t, page), t["target"], SCOPE_WORDS[tuple(t["scope"])], measured_text(t),
             t["needed"], f"{t['cell']}: {t['detail']}"] for t in doc["targets"]]


WORKLOAD_HEADERS = ["workload", "tx", "ms/tx", "W", "serial tx/s", "bound", "ceiling"]
BACKEND_HEADERS = ["workload", "W", "tx/s", "speedup (min–max)", "bound", "efficiency",
                   "vs ceiling"]


def workload_rows(doc: dict[str, Any]) -> list[list[str]]:
    """Per workload at its headline worker count W: size, cost, the serial baseline, the
    critical-path bound and the machine ceiling."""
    rows = []
    for w in doc["workloads"]:
        x = headline_workers(doc, w)
        rows.append([w["name"], f"{w['transactions']:,}", sig(w["serial"]["per_tx_ms"]),
                     str(x), sig(w["serial"]["throughput"]["median"]),
                     num(w["bounds"][str(x)]), num(w["ceiling"][str(x)]["speedup"]["median"])])
    return rows


def backend_rows(doc: dict[str, Any], backend: str) -> list[list[str]]:
    """One backend's dataflow cells at each workload's headline worker count."""
    rows = []
    for w in doc["workloads"]:
        x = headline_workers(doc, w)
        c = find_cell(w, backend, "dataflow", x)
        rows.append([w["name"], str(x)] + ([
            sig(c["throughput"]["median"]), span(c["speedup"]), num(c["bound"]),
            num(c["efficiency"]), num(c["vs_ceiling"])] if c else ["–"] * 5))
    return rows


CEILING_HEADERS = ["run", "W", "time ms (min–max)", "speedup (min–max)", "CPU (cores)"]
CELL_HEADERS = ["backend · schedule", "W", "time ms (min–max)", "speedup (min–max)",
                "efficiency", "vs ceiling", "same state as serial"]
RESOURCE_HEADERS = ["backend · schedule", "W", "worker CPU (cores)",
                    "coordinator CPU: cores (µs / transaction)", "largest worker peak RSS (MiB)",
                    "coordinator peak RSS (MiB)", "other processes' CPU (cores)"]


def ceiling_rows(workload: dict[str, Any]) -> list[list[str]]:
    """The serial baseline and the ceiling per worker count."""
    s = workload["serial"]
    rows = [["serial backend", "1", span(s["time"], sig, 1e3), "1.00",
             num(sum(s["cpu_util"]["workers"]))]]
    for w, c in workload["ceiling"].items():
        rows.append([f"ceiling: {count(int(w), 'independent process', 'independent processes')}",
                     w, span(c["time"], sig, 1e3), span(c["speedup"]), num(sum(c["cpu_util"]))])
    return rows


def cell_rows(workload: dict[str, Any]) -> list[list[str]]:
    """Every measured cell of a workload: time, speedup, efficiency, correctness."""
    return [[f"{c['backend']} · {c['schedule']}", str(c["workers"]), span(c["time"], sig, 1e3),
             span(c["speedup"]), num(c["efficiency"]), num(c["vs_ceiling"]),
             "yes" if c["verified"] else "no"] for c in workload["cells"]]


def resource_rows(workload: dict[str, Any]) -> list[list[str]]:
    """Every measured cell of a workload: CPU and memory (thread workers share the
    coordinator's process, so they have no memory of their own). The coordinator's CPU
    per transaction is its share of a core over the median run (on one core, a serial
    cell's coordinator runs the transactions too)."""
    rows = []
    n = max(workload["transactions"], 1)
    for c in workload["cells"]:
        rss = c["peak_rss_mib"]
        coordinator = c["cpu_util"]["coordinator"]
        rows.append([f"{c['backend']} · {c['schedule']}", str(c["workers"]),
                     num(sum(c["cpu_util"]["workers"])),
                     f"{num(coordinator)} ({sig(coordinator * c['time']['median'] / n * 1e6)})",
                     sig(max(rss["workers"])) if rss["workers"] else "–",
                     sig(rss["coordinator"]), num(c["foreign_cpu"]["median"])])
    return rows


def latency_rows(doc: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Single-transaction latency per operation and backend: µs and × the direct call."""
    lat = doc["latency"]
    backends = list(next(iter(lat["operations"].values()), {"backends": {}})["backends"])
    headers = ["operation", "direct call"] + [f"{b} (× direct)" for b in backends]
    rows = []
    for name, op in lat["operations"].items():
        row = [name, f"{sig(op['direct_us'])} µs"]
        for b in backends:
            x = op["backends"][b]
            row.append(f"{sig(x['median_us'])} µs (×{num(x['ratio'])})")
        rows.append(row)
    return headers, rows


def workload_line(workload: dict[str, Any]) -> str:
    """A workload's description, size and shape in one sentence."""
    w = workload
    return (f"{w['description']} {w['transactions']:,} transactions (seed {w['seed']}), "
            f"{count(w['edges'], 'dependency edge')}, {count(w['levels'], 'level')}; "
            f"work / critical path = {num(w['work_over_critical_path'])}; dependency analysis "
            f"{sig(w['analysis_s'] * 1e3)} ms (not timed in the cells).")


HEADLINE_NOTE = ("At each workload's headline worker count W (the widest that fits the usable "
                 "cores), dataflow schedule. Speedup = serial time / backend time, per "
                 "repetition; bound = min(W, work / critical-path work); efficiency = speedup "
                 "/ bound; ceiling = speedup of W independent processes; vs ceiling = "
                 "speedup / ceiling.")


def latency_note(doc: dict[str, Any]) -> str:
    """How the latency was measured."""
    lat = doc["latency"]
    return (f"One transaction per execute() call on warm pools ({count(lat['workers'], 'worker')}"
            f"), median of {count(lat['repetitions'], 'repetition')}, against calling the "
            "operation directly.")


def aligned_table(headers: Sequence[str], rows: list[list[str]],
                  text: Sequence[int] = (0,)) -> str:
    """A Markdown table whose columns are right-aligned (numbers) except those in
    ``text``."""
    lines = markdown_table(headers, rows).split("\n")
    lines[1] = "|" + "|".join("---" if j in text else "---:" for j in range(len(headers))) + "|"
    return "\n".join(lines)


def html_table(headers: Sequence[str], rows: list[list[str]], text: Sequence[int] = (0,),
               row_classes: Sequence[str] | None = None, status: int | None = None) -> str:
    """An HTML table in a container that scrolls sideways when the window is narrower;
    cells right-aligned and unbroken (numbers) except the columns in ``text``; column
    ``status`` coloured by ``row_classes``."""
    classes = ["status" if j == status else "text" if j in text else ""
               for j in range(len(headers))]
    rows = [[c if j in text else c.translate(UNBROKEN) for j, c in enumerate(row)]
            for row in rows]
    return SCROLL.format(table_html(headers, rows, row_classes, classes))


PEER_TITLE = "Against what you would write instead"


def render_markdown(doc: dict[str, Any]) -> str:
    """bench.md: the verdict, the peer comparison, targets, one table per backend, latency
    and every cell."""
    title = f"Aethel core-scaling benchmark {doc.get('id', '')}".rstrip()
    out = [f"# {verdict(doc)}", "", f"{title}. {verdict_detail(doc)}", ""]
    if peered(doc):
        out += [f"## {PEER_TITLE}", "", peer_note(doc), "",
                aligned_table(PEER_HEADERS, peer_rows(doc)),
                aligned_table(RATIO_HEADERS, ratio_rows(doc))]
    campaign = doc.get("campaign")
    if campaign:
        out += [f"## {CAMPAIGN_TITLE}", "", campaign_note(campaign), "",
                aligned_table(CAMPAIGN_HEADERS, campaign_rows(campaign), (0, 6)),
                aligned_table(EVIDENCE_HEADERS, evidence_rows(campaign))]
    out += ["## Targets", "", aligned_table(TARGET_HEADERS, target_rows(doc), TARGET_TEXT),
            "## Run", "", f"Command: `{doc.get('command', 'aethel bench')}`", "",
            f"Machine: {machine_line(doc)}", "", run_line(doc), "", noise_line(doc), ""]
    if doc["workloads"]:
        out += ["> " + HONESTY, ""]
    if doc["workloads"]:
        out += ["## Speedup at the usable cores", "", HEADLINE_NOTE, "",
                "Figures (speedup vs workers, speedup vs ceiling, levels vs dataflow) are in "
                "`index.html`.", "", "### Workloads", "",
                aligned_table(WORKLOAD_HEADERS, workload_rows(doc))]
        for b in backends_of(doc):
            out += [f"### {b} backend", "", aligned_table(BACKEND_HEADERS, backend_rows(doc, b))]
    if doc["latency"]["operations"]:
        headers, rows = latency_rows(doc)
        out += ["## Single-transaction latency", "", latency_note(doc), "",
                aligned_table(headers, rows)]
    if doc["workloads"]:
        out += ["## Every cell", ""]
    for w in doc["workloads"]:
        out += [f"### {w['name']}", "", workload_line(w), "",
                aligned_table(CEILING_HEADERS, ceiling_rows(w)),
                aligned_table(CELL_HEADERS, cell_rows(w), (0, 6)),
                aligned_table(RESOURCE_HEADERS, resource_rows(w))]
    return "\n".join(out)


def svg_html(fig: Figure, alt: str, key: str) -> str:
    """``fig`` as inline SVG markup that shrinks to its container: no XML prologue, no
    comments or namespace URLs, every id prefixed with ``key`` so figures on one page
    never share an id."""
    buffer = io.StringIO()
    with rc_context({"svg.hashsalt": key, "svg.fonttype": "path"}):
        fig.savefig(buffer, format="svg", bbox_inches="tight",
                    metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"<!--.*?-->\s*", "", svg, flags=re.S)
    svg = svg.replace("xlink:href=", "href=")
    svg = re.sub(r'(\bid="|href="#|url\(#)', rf"\g<1>{key}-", svg)
    head, rest = svg.split(">", 1)
    width = float(re.search(r'\bwidth="([\d.]+)pt"', head).group(1)) * 4 / 3
    head = re.sub(r'\s(?:width|height|xmlns(?::xlink)?)="[^"]*"', "", head)
    return (f'{head} role="img" aria-label="{escape(alt)}" '
            f'style="display:block;width:100%;max-width:{width:.0f}px;height:auto">{rest}')


def figure_block(fig: Figure, alt: str, key: str, caption: str | None = None,
                 flex: bool = False) -> str:
    """A ``<figure>`` holding ``fig`` as inline SVG, with an optional caption; ``flex``: one
    of a gallery's figures."""
    style = ' style="flex:1 1 300px;max-width:420px;margin:8px 0"' if flex else ""
    cap = f"<figcaption>{escape(caption)}</figcaption>" if caption else ""
    return f"<figure{style}>{svg_html(fig, alt, key)}{cap}</figure>"


def _ratio_ticks(low: float, high: float, steps: Sequence[float]) -> list[float]:
    return [t for t in steps if low <= t <= high]


def _log2_axis(axis: Any, ticks: list[float]) -> None:
    axis.set_major_locator(FixedLocator(ticks))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_locator(NullLocator())


def speedup_figure(doc: dict[str, Any], workload: dict[str, Any]) -> Figure:
    """Speedup vs workers for one workload on log–log axes: each backend's dataflow median
    with min–max whiskers, the ideal, the critical-path bound and the machine ceiling."""
    w = workload
    ws = w["workers"]
    fig = Figure(figsize=(3.6, 2.7), layout="constrained")
    ax = fig.subplots()
    ceiling = [w["ceiling"][str(x)]["speedup"]["median"] for x in ws]
    bounds = [w["bounds"][str(x)] for x in ws]
    ax.plot(ws, ws, color="#999999", linestyle="--", linewidth=1)
    ax.plot(ws, bounds, color="black", linestyle=":", linewidth=1.6)
    ax.plot(ws, ceiling, color=COLORS["ceiling"], linestyle="-.", linewidth=1.6)
    values = [*ws, *bounds, *ceiling]
    for backend in backends_of(doc):
        cells = [c for c in (find_cell(w, backend, "dataflow", x) for x in ws) if c]
        if not cells:
            continue
        med = [c["speedup"]["median"] for c in cells]
        err = [[m - c["speedup"]["min"] for m, c in zip(med, cells, strict=True)],
               [c["speedup"]["max"] - m for m, c in zip(med, cells, strict=True)]]
        ax.errorbar([c["workers"] for c in cells], med, yerr=err, marker=MARKERS[backend],
                    markersize=5, capsize=3, color=COLORS[backend])
        values += [c["speedup"][k] for c in cells for k in ("min", "max")]
    low, high = min([*values, 1.0]) / 1.3, max(values) * 1.3
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    ax.set_ylim(low, high)
    _log2_axis(ax.xaxis, ws)
    _log2_axis(ax.yaxis, _ratio_ticks(low, high, [2.0 ** k for k in range(-6, 7)]))
    ax.axhline(1.0, color="#cccccc", linewidth=0.8, zorder=0)
    ax.set_title(f"{w['name']} ({w['transactions']:,} tx)", fontsize=11)
    ax.set_xlabel("workers")
    ax.set_ylabel("speedup vs serial")
    ax.grid(alpha=0.3)
    return fig


def speedup_legend(doc: dict[str, Any]) -> Figure:
    """The speedup figures' shared legend."""
    handles = [Line2D([], [], color="#999999", linestyle="--", label="ideal (= W)"),
               Line2D([], [], color="black", linestyle=":", linewidth=1.6,
                      label="critical-path bound"),
               Line2D([], [], color=COLORS["ceiling"], linestyle="-.", linewidth=1.6,
                      label="machine ceiling")]
    handles += [Line2D([], [], color=COLORS[b], marker=MARKERS[b], label=f"{b} backend")
                for b in backends_of(doc)]
    fig = Figure(figsize=(4.2, 0.6))
    fig.legend(handles=handles, loc="center", ncol=2, frameon=False, fontsize=10)
    return fig


def ceiling_figure(doc: dict[str, Any]) -> Figure:
    """Heat map of speedup / ceiling over workload × backend and schedule at the headline
    worker count: diverging around 1 on a log colour scale, orange below, blue above;
    vector cells (no embedded raster)."""
    columns = [(b, s) for b in backends_of(doc) for s in SCHEDULES
               if s in doc["config"]["schedules"]]
    names = [w["name"] for w in doc["workloads"]]
    grid = []
    for w in doc["workloads"]:
        x = headline_workers(doc, w)
        cells = (find_cell(w, b, s, x) for b, s in columns)
        grid.append([c["vs_ceiling"] if c else math.nan for c in cells])
    finite = [v for row in grid for v in row if v > 0]
    reach = min(8.0, max([2.0, *(max(v, 1 / v) for v in finite)]))
    norm = LogNorm(vmin=1 / reach, vmax=reach)
    fig = Figure(figsize=(1.5 + 0.85 * len(columns), 1.5 + 0.3 * len(names)),
                 layout="constrained")
    ax = fig.subplots()
    cmap = DIVERGING.with_extremes(bad="#ffffff")
    image = ax.pcolormesh(np.ma.masked_invalid(grid), cmap=cmap, norm=norm,
                          edgecolors="white", linewidth=1)
    for i, row in enumerate(grid):
        for j, value in enumerate(row):
            if math.isnan(value):
                ax.text(j + 0.5, i + 0.5, "–", ha="center", va="center", fontsize=10)
                continue
            r, g, b, _ = cmap(norm(value))
            dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5
            ax.text(j + 0.5, i + 0.5, f"{value:.2f}", ha="center", va="center", fontsize=10,
                    color="white" if dark else "black")
    ax.set_xticks([j + 0.5 for j in range(len(columns))])
    ax.set_xticklabels([f"{b}\n{s}" for b, s in columns], fontsize=10)
    ax.set_yticks([i + 0.5 for i in range(len(names))])
    ax.set_yticklabels(names, fontsize=10)
    ax.set_ylim(len(names), 0)
    ax.tick_params(length=0)
    ax.spines[:].set_visible(False)
    bar = fig.colorbar(image, ax=ax, orientation="horizontal", shrink=0.9, aspect=30,
                       label="speedup / ceiling (log scale; 1 = the machine's limit)")
    bar.solids.set_rasterized(False)
    _log2_axis(bar.ax.xaxis, _ratio_ticks(1 / reach, reach, [0.125, 0.25, 0.5, 1, 2, 4, 8]))
    return fig


def schedule_figure(doc: dict[str, Any]) -> Figure:
    """levels time / dataflow time per workload and backend, bars drawn from 1 on a log
    axis centred on 1 (right of 1: dataflow faster), whiskers min–max."""
    backends = backends_of(doc)
    workloads = doc["workloads"]
    fig = Figure(figsize=(4.6, 1.3 + 0.22 * len(workloads) * max(1, len(backends))),
                 layout="constrained")
    ax = fig.subplots()
    height = 0.8 / max(1, len(backends))
    reach = 1.25
    for k, backend in enumerate(backends):
        ys, meds, lo, hi = [], [], [], []
        for i, w in enumerate(workloads):
            ratios = schedule_ratios(w, backend, headline_workers(doc, w))
            if not ratios:
                continue
            med = statistics.median(ratios)
            ys.append(i + (k - (len(backends) - 1) / 2) * height)
            meds.append(med)
            lo.append(med - min(ratios))
            hi.append(max(ratios) - med)
            reach = max(reach, max(ratios), 1 / min(ratios))
        ax.barh(ys, [m - 1 for m in meds], left=1.0, height=height, color=COLORS[backend],
                hatch=HATCHES[backend], edgecolor="white", linewidth=0.5,
                label=f"{backend} backend")
        ax.errorbar(meds, ys, xerr=[lo, hi], fmt="none", ecolor="black", elinewidth=0.8,
                    capsize=2)
    reach *= 1.1
    ax.set_xscale("log")
    ax.set_xlim(1 / reach, reach)
    _log2_axis(ax.xaxis, _ratio_ticks(1 / reach, reach, [0.25, 0.5, 0.67, 0.8, 1, 1.25, 1.5,
                                                         2, 4]))
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_yticks(range(len(workloads)))
    ax.set_yticklabels([w["name"] for w in workloads], fontsize=10)
    ax.set_ylim(len(workloads) - 0.5, -0.5)
    ax.set_xlabel("levels time / dataflow time (log)\n← levels faster · dataflow faster →")
    ax.grid(axis="x", alpha=0.3)
    fig.legend(loc="outside upper center", ncol=2, frameon=False, fontsize=9)
    return fig


def _figure_sections(doc: dict[str, Any]) -> list[str]:
    """The headline tables with the speedup figures, the ceiling heat map and the schedule
    comparison."""
    speedups = [figure_block(speedup_figure(doc, w), f"speedup vs workers, {w['name']}",
                             f"speedup-{n}", flex=True)
                for n, w in enumerate(doc["workloads"])]
    backend_tables = [section(f"{b} backend", html_table(BACKEND_HEADERS, backend_rows(doc, b)),
                              level=3) for b in backends_of(doc)]
    return [
        section("Speedup at the usable cores", paragraph(HEADLINE_NOTE),
                section("Workloads", html_table(WORKLOAD_HEADERS, workload_rows(doc)),
                        level=3),
                *backend_tables),
        section("Speedup vs workers",
                figure_block(speedup_legend(doc), "legend of the speedup figures", "legend"),
                GALLERY.format("".join(speedups)),
                paragraph("Median speedup with min–max whiskers, dataflow schedule, on log "
                          "scales (a straight diagonal is linear scaling; 1 is the serial "
                          "backend).")),
        section("Speedup vs the machine's ceiling",
                figure_block(ceiling_figure(doc), "speedup over ceiling heat map", "ceiling",
                             "Speedup / ceiling at the headline worker count. Thread cells on "
                             "pure-Python CPU work are low by nature (GIL).")),
        section("Levels vs dataflow",
                figure_block(schedule_figure(doc), "levels vs dataflow", "schedules",
                             "Per-repetition ratio of the levels schedule's time to "
                             "dataflow's at the headline worker count; bars: median, "
                             "whiskers: min–max.")),
    ]


def render_html(doc: dict[str, Any]) -> str:
    """index.html: the content of bench.md plus the figures, as inline SVG."""
    title = f"Aethel core-scaling benchmark {doc.get('id', '')}".rstrip()
    parts = [paragraph(verdict_detail(doc))]
    if peered(doc):
        parts.append(section(PEER_TITLE, paragraph(peer_note(doc)),
                             html_table(PEER_HEADERS, peer_rows(doc)),
                             html_table(RATIO_HEADERS, ratio_rows(doc))))
    campaign = doc.get("campaign")
    if campaign:
        parts.append(section(CAMPAIGN_TITLE, paragraph(campaign_note(campaign)),
                             html_table(CAMPAIGN_HEADERS, campaign_rows(campaign), (0, 6)),
                             html_table(EVIDENCE_HEADERS, evidence_rows(campaign))))
    parts += [
        section("Targets", html_table(
            TARGET_HEADERS, target_rows(doc, page=True), TARGET_TEXT,
            [STATUS_CLASSES[t["status"]] for t in doc["targets"]], status=0)),
        section("Run",
                paragraph(f"Command: {doc.get('command', 'aethel bench')}"),
                paragraph(f"Machine: {machine_line(doc)}"),
                paragraph(run_line(doc)), paragraph(noise_line(doc)),
                *([paragraph(HONESTY, "note")] if doc["workloads"] else [])),
    ]
    if doc["workloads"]:
        parts += _figure_sections(doc)
    if doc["latency"]["operations"]:
        headers, rows = latency_rows(doc)
        parts.append(section(
            "Single-transaction latency", paragraph(latency_note(doc)),
            html_table(headers, rows)))
    blocks = [details(
        f"{w['name']}: {w['transactions']:,} transactions, {count(w['edges'], 'edge')}, "
        f"{count(w['levels'], 'level')}",
        paragraph(workload_line(w)),
        *(html_table(headers, rows, text) for headers, rows, text in (
            (CEILING_HEADERS, ceiling_rows(w), (0,)), (CELL_HEADERS, cell_rows(w), (0, 6)),
            (RESOURCE_HEADERS, resource_rows(w), (0,)))))
        for w in doc["workloads"]]
    if blocks:
        parts.append(section("Every cell", *blocks))
    return page_html(verdict(doc), parts, subtitle=f"{title}: how many cores to give the "
                     "executor, and how close it gets to the machine's limit")


def write_report(doc: dict[str, Any], directory: Path) -> dict[str, Path]:
    """Write bench.json, bench.md and index.html into ``directory``; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"json": directory / "bench.json", "md": directory / "bench.md",
             "html": directory / "index.html"}
    write_atomic(paths["json"], json.dumps(doc, indent=1) + "\n")
    write_atomic(paths["md"], render_markdown(doc))
    write_atomic(paths["html"], render_html(doc))
    return paths
