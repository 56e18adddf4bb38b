"""The comparison as markdown tables and as CSV, and every seed's values as CSV."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from genlab.compare.chance import ChanceLevel
from genlab.compare.stats import (
    CONFIDENCE,
    HIGHER,
    MIN_RUNS_FOR_BOOTSTRAP,
    MIN_RUNS_FOR_INTERVAL,
    RECOMMENDED_RUNS,
    Difference,
    GroupRow,
    Stat,
    direction,
    is_fraction,
    short_name,
)

COUNTS = ("completed", "failed", "diverged", "running")
STOPPED = "interrupted"  # a column of the table only when a job was stopped on request
CHANCE_LABEL = "chance (uniform)"
FEW = "⚠"  # marks a group with fewer than RECOMMENDED_RUNS completed runs


def number(value: float) -> str:
    """Three significant digits; whole numbers from 1000 on."""
    if not math.isfinite(value):
        return str(value)
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"


def _scale(metric: str) -> float:
    return 100.0 if is_fraction(metric) else 1.0


def interval_text(low: float, high: float, metric: str) -> str:
    """`[low, high]` in the metric's display unit."""
    scale = _scale(metric)
    return f"[{number(scale * low)}, {number(scale * high)}]"


def cell(stat: Stat, metric: str, n_row: int) -> str:
    """`mean ± std [low, high]` in the metric's display unit (the t interval only from
    MIN_RUNS_FOR_INTERVAL runs on); `(n=k)` when fewer runs than the row's n."""
    if stat.n == 0:
        return "-"
    scale = _scale(metric)
    std = number(scale * stat.std) if stat.n > 1 else "-"
    text = f"{number(scale * stat.mean)} ± {std}"
    if stat.has_interval:
        text += f" {interval_text(stat.low, stat.high, metric)}"
    return f"{text} (n={stat.n})" if stat.n < n_row else text


def iqm_cell(stat: Stat, metric: str) -> str:
    """`iqm [low, high]` (the bootstrap interval from MIN_RUNS_FOR_BOOTSTRAP runs on)."""
    if stat.n == 0 or math.isnan(stat.iqm):
        return "-"
    text = number(_scale(metric) * stat.iqm)
    if stat.has_iqm_interval:
        text += f" {interval_text(stat.iqm_low, stat.iqm_high, metric)}"
    return text


def difference_cell(difference: Difference | None, metric: str) -> str:
    """`+d [low, high]`, with ` *` when the interval excludes 0; `+d (n<2)` without one."""
    if difference is None:
        return "-"
    text = f"{_scale(metric) * difference.value:+.3g}"
    if not difference.has_interval:
        return f"{text} (n<{MIN_RUNS_FOR_INTERVAL})"
    text += f" {interval_text(difference.low, difference.high, metric)}"
    return text + " *" if difference.excludes_zero else text


def improvement_cell(difference: Difference | None) -> str:
    """`p [low, high]`, the interval from MIN_RUNS_FOR_BOOTSTRAP runs per group on."""
    if difference is None:
        return "-"
    text = f"{difference.improvement:.2f}"
    if not difference.has_improvement_interval:
        return f"{text} (n<{MIN_RUNS_FOR_BOOTSTRAP})"
    return f"{text} [{difference.improvement_low:.2f}, {difference.improvement_high:.2f}]"


def header(metric: str) -> str:
    """Column title of a metric."""
    return f"{short_name(metric)} (%)" if is_fraction(metric) else short_name(metric)


def improvement_header(metric: str) -> str:
    """Column title of a metric's probability of improvement: which way counts as better."""
    way = direction(metric)
    if way is None:
        return f"{short_name(metric)}: P(group > baseline), no known direction"
    return f"{short_name(metric)} ({'higher' if way == HIGHER else 'lower'} is better)"


def row_n(row: GroupRow) -> int:
    """Completed runs that entered the row's statistics (the most of any metric)."""
    return max((stat.n for stat in row.stats.values()), default=len(row.completed))


def n_cell(n: int) -> str:
    """The row's n, flagged below RECOMMENDED_RUNS."""
    return f"{n} {FEW}" if n < RECOMMENDED_RUNS else str(n)


def _table(titles: list[str], lines: list[list[str]]) -> list[str]:
    rule = "|" + "|".join("---" for _ in titles) + "|"
    return ["| " + " | ".join(titles) + " |", rule] + ["| " + " | ".join(c) + " |" for c in lines]


