"""``bench.json``, ``bench.md`` and ``index.html`` from a benchmark document."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from aethel.executor import SCHEDULES
from aethel.files import write_atomic
from harness.bench.summary import PARALLEL_BACKENDS, find_cell
from harness.bench.targets import schedule_ratios
from harness.checks.verdict import plural
from harness.report.common import (
    details,
    figure_html,
    markdown_table,
    page_html,
    paragraph,
    section,
    status_class,
    status_text,
    table_html,
)

COLORS = {"thread": "#1f77b4", "process": "#d62728", "serial": "#555555"}

HONESTY = (
    "CPython 3.11 has a global interpreter lock: pure-Python CPU work (the cpu-*, contention "
    "and dag workloads, which spin in Python) runs one thread at a time, so the thread "
    "backend cannot speed it up and only the process backend scales it. Threads scale on "
    "work that releases the GIL (hash) or waits (sleep). Every speedup below is a ratio to "
    "the serial backend measured in the same run, repetition by repetition; nothing is "
    "extrapolated. The ceiling is what W independent processes doing the same work with no "
    "communication achieved at the same time: on a shared machine it, not W, is the honest "
    "limit.")


def fmt(value: float | None, digits: int = 2) -> str:
    """A number with ``digits`` decimals, or an en dash for None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def spread(s: dict[str, float], digits: int = 2, scale: float = 1.0) -> str:
    """``median [min–max]``."""
    return (f"{s['median'] * scale:.{digits}f} [{s['min'] * scale:.{digits}f}–"
            f"{s['max'] * scale:.{digits}f}]")


def headline_workers(doc: dict[str, Any], workload: dict[str, Any]) -> int:
    """The widest measured worker count that fits the usable cores."""
    cores = doc["machine"]["usable_cores"]
    return max([w for w in workload["workers"] if w <= cores] or [min(workload["workers"])])


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
    worst = max(n["serial_spread"].items(), key=lambda kv: kv[1], default=("–", 0.0))
    parts = []
    if foreign:
        parts.append(f"other processes used {foreign['median']:.2f} cores (median over runs, "
                     f"max {foreign['max']:.2f})")
    parts.append(f"serial runs varied by up to {worst[1] * 100:.0f} % ({worst[0]})")
    parts.append(f"load average {fmt(n['load_average_start'][0])} at start, "
                 f"{fmt((n['load_average_end'] or [None])[0])} at end")
    return "Noise: " + "; ".join(parts) + "."


def run_line(doc: dict[str, Any]) -> str:
    """When, how long, how many repetitions; whether the run was stopped early."""
    c = doc["config"]
    stopped = "" if doc.get("complete", True) else (
        f"INCOMPLETE: stopped early; {len(doc['workloads'])} of {len(c['workloads'])} workloads "
        "measured, the rest not measured. ")
    return (f"{stopped}{'Quick run (indicative only), ' if c['quick'] else ''}started "
            f"{doc['started']}, took {doc['duration_s']:.0f} s; {c['repetitions']} repetitions "
            f"per cell, seed {c['seed']}, workers {'pinned' if c['pin'] else 'not pinned'}.")


def target_rows(doc: dict[str, Any]) -> list[list[str]]:
    """Target, cell, measured, threshold, status, detail."""
    return [[t["target"], t["cell"], fmt(t["measured"]), fmt(t["threshold"]),
             status_text(t["met"]) + (" (noisy)" if t.get("noisy") else ""), t["detail"]]
            for t in doc["targets"]]


