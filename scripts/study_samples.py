"""One picture of a study's final samples: each arm's samples.png for one seed, side by side.

    python scripts/study_samples.py logs/multirun/<study>/<date>_<time> docs/<study>_samples.png
    [--seed 0] [--columns 4] [--picture samples.png] [--tile-width 3]

Arms are the sweep's `fix=` groups in the order of their job numbers. Stacked digits' pictures
(three digits side by side with the evaluator's reading) are wide: draw fewer samples per arm with
genlab-sample and show them at full size, e.g. after
`genlab-sample ckpt_path=<job>/checkpoints/last.ckpt n=16` in every job folder:
`--picture samples/last_seed0/grid.png --columns 2 --tile-width 17.12` (its pixels / 100).
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
    parser.add_argument("--picture", default="samples.png", help="each job's, in its folder")
    parser.add_argument("--tile-width", type=float, default=3.0, help="inches per arm (100 dpi)")
    args = parser.parse_args()
    jobs = [
        j
        for j in load_jobs(args.sweep)
        if j.overrides.get("seed") == args.seed and (j.folder / args.picture).is_file()
    ]
    if not jobs:
        raise SystemExit(f"no job of seed {args.seed} with a {args.picture} under {args.sweep}")
    rows = math.ceil(len(jobs) / args.columns)
    height, width = plt.imread(jobs[0].folder / args.picture).shape[:2]
    tile = (args.tile_width, args.tile_width * height / width + 0.5)  # and the title
    fig, axes = plt.subplots(
        rows, args.columns, figsize=(tile[0] * args.columns, tile[1] * rows), squeeze=False
    )
    for ax in axes.flat:
        ax.axis("off")
    for ax, job in zip(axes.flat, jobs, strict=False):
        ax.imshow(plt.imread(job.folder / args.picture), interpolation="nearest")
        ax.set_title(f"fix={job.overrides.get('fix', '?')}", fontsize=10)
        ax.text(0.5, -0.04, f"seed {args.seed}", transform=ax.transAxes, ha="center", va="top",
                fontsize=8)  # fmt: skip
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=100)
    print(f"wrote {args.out} ({len(jobs)} arms)")


if __name__ == "__main__":
    main()
