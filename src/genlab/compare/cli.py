"""genlab-compare <multirun folder> [--replicate <folder>]: a sweep's results per group, with
plots, in the folder; or which of its conclusions a second sweep on other seeds replicates."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from genlab.compare.jobs import CompareError, Job, load_jobs
from genlab.compare.stats import (
    HIGHER,
    LOWER,
    MIN_RUNS_FOR_INTERVAL,
    RECOMMENDED_RUNS,
    check_group_keys,
    default_metrics,
    differences,
    group_jobs,
    group_rows,
    patterns_of,
    pick_baseline,
    resolve_metrics,
    varying_keys,
)

DESCRIPTION = """\
Compare the jobs of a Hydra sweep (genlab-train -m ...). Jobs are grouped by the overrides that
vary across them other than seed. Each metric is shown as mean ± sample std with the 95%
Student-t interval of the mean (from {MIN_RUNS} completed runs on; a percentile bootstrap is too
narrow at 5-10 seeds), the interquartile mean (IQM) with a 95% bootstrap interval, counts of
completed, failed, diverged and running jobs, and a warning mark on groups with fewer than
{RECOMMENDED} completed seeds. Against a baseline group: each group's difference of means with
its 95% Welch interval, and its probability of improvement (P(better) + 0.5 P(tie) over all pairs
of seeds; higher is better for {HIGHER_IS_BETTER}; lower for {LOWER_IS_BETTER}; neither for
{NEITHER} or any other metric, where P(group > baseline) is given) with a 95% bootstrap interval.
Bootstraps are seeded: the tables are reproducible. For a 2-D mixture a chance row (uniform
points over the mixture's box) is added. Writes comparison.md, comparison.csv,
comparison_seeds.csv (every job's values) and PNG plots (every seed as a dot) into the multirun
folder and prints the tables. With --replicate, compares instead the conclusions of two sweeps of
the same arms on disjoint seeds.""".format(
    HIGHER_IS_BETTER=", ".join(patterns_of(HIGHER)),
    LOWER_IS_BETTER=", ".join(patterns_of(LOWER)),
    NEITHER=", ".join(patterns_of(None)),
    MIN_RUNS=MIN_RUNS_FOR_INTERVAL,
    RECOMMENDED=RECOMMENDED_RUNS,
)


def parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    cli = argparse.ArgumentParser(prog="genlab-compare", description=DESCRIPTION)
    cli.add_argument("folder", type=Path, help="multirun folder, e.g. logs/multirun/<date>_<time>")
    cli.add_argument(
        "--metrics",
        nargs="+",
        metavar="NAME",
        help="metrics to compare, with or without the metrics/ prefix (e.g. modes train/g_loss);"
        " default: every metrics/* value of the completed runs",
    )
    cli.add_argument(
        "--by",
        nargs="+",
        metavar="KEY",
        help="group by these override keys (e.g. model model.gp_lambda) instead of the ones"
        " that vary across jobs",
    )
    cli.add_argument(
        "--baseline",
        metavar="GROUP",
        help="the group the others are compared with: a label as printed (fix=vanilla) or one"
        " value of it (vanilla); default: the group whose overrides say vanilla, else the first",
    )
    cli.add_argument(
        "--replicate",
        type=Path,
        metavar="FOLDER",
        help="a second sweep of the same arms on disjoint seeds (e.g. seed=range(100,110)):"
        " mark each group's conclusion against the baseline, per metric, as replicated, not"
        " replicated or no effect in either; writes replication.md and replication.csv into"
        " the first folder",
    )
    return cli


def _metrics_of(metrics: list[str] | None, jobs: list[Job]) -> list[str]:
    return resolve_metrics(metrics, jobs) if metrics else default_metrics(jobs)


def compare(
    folder: Path, metrics: list[str] | None, by: list[str] | None, baseline: str | None = None
) -> list[Path]:
    """Write the comparison files into `folder`, print the table; returns the written paths."""
    from genlab.compare.chance import chance_for_jobs
    from genlab.compare.plots import curve_charts, file_stem, samples_grid, strip_chart
    from genlab.compare.report import markdown, write_csv, write_seeds_csv

    jobs = load_jobs(folder)
    if by:
        check_group_keys(by, jobs)
    keys = by or varying_keys(jobs)
    chosen = _metrics_of(metrics, jobs)
    rows = group_rows(group_jobs(jobs, keys), chosen)
    base = pick_baseline(rows, baseline)
    diffs = differences(rows, base, chosen) if base is not None else None
    chance, note = chance_for_jobs(jobs)
    if chance is not None and not set(chosen) & set(chance.stats):
        chance = None
    notes = [note] if note else []
    if not chosen:
        notes.append("No metric to compare: no completed run logged a metrics/* value yet.")

    table = markdown(rows, chosen, chance, notes, base, diffs)
    written = [folder / "comparison.md", folder / "comparison.csv", folder / "comparison_seeds.csv"]
    written[0].write_text(table)
    write_csv(written[1], rows, chosen, chance, base, diffs)
    write_seeds_csv(written[2], rows, chosen)
    for metric in chosen:
        written.append(
            strip_chart(folder / f"comparison_{file_stem(metric)}.png", rows, metric, chance)
        )
    written += curve_charts(folder, rows, chosen, chance)
    grid = samples_grid(folder / "samples_grid.png", rows)
    if grid is not None:
        written.append(grid)

    print(table)
    print("written:")
    for path in written:
        print(f"  {path}")
    return written


def replicate(
    folder: Path,
    second: Path,
    metrics: list[str] | None,
    by: list[str] | None,
    baseline: str | None = None,
) -> list[Path]:
    """Write replication.md / .csv into `folder`: each group's conclusion against the baseline
    in both sweeps, per metric, and whether it replicates; print the table."""
    from genlab.compare.replication import (
        Sweep,
        check_disjoint,
        check_same_groups,
        replication_table,
        sweep_seeds,
        write_replication_csv,
    )

    jobs = {folder: load_jobs(folder), second: load_jobs(second)}
    seeds = {path: sweep_seeds(found, path) for path, found in jobs.items()}
    check_disjoint(seeds[folder], seeds[second], (folder, second))
    if by:
        for found in jobs.values():
            check_group_keys(by, found)
    keys = by or varying_keys(jobs[folder])
    groups = {path: group_jobs(found, keys) for path, found in jobs.items()}
    check_same_groups(list(groups[folder]), list(groups[second]), keys)
    if metrics:
        chosen = resolve_metrics(metrics, jobs[folder])
        try:
            resolve_metrics(metrics, jobs[second])
        except CompareError as err:
            raise CompareError(f"in {second}: {err}") from None
    else:
        also = set(default_metrics(jobs[second]))
        chosen = [m for m in default_metrics(jobs[folder]) if m in also]
    if not chosen:
        raise CompareError(
            f"{folder} and {second} have no metrics/* value in common in their completed runs"
        )
    sides = []
    base_label = ""
    for path in (folder, second):
        rows = group_rows(groups[path], chosen)
        if len(rows) < 2:
            raise CompareError(
                f"{path} has a single group ({rows[0].label}): a replication compares groups"
                " with a baseline; sweep at least two arms"
            )
        base = pick_baseline(rows, baseline or base_label or None)
        assert base is not None
        base_label = base.label  # the second sweep uses the first's baseline
        sides.append(Sweep(path, seeds[path], differences(rows, base, chosen)))
    table = replication_table(base_label, chosen, sides[0], sides[1])
    written = [folder / "replication.md", folder / "replication.csv"]
    written[0].write_text(table)
    write_replication_csv(written[1], chosen, sides[0], sides[1])
    print(table)
    print("written:")
    for path in written:
        print(f"  {path}")
    return written


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    cli = parser()
    args = cli.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args.replicate is not None:
            replicate(args.folder, args.replicate, args.metrics, args.by, args.baseline)
        else:
            compare(args.folder, args.metrics, args.by, args.baseline)
    except CompareError as err:
        cli.exit(2, f"{cli.prog}: error: {err}\n")