def iqm_table(rows: list[GroupRow], metrics: list[str]) -> str:
    """Each group's interquartile mean by metric, with its bootstrap interval."""
    lines = [[row.label, *(iqm_cell(row.stats[m], m) for m in metrics)] for row in rows]
    heading = f"Interquartile mean [{CONFIDENCE:.0%} bootstrap interval]:"
    return "\n".join([heading, "", *_table(["group", *(header(m) for m in metrics)], lines)])


def difference_table(
    baseline: GroupRow, diffs: dict[str, dict[str, Difference | None]], metrics: list[str]
) -> str:
    """Each group's difference to the baseline, by metric, as a markdown table."""
    lines = [[label, *(difference_cell(d[m], m) for m in metrics)] for label, d in diffs.items()]
    heading = f"Difference to the baseline `{baseline.label}` (group mean - baseline mean):"
    return "\n".join([heading, "", *_table(["group", *(header(m) for m in metrics)], lines)])


def improvement_table(
    baseline: GroupRow, diffs: dict[str, dict[str, Difference | None]], metrics: list[str]
) -> str:
    """Each group's probability of improvement over the baseline, by metric."""
    lines = [[label, *(improvement_cell(d[m]) for m in metrics)] for label, d in diffs.items()]
    heading = (
        f"Probability of improvement over the baseline `{baseline.label}` "
        f"[{CONFIDENCE:.0%} bootstrap interval]:"
    )
    titles = ["group", *(improvement_header(m) for m in metrics)]
    return "\n".join([heading, "", *_table(titles, lines)])


def few_runs_footnote(smallest: int) -> str:
    """What the warning mark means (the reasoning is in docs/studies.md's protocol)."""
    return (
        f"{FEW} n < {RECOMMENDED_RUNS}: fewer completed seeds than the protocol's "
        f"{RECOMMENDED_RUNS} (here down to {smallest}). At this n the intervals are wide and "
        "rest on the mean being roughly normal, which a metric whose seeds split into two "
        "clusters (collapsed or not) may not be; Welch's t-test at the 5% level has 80% power "
        "only for a difference of about 2 sd at 5 seeds per arm (1.3 sd at 10; a power analysis"
        ' as in Colas et al. 2018, "How many random seeds?"). Run more seeds before calling a'
        " difference."
    )


def markdown(
    rows: list[GroupRow],
    metrics: list[str],
    chance: ChanceLevel | None,
    notes: list[str],
    baseline: GroupRow | None = None,
    diffs: dict[str, dict[str, Difference | None]] | None = None,
) -> str:
    """Groups (and the chance row) by metric as a markdown table, each group's interquartile
    mean, the differences to the baseline and the probabilities of improvement over it (when
    a baseline is given), and footnotes."""
    counts = COUNTS + ((STOPPED,) if any(row.counts[STOPPED] for row in rows) else ())
    titles = ["group", *(header(m) for m in metrics), "n", *counts]
    lines = []
    for row in rows:
        n = row_n(row)
        cells = [row.label, *(cell(row.stats[m], m, n) for m in metrics), n_cell(n)]
        lines.append(cells + [str(row.counts[status]) for status in counts])
    if chance is not None:
        cells = [CHANCE_LABEL]
        for metric in metrics:
            stat = chance.stats.get(metric)
            cells.append(cell(stat, metric, chance.repeats) if stat else "-")
        lines.append(cells + [str(chance.repeats), *("-" for _ in counts)])
    level = f"{CONFIDENCE:.0%}"
    sections = [
        "\n".join(_table(titles, lines)),
        f"Mean ± sample std [{level} Student-t interval of the mean: mean ± t(0.975, n-1) s / "
        "sqrt(n)] over the completed runs with a finite value; failed, diverged and running runs"
        f" never enter the statistics. An interval needs {MIN_RUNS_FOR_INTERVAL} runs or more. "
        "The t interval is the textbook one for a mean at small n (a percentile bootstrap of "
        "the mean is only about sqrt((n-1)/n) 1.96 s / sqrt(n) wide, too narrow at 5-10 seeds, "
        "and never reaches past the observed values); for a bimodal metric it is still only "
        "approximate. Every seed's value is in comparison_seeds.csv and the strip plots.",
    ]
    flagged = [row_n(row) for row in rows if row_n(row) < RECOMMENDED_RUNS]
    if flagged:
        sections.append(few_runs_footnote(min(flagged)))
    if chance is not None:
        sections.append(chance.footnote())
    if metrics:
        sections.append(iqm_table(rows, metrics))
        sections.append(
            "Interquartile mean (IQM): the mean of the middle half of the seeds' values "
            "(scipy.stats.trim_mean(x, 0.25), rliable's IQM; robust to a few outlying seeds). "
            f"Interval: {level} percentile bootstrap over the seeds (scipy.stats.bootstrap, "
            f"9,999 resamples, seeded), from {MIN_RUNS_FOR_BOOTSTRAP} runs on; rliable's "
            "stratified bootstrap reduces to this for one task."
        )
    if baseline is not None and diffs and metrics:
        sections.append(difference_table(baseline, diffs, metrics))
        sections.append(
            f"Differences: {level} Welch interval of the difference of means (t with the "
            "Welch-Satterthwaite degrees of freedom; unequal variances allowed); `*`: the "
            "interval excludes 0 (more than seed noise at this level, not corrected for the "
            f"number of comparisons); `(n<{MIN_RUNS_FOR_INTERVAL})`: too few runs for an "
            "interval."
        )
        sections.append(improvement_table(baseline, diffs, metrics))
        sections.append(
            "Probability of improvement: P(group better than baseline) + 0.5 P(tie) over all "
            "pairs of a group seed and a baseline seed (the Mann-Whitney U statistic / (n m), "
            "rliable's probability_of_improvement); 0.5 is no difference, 1 every seed of the "
            f"group beats every seed of the baseline. Interval: {level} percentile bootstrap, "
            "each group resampled on its own (9,999 resamples, seeded), from "
            f"{MIN_RUNS_FOR_BOOTSTRAP} runs per group on; where every pair favours one side it"
            " collapses to [1, 1] or [0, 0] (no resample can hold a seed that breaks the "
            "pattern). Which way is better for a metric is in its column title."
        )
    sections += notes
    return "\n\n".join(sections) + "\n"


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
    "iqm",
    "iqm_low",
    "iqm_high",
    "baseline",
    "diff",
    "diff_low",
    "diff_high",
    "direction",
    "improvement",
    "improvement_low",
    "improvement_high",
]


