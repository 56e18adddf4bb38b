"""genlab-train against the hand-written loop (bench_loop.py), case by case and precision by
precision: both in fresh processes, interleaved A B A B, each timed over its training loop from
the first iteration to the end, warm-up included; and each reduced precision's speed-up over
32-true, for both sides."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from bench_cases import Case, data_overrides
from bench_common import (
    QUIET,
    bench_script,
    device_overrides,
    figure_of,
    genlab_train,
    rate_text,
    ratio_text,
    summarise,
)


def loop_rate(case: Case, scratch: Path, precision: str, device: str) -> float:
    """Iterations/s of the hand-written loop on the case, in a fresh process."""
    args = [case.name, "--scratch", str(scratch), "--precision", precision, "--device", device]
    args += ["--iterations", str(case.iterations_on(device))]
    command = bench_script("bench_loop.py", args)
    return figure_of(command, f"the hand-written loop of {case.name} failed")


def genlab_rate(
    case: Case, scratch: Path, precision: str = "32-true", device: str = "cpu"
) -> tuple[float, float]:
    """(iterations/s of genlab's training loop, seconds from launch to the first iteration)."""
    iterations = case.iterations_on(device)
    summary, _ = genlab_train(
        [*case.overrides, *data_overrides(case, scratch), *QUIET, "metrics=none"]
        + [f"iterations={iterations}", *device_overrides(precision, device)],
        scratch,
    )
    first = datetime.fromisoformat(summary["train_started_at"]).timestamp()
    # the same clock as the summary's iterations_per_second, which is rounded to 0.01 it/s: too
    # coarse for the image nets' few iterations/s on a CPU
    seconds = summary.get("train_seconds")
    rate = iterations / seconds if seconds else summary["iterations_per_second"]
    return rate, first - summary["_launched_unix"]


def case_row(case: Case, repeats: int, scratch: Path, precision: str, device: str) -> dict:
    plain, genlab, startups, ratios = [], [], [], []
    for _ in range(repeats):  # interleaved A B A B
        plain.append(loop_rate(case, scratch, precision, device))
        rate, startup = genlab_rate(case, scratch, precision, device)
        genlab.append(rate)
        startups.append(startup)
        ratios.append(genlab[-1] / plain[-1])
    on_cpu = device == "cpu"
    label = case.name if on_cpu else f"{case.name} {device}"
    return {
        "case": label if on_cpu and precision == "32-true" else f"{label} {precision}",
        "name": case.name,
        "device": device,
        "precision": precision,
        "notes": case.notes,
        "iterations": case.iterations_on(device),
        "plain_it_s": summarise(plain),
        "genlab_it_s": summarise(genlab),
        "ratio": summarise(ratios),
        "target": case.target if on_cpu else None,  # the promise is the 2-core CPU's
        "startup_s": summarise(startups),
    }


def add_speedups(rows: dict[str, dict]) -> None:
    """Into each reduced-precision row of one case: its it/s over the 32-true row's (medians),
    for the plain loop and for genlab, where the case has a 32-true row."""
    full = rows.get("32-true")
    if full is None:
        return
    for precision, row in rows.items():
        if precision == "32-true":
            continue
        row["speedup_vs_32_true"] = {
            side: row[f"{side}_it_s"]["median"] / full[f"{side}_it_s"]["median"]
            for side in ("plain", "genlab")
        }
        speedup = row["speedup_vs_32_true"]
        print(
            f"{row['case']:22s} speed-up over 32-true: plain {speedup['plain']:.2f}x,"
            f" genlab {speedup['genlab']:.2f}x",
            flush=True,
        )


def measure(cases: list[Case], repeats: int, scratch: Path, device: str) -> list[dict]:
    """A row per case and precision (printed as it is measured), with its speed-ups."""
    measured = []
    for case in cases:
        rows = {}
        for precision in case.precisions_on(device):
            row = case_row(case, repeats, scratch, precision, device)
            rows[precision] = row
            measured.append(row)
            print(
                f"{row['case']:22s} plain {rate_text(row['plain_it_s']['median']):>8s} it/s"
                f"   genlab {rate_text(row['genlab_it_s']['median']):>8s} it/s"
                f"   ratio {row['ratio']['median']:.3f}"
                f" (min {row['ratio']['min']:.3f}, max {row['ratio']['max']:.3f})",
                flush=True,
            )
        add_speedups(rows)
    return measured


def print_tables(rows: list[dict]) -> None:
    """The rows as a Markdown table, and the bf16 / fp16 speed-ups as another."""
    if rows:
        print("\n| case | plain loop it/s | genlab it/s | ratio median (min-max) | target |")
        print("|---|---:|---:|---:|---:|")
    for row in rows:
        target = f">= {row['target']}" if row["target"] is not None else "-"
        print(
            f"| {row['case']} ({row['notes']}) | {rate_text(row['plain_it_s']['median'])} |"
            f" {rate_text(row['genlab_it_s']['median'])} | {ratio_text(row['ratio'])} |"
            f" {target} |"
        )
    speedups = [row for row in rows if "speedup_vs_32_true" in row]
    if speedups:
        print("\n| case | precision | plain loop speed-up | genlab speed-up |\n|---|---|---:|---:|")
    for row in speedups:
        speedup = row["speedup_vs_32_true"]
        where = "" if row["device"] == "cpu" else f" ({row['device']})"
        print(
            f"| {row['name']}{where} | {row['precision']} over 32-true |"
            f" {speedup['plain']:.2f}x | {speedup['genlab']:.2f}x |"
        )
