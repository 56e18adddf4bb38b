"""Figures of a comparison: every seed per metric, metric-vs-iteration curves, generated samples."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from genlab.compare.chance import ChanceLevel, centre_box, protocol_of
from genlab.compare.jobs import Job, read_curves, read_samples
from genlab.compare.stats import MIN_RUNS_FOR_INTERVAL, GroupRow, Stat, is_fraction, short_name

INTERVAL_TITLE = f"mean and 95% t interval over seeds (n >= {MIN_RUNS_FOR_INTERVAL})"
STRIP_TITLE = "each completed seed (dot), mean with its 95% t interval, IQM"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _axis_label(metric: str) -> str:
    return f"{short_name(metric)} (%)" if is_fraction(metric) else short_name(metric)


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100, bbox_inches="tight")  # long group labels and outside legends
    _pyplot().close(fig)
    return path


JITTER = 0.18  # half the width of a group's column of seed dots, in group spacings
JITTER_SEED = 0


def strip_axes(
    ax: Any, rows: list[GroupRow], metric: str, chance: ChanceLevel | None
) -> dict[str, Any]:
    """Each group's completed seeds as dots (jittered sideways, seeded), their mean with its
    95% t interval and their IQM beside them, n after the group's name, chance as a dashed line;
    returns each group's dots (a matplotlib PathCollection, one point per finite value) by label."""
    import numpy as np

    scale = 100.0 if is_fraction(metric) else 1.0
    rng = np.random.default_rng(JITTER_SEED)
    dots: dict[str, Any] = {}
    legend: set[str] = set()

    def once(label: str) -> str | None:  # each kind of mark in the legend once
        if label in legend:
            return None
        legend.add(label)
        return label

    for x, row in enumerate(rows):
        values = row.values(metric)
        finite = np.array([v for v in values if math.isfinite(v)], dtype=np.float64) * scale
        offsets = rng.uniform(-JITTER, JITTER, len(finite))
        dots[row.label] = ax.scatter(
            x - 0.1 + offsets,
            finite,
            s=22,
            alpha=0.7,
            linewidths=0,
            color="tab:blue",
            label=once("one seed") if len(finite) else None,
            zorder=2,
        )
        stat = row.stats[metric]
        if stat.n == 0:
            continue
        error = (
            [[scale * (stat.mean - stat.low)], [scale * (stat.high - stat.mean)]]
            if stat.has_interval
            else None
        )
        ax.errorbar(
            x + 0.22,
            scale * stat.mean,
            yerr=error,
            fmt="_",
            markersize=14,
            capsize=4,
            color="black",
            label=once("mean, 95% t interval"),
            zorder=3,
        )
        if not math.isnan(stat.iqm):
            ax.scatter(
                x + 0.22,
                scale * stat.iqm,
                marker="D",
                s=26,
                facecolors="none",
                edgecolors="tab:red",
                label=once("IQM"),
                zorder=4,
            )
    if chance is not None and metric in chance.stats:
        ax.axhline(
            scale * chance.stats[metric].mean, color="0.3", linestyle="--", label="chance (uniform)"
        )
    names = []
    for row in rows:
        values = row.values(metric)
        dropped = sum(not math.isfinite(v) for v in values)
        n = f"n={len(values) - dropped}" + (f", {dropped} not finite" if dropped else "")
        names.append(f"{row.label} ({n})")
    ax.set_xticks(list(range(len(rows))), names, rotation=20, ha="right", fontsize=8)
    ax.set_xlim(-0.6, len(rows) - 0.4)
    ax.set_ylabel(_axis_label(metric))
    ax.set_title(f"{short_name(metric)}\n{STRIP_TITLE}", fontsize=9)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return dots


