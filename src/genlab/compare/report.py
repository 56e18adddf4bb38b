"""The comparison as a markdown table and as CSV."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from genlab.compare.chance import ChanceLevel
from genlab.compare.stats import GroupRow, Stat, is_fraction, short_name

COUNTS = ("completed", "failed", "diverged", "running")
CHANCE_LABEL = "chance (uniform)"


def number(value: float) -> str:
    """Three significant digits; whole numbers from 1000 on."""
    if not math.isfinite(value):
        return str(value)
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"


def cell(stat: Stat, metric: str, n_row: int) -> str:
    """`mean ± std` in the metric's display unit; `(n=k)` when fewer runs than the row's n."""
    if stat.n == 0:
        return "-"
    scale = 100.0 if is_fraction(metric) else 1.0
    std = number(scale * stat.std) if stat.n > 1 else "-"
    text = f"{number(scale * stat.mean)} ± {std}"
    return f"{text} (n={stat.n})" if stat.n < n_row else text


def header(metric: str) -> str:
    """Column title of a metric."""
    return f"{short_name(metric)} (%)" if is_fraction(metric) else short_name(metric)


def row_n(row: GroupRow) -> int:
    """Completed runs that entered the row's statistics (the most of any metric)."""
    return max((stat.n for stat in row.stats.values()), default=len(row.completed))


def markdown(
    rows: list[GroupRow], metrics: list[str], chance: ChanceLevel | None, notes: list[str]
) -> str:
    """Groups (and the chance row) by metric as a markdown table, with footnotes."""
    titles = ["group", *(header(m) for m in metrics), "n", *COUNTS]
    lines = ["| " + " | ".join(titles) + " |", "|" + "|".join("---" for _ in titles) + "|"]
    for row in rows:
        n = row_n(row)
        cells = [row.label, *(cell(row.stats[m], m, n) for m in metrics), str(n)]
        cells += [str(row.counts[status]) for status in COUNTS]
        lines.append("| " + " | ".join(cells) + " |")
    if chance is not None:
        cells = [CHANCE_LABEL]
        for metric in metrics:
            stat = chance.stats.get(metric)
            cells.append(cell(stat, metric, chance.repeats) if stat else "-")
        cells += [str(chance.repeats), *("-" for _ in COUNTS)]
        lines.append("| " + " | ".join(cells) + " |")
    footnotes = [
        "Mean ± sample std over the completed runs with a finite value; failed, diverged and "
        "running runs never enter the statistics."
    ]
    if chance is not None:
        footnotes.append(chance.footnote())
    footnotes += notes
    return "\n".join(lines) + "\n\n" + "\n\n".join(footnotes) + "\n"


def write_csv(
    path: Path, rows: list[GroupRow], metrics: list[str], chance: ChanceLevel | None
) -> None:
    """One line per group and metric (raw units), plus the chance level's metrics."""

    def value(x: float) -> str:
        return "" if math.isnan(x) else repr(x)

    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["group", "metric", "mean", "std", "n", *COUNTS])
        for row in rows:
            counts = [row.counts[status] for status in COUNTS]
            for metric in metrics:
                stat = row.stats[metric]
                std = value(stat.std) if stat.n > 1 else ""
                writer.writerow([row.label, metric, value(stat.mean), std, stat.n, *counts])
        if chance is not None:
            for metric in metrics:
                if metric in chance.stats:
                    stat = chance.stats[metric]
                    writer.writerow(
                        [CHANCE_LABEL, metric, value(stat.mean), value(stat.std), stat.n]
                        + ["" for _ in COUNTS]
                    )
