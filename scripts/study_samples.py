"""One picture of a study's final samples: each arm's samples.png for one seed, side by side.

    python scripts/study_samples.py logs/multirun/<study>/<date>_<time> docs/<study>_samples.png
    [--seed 0] [--columns 4]

Arms are the sweep's `fix=` groups in the order of their job numbers.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from genlab.compare.jobs import load_jobs  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", default="0")
    parser.add_argument("--columns", type=int, default=4)
    args = parser.parse_args()
    jobs = [
        j
        for j in load_jobs(args.sweep)
        if j.overrides.get("seed") == args.seed and (j.folder / "samples.png").is_file()
    ]
    if not jobs:
        raise SystemExit(f"no job of seed {args.seed} with a samples.png under {args.sweep}")
    rows = math.ceil(len(jobs) / args.columns)
    fig, axes = plt.subplots(rows, args.columns, figsize=(3 * args.columns, 3.5 * rows))
    for ax in axes.flat:
        ax.axis("off")
    for ax, job in zip(axes.flat, jobs, strict=False):
        ax.imshow(plt.imread(job.folder / "samples.png"), interpolation="nearest")
        ax.set_title(f"fix={job.overrides.get('fix', '?')}", fontsize=10)
        ax.text(0.5, -0.04, f"seed {args.seed}", transform=ax.transAxes, ha="center", va="top",
                fontsize=8)  # fmt: skip
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=100)
    print(f"wrote {args.out} ({len(jobs)} arms)")


if __name__ == "__main__":
    main()