def csv_value(x: float) -> str:
    return "" if math.isnan(x) else repr(x)


def direction_name(metric: str) -> str:
    """`higher`, `lower` or empty: which way is better for the metric."""
    way = direction(metric)
    return "" if way is None else "higher" if way == HIGHER else "lower"


def write_csv(
    path: Path,
    rows: list[GroupRow],
    metrics: list[str],
    chance: ChanceLevel | None,
    baseline: GroupRow | None = None,
    diffs: dict[str, dict[str, Difference | None]] | None = None,
) -> None:
    """One line per group and metric (raw units; intervals empty where there is none), with the
    difference to the baseline and the probability of improvement over it, plus the chance
    level's metrics."""
    diffs = diffs or {}
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, CSV_COLUMNS, restval="")
        writer.writeheader()
        for row in rows:
            for metric in metrics:
                stat = row.stats[metric]
                line: dict[str, object] = {
                    "group": row.label,
                    "metric": metric,
                    "mean": csv_value(stat.mean),
                    "std": csv_value(stat.std) if stat.n > 1 else "",
                    "ci_low": csv_value(stat.low),
                    "ci_high": csv_value(stat.high),
                    "n": stat.n,
                    **{status: row.counts[status] for status in (*COUNTS, STOPPED)},
                    "iqm": csv_value(stat.iqm),
                    "iqm_low": csv_value(stat.iqm_low),
                    "iqm_high": csv_value(stat.iqm_high),
                    "baseline": baseline.label if baseline is not None else "",
                    "direction": direction_name(metric),
                }
                difference = diffs.get(row.label, {}).get(metric)
                if difference is not None:
                    line |= {
                        "diff": csv_value(difference.value),
                        "diff_low": csv_value(difference.low),
                        "diff_high": csv_value(difference.high),
                        "improvement": csv_value(difference.improvement),
                        "improvement_low": csv_value(difference.improvement_low),
                        "improvement_high": csv_value(difference.improvement_high),
                    }
                writer.writerow(line)
        if chance is not None:
            for metric in metrics:
                if metric in chance.stats:
                    stat = chance.stats[metric]
                    writer.writerow(
                        {
                            "group": CHANCE_LABEL,
                            "metric": metric,
                            "mean": csv_value(stat.mean),
                            "std": csv_value(stat.std),
                            "n": stat.n,
                            "direction": direction_name(metric),
                        }
                    )


def write_seeds_csv(path: Path, rows: list[GroupRow], metrics: list[str]) -> None:
    """Every job's final values, one line per job: group, seed, job folder, status, one column
    per metric (raw units; empty where the job logged none). Only the completed jobs' finite
    values enter the statistics."""
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["group", "seed", "job", "status", *metrics])
        for row in rows:
            for job in row.jobs:
                values = [repr(job.values[m]) if m in job.values else "" for m in metrics]
                seed = "" if job.seed is None else job.seed
                writer.writerow([row.label, seed, job.folder.name, job.status, *values])
