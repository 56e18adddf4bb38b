"""The comparison as a markdown table and as CSV."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from genlab.compare.chance import ChanceLevel
from genlab.compare.stats import (
    CONFIDENCE,
    MIN_RUNS_FOR_INTERVAL,
    Difference,
    GroupRow,
    Stat,
    is_fraction,
    short_name,
)

COUNTS = ("completed", "failed", "diverged", "running")
STOPPED = "interrupted"  # a column of the table only when a job was stopped on request
CHANCE_LABEL = "chance (uniform)"


def number(value: float) -> str:
    """Three significant digits; whole numbers from 1000 on."""
    if not math.isfinite(value):
        return str(value)
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"


def _scale(metric: str) -> float:
    return 100.0 if is_fraction(metric) else 1.0


def cell(stat: Stat, metric: str, n_row: int) -> str:
    """`mean ± std [low, high]` in the metric's display unit (the interval only from
    MIN_RUNS_FOR_INTERVAL runs on); `(n=k)` when fewer runs than the row's n."""
    if stat.n == 0:
        return "-"
    scale = _scale(metric)
    std = number(scale * stat.std) if stat.n > 1 else "-"
    text = f"{number(scale * stat.mean)} ± {std}"
    if stat.has_interval:
        text += f" [{number(scale * stat.low)}, {number(scale * stat.high)}]"
    return f"{text} (n={stat.n})" if stat.n < n_row else text


def difference_cell(difference: Difference | None, metric: str) -> str:
    """`+d [low, high]`, with ` *` when the interval excludes 0; `+d (n<3)` without one."""
    if difference is None:
        return "-"
    scale = _scale(metric)
    text = f"{scale * difference.value:+.3g}"
    if not difference.has_interval:
        return f"{text} (n<{MIN_RUNS_FOR_INTERVAL})"
    text += f" [{number(scale * difference.low)}, {number(scale * difference.high)}]"
    return text + " *" if difference.excludes_zero else text


def header(metric: str) -> str:
    """Column title of a metric."""
    return f"{short_name(metric)} (%)" if is_fraction(metric) else short_name(metric)


def row_n(row: GroupRow) -> int:
    """Completed runs that entered the row's statistics (the most of any metric)."""
    return max((stat.n for stat in row.stats.values()), default=len(row.completed))


def difference_table(
    baseline: GroupRow, diffs: dict[str, dict[str, Difference | None]], metrics: list[str]
) -> str:
    """Each group's difference to the baseline, by metric, as a markdown table."""
    titles = ["group", *(header(m) for m in metrics)]
    lines = [
        f"Difference to the baseline `{baseline.label}` (group mean - baseline mean):",
        "",
        "| " + " | ".join(titles) + " |",
        "|" + "|".join("---" for _ in titles) + "|",
    ]
    for label, by_metric in diffs.items():
        cells = [label, *(difference_cell(by_metric[m], m) for m in metrics)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown(
    rows: list[GroupRow],
    metrics: list[str],
    chance: ChanceLevel | None,
    notes: list[str],
    comparison: str | None = None,
) -> str:
    """Groups (and the chance row) by metric as a markdown table, the differences to the
    baseline (`comparison`, from difference_table) when given, and footnotes."""
    counts = COUNTS + ((STOPPED,) if any(row.counts[STOPPED] for row in rows) else ())
    titles = ["group", *(header(m) for m in metrics), "n", *counts]
    lines = ["| " + " | ".join(titles) + " |", "|" + "|".join("---" for _ in titles) + "|"]
    for row in rows:
        n = row_n(row)
        cells = [row.label, *(cell(row.stats[m], m, n) for m in metrics), str(n)]
        cells += [str(row.counts[status]) for status in counts]
        lines.append("| " + " | ".join(cells) + " |")
    if chance is not None:
        cells = [CHANCE_LABEL]
        for metric in metrics:
            stat = chance.stats.get(metric)
            cells.append(cell(stat, metric, chance.repeats) if stat else "-")
        cells += [str(chance.repeats), *("-" for _ in counts)]
        lines.append("| " + " | ".join(cells) + " |")
    level = f"{CONFIDENCE:.0%}"
    footnotes = [
        f"Mean ± sample std [{level} interval of the mean] over the completed runs with a finite"
        " value; failed, diverged and running runs never enter the statistics. Intervals: "
        "percentile bootstrap (scipy.stats.bootstrap, 9,999 resamples, seeded), given only from "
        f"{MIN_RUNS_FOR_INTERVAL} runs on; with fewer, an interval is not meaningful. With few"
        " runs a bootstrap interval is optimistic (it cannot reach beyond the observed values)."
    ]
    if comparison is not None:
        footnotes.append(comparison)
        footnotes.append(
            f"Differences: {level} bootstrap interval of the difference of means, each group "
            "resampled on its own; `*`: the interval excludes 0 (more than seed noise at this "
            f"level, not corrected for the number of comparisons); `(n<{MIN_RUNS_FOR_INTERVAL})`:"
            " too few runs for an interval.",
        )
    if chance is not None:
        footnotes.append(chance.footnote())
    footnotes += notes
    return "\n".join(lines) + "\n\n" + "\n\n".join(footnotes) + "\n"


CSV_COLUMNS = [
    "group",
    "metric",
    "mean",
    "std",
    "ci_low",
    "ci_high",
    "n",
    *COUNTS,
    STOPPED,
    "baseline",
    "diff",
    "diff_low",
    "diff_high",
]


def write_csv(
    path: Path,
    rows: list[GroupRow],
    metrics: list[str],
    chance: ChanceLevel | None,
    baseline: GroupRow | None = None,
    diffs: dict[str, dict[str, Difference | None]] | None = None,
) -> None:
    """One line per group and metric (raw units; intervals empty where there is none), with the
    difference to the baseline, plus the chance level's metrics."""

    def value(x: float) -> str:
        return "" if math.isnan(x) else repr(x)

    diffs = diffs or {}
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for row in rows:
            counts = [row.counts[status] for status in (*COUNTS, STOPPED)]
            for metric in metrics:
                stat = row.stats[metric]
                std = value(stat.std) if stat.n > 1 else ""
                line = [row.label, metric, value(stat.mean), std, value(stat.low)]
                line += [value(stat.high), stat.n, *counts]
                difference = diffs.get(row.label, {}).get(metric)
                line.append(baseline.label if baseline is not None else "")
                if difference is None:
                    line += ["", "", ""]
                else:
                    line += [value(d) for d in (difference.value, difference.low, difference.high)]
                writer.writerow(line)
        if chance is not None:
            for metric in metrics:
                if metric in chance.stats:
                    stat = chance.stats[metric]
                    writer.writerow(
                        [CHANCE_LABEL, metric, value(stat.mean), value(stat.std), "", "", stat.n]
                        + ["" for _ in range(len(CSV_COLUMNS) - 7)]
                    )
