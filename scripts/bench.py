"""genlab vs a hand-written PyTorch loop, side by side: `make bench` (python scripts/bench.py).

For each case the same nets (instantiated from genlab's own config), optimisers, batch size and
device-resident data run (a) as a minimal hand-written PyTorch loop and (b) as `genlab-train`
with its default callbacks, loggers and logging cadence (metrics off: they are timed on their
own below), interleaved A B A B in fresh processes. Both sides are timed over the training loop
only, from the first iteration to the end, warm-up included. The study case times whole
processes instead: a 2-arm x 2-seed ring8 sweep (`genlab-train -m`, one process) against the
same four trainings done one after another by the hand-written loop in one script. Also
measured: `genlab-train --help`, start-up to the first iteration against `import lightning`,
samples/s of each metric, and the share of a default run's wall time spent on metrics. The
members case trains K seeds of a case as one batched model (hydra/launcher=members) and reports
member-iterations/s at each K against one plain run of the case (K plain runs one after another
make that rate), each in a fresh process. The image-net cases (dcgan_64, resnet_32: the reference
DCGAN and SNGAN's ResNet, data=image_folder on random PNGs written into the scratch folder) run in
32-true and bf16-mixed, and report each side's bf16 speed-up. Writes bench.json.

    python scripts/bench.py [--cases gan_mlp ...] [--repeats 3] [--no-metrics] [--no-study]
                            [--members 1 5 20 | --members]   # --members alone: skip that case
                            [--no-cases]   # only the members case (with --no-study --no-metrics)
                            [--iterations-scale 0.1]   # a smoke test: every case's count x 0.1
    python scripts/bench.py --cases dcgan_64 resnet_32 --no-study --no-metrics   # the image nets
    python scripts/bench.py --device cuda   # on a GPU: every case in bf16-mixed and 16-mixed
                                            # (the image nets in 32-true and bf16-mixed),
                                            # members at K = 1, 5, 20, 64 in bf16-mixed

This file runs the benchmarks beside it, one file each, and writes what they measured:
bench_training.py (genlab-train against the loop, per case and precision), bench_members.py,
bench_study.py, bench_startup.py and bench_metrics.py. bench_loop.py is the hand-written loop,
the reference (`python scripts/bench_loop.py gan_mlp` runs it alone); bench_cases.py holds the
cases and their iteration counts; bench_common.py what the benchmarks share.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the bench_*.py, also under runpy
import bench_members
import bench_metrics
import bench_startup
import bench_study
import bench_training
from bench_cases import CASES, CASES_BY_NAME, Case
from bench_common import REPO, Report, scratch_folder, write_report


def run(
    cases: list[Case],
    repeats: int,
    scratch: Path,
    metrics: bool,
    study: bool,
    device: str,
    member_sizes: list[int],
) -> Report:
    report = Report()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    if repeats > 0:
        report.rows = bench_training.measure(cases, repeats, scratch, device)
    if member_sizes:
        report.extras["members"] = bench_members.measure(cases, member_sizes, scratch, device)
    if study:
        report.extras["study"] = bench_study.measure(max(repeats, 1), scratch)
    report.extras.update(bench_startup.measure(report.rows))
    if metrics:
        report.extras.update(bench_metrics.measure(scratch))
    return report


def print_table(report: Report) -> None:
    bench_training.print_tables(report.rows)
    extras = report.extras
    if extras.get("study"):
        bench_study.print_table(extras["study"])
    if extras.get("members"):
        bench_members.print_table(extras["members"])
    bench_startup.print_lines(extras)
    bench_metrics.print_lines(extras)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", choices=list(CASES_BY_NAME), default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-metrics", action="store_true", help="skip the metric timings")
    parser.add_argument("--no-study", action="store_true", help="skip the study-level case")
    parser.add_argument(
        "--no-cases", action="store_true", help="skip the genlab-vs-plain-loop rows (members only)"
    )
    parser.add_argument(
        "--device",
        choices=["cpu", "cuda"],
        default="cpu",
        help="cuda: every case on the GPU in bf16-mixed and 16-mixed (dcgan_64 and resnet_32:"
        " 32-true and bf16-mixed), data on the device",
    )
    parser.add_argument(
        "--members",
        type=int,
        nargs="*",
        default=None,
        help="K values of the members case (default 1 5 20; 1 5 20 64 with --device cuda);"
        " --members with no value skips it",
    )
    parser.add_argument(
        "--iterations-scale",
        type=float,
        default=1.0,
        help="multiply every case's iteration count (rows and members) by this, e.g. 0.1 for a"
        " smoke test; the figures are then not comparable with the documented ones",
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench.json")
    args = parser.parse_args(argv)
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            parser.error("--device cuda: torch sees no CUDA device on this machine")
    cases = [CASES_BY_NAME[n] for n in args.cases] if args.cases else CASES
    if args.iterations_scale != 1.0:
        cases = [case.scaled(args.iterations_scale) for case in cases]
    with scratch_folder() as scratch:
        report = run(
            cases,
            0 if args.no_cases else args.repeats,
            scratch,
            metrics=not args.no_metrics and args.device == "cpu",
            study=not args.no_study and args.device == "cpu",
            device=args.device,
            member_sizes=(
                args.members
                if args.members is not None
                else ([1, 5, 20, 64] if args.device == "cuda" else [1, 5, 20])
            ),
        )
    print_table(report)
    write_report(report, args.iterations_scale, args.out)


if __name__ == "__main__":
    main()