def strip_chart(path: Path, rows: list[GroupRow], metric: str, chance: ChanceLevel | None) -> Path:
    """`comparison_<metric>.png`: strip_axes of the metric, one column per group."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(5.0, 1.0 * len(rows) + 3), 4.5))
    strip_axes(ax, rows, metric, chance)
    return _save(fig, path)


def _mean_curve(curves: list[list[tuple[int, float]]]) -> tuple[list[int], list[Stat]]:
    """Per iteration: the statistics (mean, interval) over the runs that logged it."""
    by_step: dict[int, list[float]] = {}
    for curve in curves:
        for step, value in curve:
            by_step.setdefault(step, []).append(value)
    steps = sorted(by_step)
    return steps, [Stat.of(by_step[s]) for s in steps]


def curve_charts(
    folder: Path, rows: list[GroupRow], metrics: list[str], chance: ChanceLevel | None
) -> list[Path]:
    """`curves_<metric>.png`: mean over each group's completed runs by iteration, with its 95%
    t interval as a band where MIN_RUNS_FOR_INTERVAL or more runs logged the step."""
    plt = _pyplot()
    per_job = {job.folder: read_curves(job, metrics) for row in rows for job in row.completed}
    written = []
    for metric in metrics:
        scale = 100.0 if is_fraction(metric) else 1.0
        fig, ax = plt.subplots(figsize=(9, 4.5))
        # tab20's 20 colours, so a 14-arm study has no two groups in one colour
        colours = plt.get_cmap("tab20" if len(rows) > 10 else "tab10").colors
        drawn = False
        for index, row in enumerate(rows):
            curves = [
                per_job[job.folder][metric]
                for job in row.completed
                if metric in per_job[job.folder]
            ]
            if not curves:
                continue
            steps, stats = _mean_curve(curves)
            means = [scale * stat.mean for stat in stats]
            (line,) = ax.plot(
                steps,
                means,
                label=f"{row.label} (n={len(curves)})",
                color=colours[index % len(colours)],
            )
            banded = [(x, stat) for x, stat in zip(steps, stats, strict=True) if stat.has_interval]
            if banded:
                ax.fill_between(
                    [x for x, _ in banded],
                    [scale * stat.low for _, stat in banded],
                    [scale * stat.high for _, stat in banded],
                    color=line.get_color(),
                    alpha=0.2,
                )
            drawn = True
        if not drawn:
            plt.close(fig)
            continue
        if chance is not None and metric in chance.stats:
            ax.axhline(
                scale * chance.stats[metric].mean, color="0.3", linestyle="--", label="chance"
            )
        ax.set_xlabel("iteration")
        ax.set_ylabel(_axis_label(metric))
        ax.set_title(f"{short_name(metric)}: {INTERVAL_TITLE}", fontsize=9)
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
        written.append(_save(fig, folder / f"curves_{file_stem(metric)}.png"))
    return written


def _first_with_samples(jobs: list[Job]) -> tuple[Job, Any] | None:
    """The completed job with the lowest seed that saved samples.npy, and its points."""
    ordered = sorted(jobs, key=lambda job: math.inf if job.seed is None else job.seed)
    for job in ordered:
        points = read_samples(job)
        if points is not None:
            return job, points
    return None


def samples_grid(path: Path, rows: list[GroupRow]) -> Path | None:
    """One scatter panel per group: the first completed seed's final samples over the centres."""
    picks = {row.label: _first_with_samples(row.completed) for row in rows}
    if not any(picks.values()):
        return None
    plt = _pyplot()
    columns = min(4, len(rows))
    lines = math.ceil(len(rows) / columns)
    fig, axes = plt.subplots(lines, columns, figsize=(3.2 * columns, 3.4 * lines), squeeze=False)
    for ax in axes.flat[len(rows) :]:
        ax.set_axis_off()
    for ax, row in zip(axes.flat, rows, strict=False):
        ax.set_title(row.label, fontsize=9)
        pick = picks[row.label]
        if pick is None:
            ax.text(0.5, 0.5, "no samples", ha="center", va="center", transform=ax.transAxes)
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        job, points = pick
        ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.5, linewidths=0, color="tab:blue")
        protocol = protocol_of(job.config)
        if protocol is not None:
            centres = protocol.mixture().centres
            ax.scatter(centres[:, 0], centres[:, 1], marker="x", s=30, color="tab:red")
            x0, x1, y0, y1 = centre_box(centres)
            ax.set_xlim(x0, x1)
            ax.set_ylim(y0, y1)
        ax.set_aspect("equal")
        ax.set_xlabel(f"seed {job.seed}", fontsize=8)
    return _save(fig, path)


def file_stem(metric: str) -> str:
    """A file-name-safe form of the metric's name."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in short_name(metric))
