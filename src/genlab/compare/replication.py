"""A study's conclusions on two disjoint seed sets: which of them replicate."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from genlab.compare.jobs import CompareError, Job
from genlab.compare.report import FEW, csv_value, difference_cell, direction_name, header
from genlab.compare.stats import CONFIDENCE, RECOMMENDED_RUNS, Difference

REPLICATED = "replicated"
NOT_REPLICATED = "not replicated"
NO_EFFECT = "no effect in either"
TOO_FEW = "too few runs"
SIGNIFICANT = ("better", "worse", "higher", "lower")  # Difference.conclusion, interval off 0


def verdict(first: Difference | None, second: Difference | None) -> str:
    """`replicated` when both sweeps reach the same significant conclusion (better / worse than
    the baseline: the 95% interval of the difference excludes 0, read with the metric's
    direction), `no effect in either` when neither does, `not replicated` when one does and the
    other does not or says the opposite; `too few runs` where a sweep has no interval."""
    if first is None or second is None or not (first.has_interval and second.has_interval):
        return TOO_FEW
    one, two = first.conclusion, second.conclusion
    if one in SIGNIFICANT and one == two:
        return REPLICATED
    if one not in SIGNIFICANT and two not in SIGNIFICANT:
        return NO_EFFECT
    return NOT_REPLICATED


def seed_span(seeds: set[int]) -> str:
    """Seeds as ranges: {0, 1, 2, 3, 7} -> `0-3, 7`."""
    ordered, parts = sorted(seeds), []
    start = previous = None
    for seed in [*ordered, None]:
        if start is not None and (seed is None or seed != previous + 1):
            parts.append(str(start) if start == previous else f"{start}-{previous}")
            start = None
        if start is None:
            start = seed
        previous = seed
    return ", ".join(parts) or "none"


def sweep_seeds(jobs: list[Job], folder: Path) -> set[int]:
    """The seeds of a sweep's jobs; raises when a job's seed cannot be told."""
    unknown = [job.name for job in jobs if job.seed is None]
    if unknown:
        raise CompareError(
            f"cannot tell the seed of job {', '.join(unknown)} in {folder} (no seed in its "
            "summary.json, resolved_config.yaml or overrides), so cannot check that the two "
            "sweeps' seeds are disjoint"
        )
    return {job.seed for job in jobs if job.seed is not None}


def check_disjoint(first: set[int], second: set[int], folders: tuple[Path, Path]) -> None:
    """Raise unless the two sweeps share no seed: a replication needs new draws."""
    shared = first & second
    if shared:
        raise CompareError(
            f"{folders[0]} and {folders[1]} share seeds {seed_span(shared)}: a replication "
            "needs disjoint seeds; run the second sweep on new ones (e.g. seed=range(100,110))"
            " and pass that folder to --replicate"
        )


def check_same_groups(first: list[str], second: list[str], keys: list[str]) -> None:
    """Raise unless both sweeps have the same groups (arms)."""
    if set(first) == set(second):
        return
    only_first = [label for label in first if label not in second]
    only_second = [label for label in second if label not in first]
    by = f"grouped by {' '.join(keys)}" if keys else "one group each"
    raise CompareError(
        f"the two sweeps' groups differ ({by}): only in the first: "
        f"{', '.join(only_first) or '-'}; only in the second: {', '.join(only_second) or '-'}."
        " Replicate the same arms, or pass --by with the keys whose groups both sweeps share"
    )


@dataclass(frozen=True)
class Sweep:
    """One side of a replication: its folder, seeds and differences to the baseline."""

    folder: Path
    seeds: set[int]
    diffs: dict[str, dict[str, Difference | None]]


def _difference(difference: Difference | None, metric: str) -> str:
    if difference is None:
        return "-"
    few = f" {FEW}" if min(difference.n, difference.n_baseline) < RECOMMENDED_RUNS else ""
    counts = f" (n={difference.n}/{difference.n_baseline}{few})"
    return difference_cell(difference, metric) + counts


def _conclusion(difference: Difference | None) -> str:
    return "-" if difference is None else difference.conclusion


def replication_table(baseline: str, metrics: list[str], first: Sweep, second: Sweep) -> str:
    """Each group's conclusion against the baseline in both sweeps, by metric, and its verdict."""
    titles = ["group", "metric", "first", "conclusion", "second", "conclusion", "verdict"]
    lines = [
        f"Replication: `{first.folder}` (seeds {seed_span(first.seeds)}) and `{second.folder}`"
        f" (seeds {seed_span(second.seeds)}), each group against the baseline `{baseline}`.",
        "",
        "| " + " | ".join(titles) + " |",
        "|" + "|".join("---" for _ in titles) + "|",
    ]
    tally: dict[str, int] = {}
    for label in first.diffs:
        for metric in metrics:
            one, two = first.diffs[label][metric], second.diffs[label][metric]
            found = verdict(one, two)
            tally[found] = tally.get(found, 0) + 1
            cells = [label, header(metric), _difference(one, metric), _conclusion(one)]
            cells += [_difference(two, metric), _conclusion(two), found]
            lines.append("| " + " | ".join(cells) + " |")
    counts = ", ".join(
        f"{name}: {tally[name]}"
        for name in (REPLICATED, NOT_REPLICATED, NO_EFFECT, TOO_FEW)
        if name in tally
    )
    rule = (
        f"Each cell: group mean - baseline mean [{CONFIDENCE:.0%} Welch interval] (n = group /"
        " baseline runs). Conclusion: better / worse than the baseline when the interval excludes"
        " 0, read with the metric's direction (higher / lower for a metric without one); no"
        " difference when it holds 0. Verdict: replicated when both sweeps reach the same"
        " better / worse conclusion; not replicated when one does and the other finds no"
        " difference or the opposite; no effect in either when neither does; too few runs when"
        " a sweep has a single run in the group or the baseline. Uncorrected for the number of"
        f" comparisons. {FEW}: fewer than {RECOMMENDED_RUNS} runs in a group."
    )
    return "\n".join(lines) + f"\n\n{counts}.\n\n{rule}\n"


def write_replication_csv(path: Path, metrics: list[str], first: Sweep, second: Sweep) -> None:
    """One line per group and metric: both sweeps' differences, conclusions and the verdict."""
    sides = ("first", "second")
    fields = ("diff", "diff_low", "diff_high", "n", "n_baseline", "conclusion")
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        columns = [f"{side}_{field}" for side in sides for field in fields]
        writer.writerow(["group", "metric", "direction", *columns, "verdict"])
        for label in first.diffs:
            for metric in metrics:
                line: list[object] = [label, metric, direction_name(metric)]
                pair = (first.diffs[label][metric], second.diffs[label][metric])
                for difference in pair:
                    if difference is None:
                        line += ["", "", "", "", "", ""]
                        continue
                    line += [csv_value(difference.value), csv_value(difference.low)]
                    line += [csv_value(difference.high), difference.n, difference.n_baseline]
                    line.append(difference.conclusion)
                writer.writerow([*line, verdict(*pair)])
