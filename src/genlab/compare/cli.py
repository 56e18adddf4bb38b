"""genlab-compare <multirun folder>: a sweep's results per group, with plots, in the folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from genlab.compare.jobs import CompareError, load_jobs
from genlab.compare.stats import (
    check_group_keys,
    default_metrics,
    differences,
    group_jobs,
    group_rows,
    pick_baseline,
    resolve_metrics,
    varying_keys,
)

DESCRIPTION = """\
Compare the jobs of a Hydra sweep (genlab-train -m ...). Jobs are grouped by the overrides that
vary across them other than seed; each metric is shown as mean ± sample std and a 95% bootstrap
interval of the mean (from 3 completed runs on), with counts of completed, failed, diverged and
running jobs, and each group's difference to a baseline group with its 95% interval. For a 2-D
mixture a chance row (uniform points over the mixture's box) is added. Writes comparison.md,
comparison.csv and PNG plots into the multirun folder and prints the tables."""


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
    return cli


def compare(
    folder: Path, metrics: list[str] | None, by: list[str] | None, baseline: str | None = None
) -> list[Path]:
    """Write the comparison files into `folder`, print the table; returns the written paths."""
    from genlab.compare.chance import chance_for_jobs
    from genlab.compare.plots import bar_chart, curve_charts, file_stem, samples_grid
    from genlab.compare.report import difference_table, markdown, write_csv

    jobs = load_jobs(folder)
    if by:
        check_group_keys(by, jobs)
    keys = by or varying_keys(jobs)
    chosen = resolve_metrics(metrics, jobs) if metrics else default_metrics(jobs)
    rows = group_rows(group_jobs(jobs, keys), chosen)
    base = pick_baseline(rows, baseline)
    diffs = differences(rows, base, chosen) if base is not None else None
    chance, note = chance_for_jobs(jobs)
    if chance is not None and not set(chosen) & set(chance.stats):
        chance = None
    notes = [note] if note else []
    if not chosen:
        notes.append("No metric to compare: no completed run logged a metrics/* value yet.")

    comparison = difference_table(base, diffs, chosen) if base and diffs and chosen else None
    table = markdown(rows, chosen, chance, notes, comparison)
    written = [folder / "comparison.md", folder / "comparison.csv"]
    written[0].write_text(table)
    write_csv(written[1], rows, chosen, chance, base, diffs)
    for metric in chosen:
        written.append(
            bar_chart(folder / f"comparison_{file_stem(metric)}.png", rows, metric, chance)
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


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    cli = parser()
    args = cli.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        compare(args.folder, args.metrics, args.by, args.baseline)
    except CompareError as err:
        cli.exit(2, f"{cli.prog}: error: {err}\n")