def summary_rows(doc: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """One row per workload at the headline worker count, dataflow schedule."""
    backends = [b for b in PARALLEL_BACKENDS if b in doc["config"]["backends"]]
    headers = ["workload", "tx", "ms/tx", "W", "serial tx/s", "bound", "ceiling"]
    for b in backends:
        headers += [f"{b} tx/s", f"{b} speedup [min–max]", f"{b} eff.", f"{b} / ceiling"]
    rows = []
    for w in doc["workloads"]:
        x = headline_workers(doc, w)
        row = [w["name"], str(w["transactions"]), fmt(w["serial"]["per_tx_ms"], 3), str(x),
               f"{w['serial']['throughput']['median']:.0f}", fmt(w["bounds"][str(x)]),
               fmt(w["ceiling"][str(x)]["speedup"]["median"])]
        for b in backends:
            c = find_cell(w, b, "dataflow", x)
            row += ([f"{c['throughput']['median']:.0f}", spread(c["speedup"]),
                     fmt(c["efficiency"]), fmt(c["vs_ceiling"])] if c else ["–"] * 4)
        rows.append(row)
    return headers, rows


CELL_HEADERS = ["backend", "schedule", "W", "tx/s", "time ms [min–max]", "speedup [min–max]",
                "bound", "efficiency", "ceiling", "/ ceiling", "worker CPU", "coord. CPU",
                "peak RSS MiB (workers; coord.)", "foreign CPU", "same as serial"]


def cell_rows(workload: dict[str, Any]) -> list[list[str]]:
    """Every measured cell of a workload."""
    rows = []
    for c in workload["cells"]:
        rss = c["peak_rss_mib"]
        rows.append([c["backend"], c["schedule"], str(c["workers"]),
                     f"{c['throughput']['median']:.0f}", spread(c["time"], 1, 1e3),
                     spread(c["speedup"]), fmt(c["bound"]), fmt(c["efficiency"]),
                     fmt(c["ceiling"]), fmt(c["vs_ceiling"]),
                     " ".join(fmt(u) for u in c["cpu_util"]["workers"]),
                     fmt(c["cpu_util"]["coordinator"]),
                     f"{' '.join(f'{r:.0f}' for r in rss['workers'])}; "
                     f"{rss['coordinator']:.0f}",
                     fmt(c["foreign_cpu"]["median"]), "yes" if c["verified"] else "NO"])
    return rows


def ceiling_rows(workload: dict[str, Any]) -> list[list[str]]:
    """The serial baseline and the ceiling per worker count."""
    s = workload["serial"]
    rows = [["serial backend", "1", spread(s["time"], 1, 1e3), "1.00",
             " ".join(fmt(u) for u in s["cpu_util"]["workers"])]]
    for w, c in workload["ceiling"].items():
        rows.append([f"ceiling ({w} independent processes)", w, spread(c["time"], 1, 1e3),
                     spread(c["speedup"]), " ".join(fmt(u) for u in c["cpu_util"])])
    return rows


def latency_rows(doc: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Single-transaction latency per operation and backend."""
    lat = doc["latency"]
    backends = list(next(iter(lat["operations"].values()), {"backends": {}})["backends"])
    headers = ["operation", "direct call µs"] + [f"{b} µs (× direct; +µs)" for b in backends]
    rows = []
    for name, op in lat["operations"].items():
        row = [name, fmt(op["direct_us"], 1)]
        for b in backends:
            x = op["backends"][b]
            row.append(f"{x['median_us']:.0f} (×{fmt(x['ratio'])}; +{x['overhead_us']:.0f})")
        rows.append(row)
    return headers, rows


def render_markdown(doc: dict[str, Any]) -> str:
    """bench.md: machine, noise, targets, the headline table, every cell, latency."""
    out = [f"# Aethel core-scaling benchmark {doc.get('id', '')}".rstrip(), "",
           f"Command: `{doc.get('command', 'aethel bench')}`", "",
           f"Machine: {machine_line(doc)}", "", run_line(doc), "", noise_line(doc), "",
           "> " + HONESTY, "", "## Targets (reported, not asserted)", "",
           markdown_table(["target", "cell", "measured", "threshold", "status", "detail"],
                          target_rows(doc)), ""]
    headers, rows = summary_rows(doc)
    out += ["## Headline: dataflow at the usable cores (W) or fewer", "",
            "Speedup: serial time / backend time, per repetition; bound = min(W, work / "
            "critical-path work) from the serial run's per-transaction durations; efficiency "
            "= speedup / bound; ceiling = speedup of W independent processes.", "",
            markdown_table(headers, rows), ""]
    headers, rows = latency_rows(doc)
    out += ["## Single-transaction latency", "",
            f"One transaction per `execute()` call (thread and process pools with "
            f"{doc['latency']['workers']} workers, warm), median of "
            f"{doc['latency']['repetitions']}, against calling the operation directly.", "",
            markdown_table(headers, rows), "", "## Every cell", ""]
    for w in doc["workloads"]:
        out += [f"### {w['name']}", "", f"{w['description']} {w['transactions']} transactions "
                f"(seed {w['seed']}), {plural(w['edges'], 'dependency edge')}, "
                f"{plural(w['levels'], 'level')}; "
                f"work / critical path = {w['work_over_critical_path']:.2f}.", "",
                markdown_table(["run", "W", "time ms [min–max]", "speedup [min–max]",
                                "CPU per process"], ceiling_rows(w)), "",
                markdown_table(CELL_HEADERS, cell_rows(w)), ""]
    return "\n".join(out)


def _worker_axis(ax: Any, workers: list[int]) -> None:
    ax.set_xscale("log", base=2)
    ax.set_xticks(workers)
    ax.set_xticklabels([str(w) for w in workers])
    ax.minorticks_off()


def speedup_figure(doc: dict[str, Any]) -> Figure:
    """Speedup vs workers per workload: each backend (dataflow), ideal, bound, ceiling."""
    workloads = doc["workloads"]
    cols = min(3, len(workloads))
    rows = math.ceil(len(workloads) / cols)
    fig = Figure(figsize=(4.3 * cols, 3.4 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, w in zip(axes.flat, workloads, strict=False):
        ws = w["workers"]
        ax.plot(ws, ws, color="#999999", linestyle="--", linewidth=1, label="ideal (= W)")
        ax.plot(ws, [w["bounds"][str(x)] for x in ws], color="black", linestyle=":",
                linewidth=1.6, label="critical-path bound")
        ax.plot(ws, [w["ceiling"][str(x)]["speedup"]["median"] for x in ws], color="#2ca02c",
                linestyle="-.", linewidth=1.6, label="machine ceiling")
        for backend in PARALLEL_BACKENDS:
            cells = [c for c in (find_cell(w, backend, "dataflow", x) for x in ws) if c]
            if not cells:
                continue
            med = [c["speedup"]["median"] for c in cells]
            err = [[m - c["speedup"]["min"] for m, c in zip(med, cells, strict=True)],
                   [c["speedup"]["max"] - m for m, c in zip(med, cells, strict=True)]]
            ax.errorbar([c["workers"] for c in cells], med, yerr=err, marker="o", capsize=3,
                        color=COLORS[backend], label=f"{backend} backend")
        _worker_axis(ax, ws)
        ax.set_ylim(bottom=0)
        ax.set_title(w["name"], fontsize=11)
        ax.set_xlabel("workers")
        ax.set_ylabel("speedup vs serial")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(workloads):]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncol=5, frameon=False)
    return fig


def efficiency_figure(doc: dict[str, Any]) -> Figure:
    """Heat map of efficiency (speedup / bound) over workload × backend/schedule."""
    columns = [(b, s) for b in PARALLEL_BACKENDS for s in SCHEDULES
               if b in doc["config"]["backends"] and s in doc["config"]["schedules"]]
    names = [w["name"] for w in doc["workloads"]]
    grid = []
    for w in doc["workloads"]:
        x = headline_workers(doc, w)
        row = []
        for b, s in columns:
            c = find_cell(w, b, s, x)
            row.append(c["efficiency"] if c else math.nan)
        grid.append(row)
    fig = Figure(figsize=(2.0 + 1.7 * len(columns), 1.0 + 0.5 * len(names)),
                 layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(grid, cmap="RdYlGn", vmin=0.0, vmax=1.0, aspect="auto")
    for i, row in enumerate(grid):
        for j, value in enumerate(row):
            if not math.isnan(value):
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=10,
                        color="black")
    ax.set_xticks(range(len(columns)))
    ax.set_xticklabels([f"{b}\n{s}" for b, s in columns])
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names)
    ax.set_title("efficiency = speedup / bound at the usable cores")
    fig.colorbar(image, ax=ax, shrink=0.8, label="efficiency")
    return fig


def schedule_figure(doc: dict[str, Any]) -> Figure:
    """levels time / dataflow time per workload and backend (> 1: dataflow faster)."""
    backends = [b for b in PARALLEL_BACKENDS if b in doc["config"]["backends"]]
    workloads = doc["workloads"]
    fig = Figure(figsize=(8.5, 1.0 + 0.45 * len(workloads) * max(1, len(backends)) / 1.5),
                 layout="constrained")
    ax = fig.subplots()
    height = 0.8 / max(1, len(backends))
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
        ax.barh(ys, meds, height=height, xerr=[lo, hi], capsize=3, color=COLORS[backend],
                alpha=0.8, label=f"{backend} backend")
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_yticks(range(len(workloads)))
    ax.set_yticklabels([w["name"] for w in workloads])
    ax.invert_yaxis()
    ax.set_xlabel("levels time / dataflow time (> 1: dataflow faster; bars: median, "
                  "whiskers: min–max)")
    ax.set_title("levels vs dataflow at the usable cores")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


def _plot_sections(doc: dict[str, Any]) -> list[str]:
    """The headline table with the speedup, efficiency and schedule plots."""
    headers, rows = summary_rows(doc)
    return [
        section("Speedup vs workers",
                figure_html(speedup_figure(doc), "speedup vs workers per workload",
                            "Median speedup with min–max whiskers, dataflow schedule. Dashed: "
                            "ideal; dotted: critical-path bound; dash-dot: machine ceiling."),
                table_html(headers, rows, cell_classes=["text"] + [""] * (len(headers) - 1))),
        section("Efficiency",
                figure_html(efficiency_figure(doc), "efficiency heat map",
                            "Efficiency = speedup / critical-path bound. Thread cells on "
                            "pure-Python CPU work are low by nature (GIL).")),
        section("Levels vs dataflow",
                figure_html(schedule_figure(doc), "levels vs dataflow",
                            "Per-repetition ratio of the levels schedule's time to dataflow's.")),
    ]


def render_html(doc: dict[str, Any]) -> str:
    """index.html: the same content as bench.md plus the three plots."""
    targets = doc["targets"]
    parts = [
        paragraph(f"Command: {doc.get('command', 'aethel bench')}"),
        paragraph(f"Machine: {machine_line(doc)}"),
        paragraph(run_line(doc)),
        paragraph(noise_line(doc)),
        paragraph(HONESTY, "note"),
        section("Targets (reported, not asserted)", table_html(
            ["target", "cell", "measured", "threshold", "status", "detail"], target_rows(doc),
            row_classes=[status_class(t["met"]) for t in targets],
            cell_classes=["text", "text", "", "", "status", "text"])),
    ]
    if doc["workloads"]:
        parts += _plot_sections(doc)
    headers, rows = latency_rows(doc)
    parts.append(section(
        "Single-transaction latency",
        paragraph(f"One transaction per execute() call on warm pools "
                  f"({doc['latency']['workers']} workers), median of "
                  f"{doc['latency']['repetitions']}, against calling the operation directly."),
        table_html(headers, rows, cell_classes=["text"] + [""] * (len(headers) - 1))))
    blocks = []
    for w in doc["workloads"]:
        blocks.append(details(
            f"{w['name']} — {w['transactions']} transactions, {plural(w['edges'], 'edge')}, "
            f"{plural(w['levels'], 'level')}",
            paragraph(f"{w['description']} Seed {w['seed']}; work / critical path = "
                      f"{w['work_over_critical_path']:.2f}; dependency analysis "
                      f"{w['analysis_s'] * 1e3:.1f} ms (not timed in the cells)."),
            table_html(["run", "W", "time ms [min–max]", "speedup [min–max]",
                        "CPU per process"], ceiling_rows(w), cell_classes=["text"] + [""] * 4),
            table_html(CELL_HEADERS, cell_rows(w),
                       cell_classes=["text", "text"] + [""] * (len(CELL_HEADERS) - 2))))
    parts.append(section("Every cell", *blocks))
    return page_html(f"Aethel core-scaling benchmark {doc.get('id', '')}".rstrip(),
                     parts, subtitle="aethel bench: how many cores to give the executor, and "
                     "how close it gets to the machine's limit")


def write_report(doc: dict[str, Any], directory: Path) -> dict[str, Path]:
    """Write bench.json, bench.md and index.html into ``directory``; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"json": directory / "bench.json", "md": directory / "bench.md",
             "html": directory / "index.html"}
    write_atomic(paths["json"], json.dumps(doc, indent=1) + "\n")
    write_atomic(paths["md"], render_markdown(doc))
    write_atomic(paths["html"], render_html(doc))
    return paths
