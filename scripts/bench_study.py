"""A study (arms x seeds) timed as whole processes: `genlab-train -m` sweeping it in one process
against the same trainings done one after another by the hand-written loop (bench_loop.py) in
one script (`--plain`: that script).

    python scripts/bench_study.py [--repeats 3] [--plain]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from bench_cases import Case
from bench_common import QUIET, bench_script, ratio_text, scratch_folder, summarise


@dataclass(frozen=True)
class StudyCase:
    name: str
    arms: tuple[str, ...]  # fix=<arm>
    seeds: tuple[int, ...]
    iterations: int
    base: tuple[str, ...] = ("data=ring8", "model=gan")
    notes: str = ""

    def jobs(self) -> list[Case]:
        return [
            Case(f"{self.name}/{arm}/{seed}", [*self.base, f"fix={arm}", f"seed={seed}"], 0, 0.0)
            for arm in self.arms
            for seed in self.seeds
        ]

    def sweep_overrides(self) -> list[str]:
        return [*self.base, f"fix={','.join(self.arms)}", f"seed={','.join(map(str, self.seeds))}"]


STUDY = StudyCase(
    "study_ring8",
    ("vanilla", "lsgan"),
    (0, 1),
    1000,
    notes="ring8 GAN, fix=vanilla,lsgan x seed=0,1, 1,000 iterations each, metrics off",
)


def plain_study(study: StudyCase, scratch: Path) -> None:
    """The study's jobs one after another in this process, as a hand-written script would."""
    from bench_loop import plain_loop

    for job in study.jobs():
        plain_loop(replace(job, iterations=study.iterations), scratch)


def study_walls(study: StudyCase, scratch: Path, index: int) -> tuple[float, float]:
    """(wall seconds of the hand-written study in a fresh process, of `genlab-train -m`)."""
    started = time.perf_counter()
    subprocess.run(
        bench_script("bench_study.py", ["--plain", "--scratch", str(scratch)]),
        capture_output=True,
        check=True,
    )
    plain = time.perf_counter() - started
    sweep_dir = scratch / "study" / str(index)
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "genlab.train", "-m", *study.sweep_overrides()]
        + [f"iterations={study.iterations}", "metrics=none", *QUIET]
        + [f"paths.root_dir={scratch}", f"hydra.sweep.dir={sweep_dir}"],
        cwd=scratch,
        capture_output=True,
        text=True,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    genlab = time.perf_counter() - started
    summaries = list(sweep_dir.glob("*/summary.json"))
    completed = [json.loads(f.read_text())["status"] == "completed" for f in summaries]
    if result.returncode != 0 or len(completed) != len(study.jobs()) or not all(completed):
        raise RuntimeError(f"the study sweep failed:\n{result.stderr[-3000:]}")
    return plain, genlab


def study_row(study: StudyCase, repeats: int, scratch: Path) -> dict:
    plain, genlab, ratios = [], [], []
    for index in range(repeats):
        plain_s, genlab_s = study_walls(study, scratch, index)
        plain.append(plain_s)
        genlab.append(genlab_s)
        ratios.append(plain_s / genlab_s)
    return {
        "case": study.name,
        "notes": study.notes,
        "plain_wall_s": summarise(plain),
        "genlab_wall_s": summarise(genlab),
        "ratio": summarise(ratios),
    }


def measure(repeats: int, scratch: Path) -> dict:
    """STUDY's row (printed as it is measured)."""
    row = study_row(STUDY, repeats, scratch)
    print(
        f"{STUDY.name}: hand-written {row['plain_wall_s']['median']:.1f} s, genlab-train -m"
        f" {row['genlab_wall_s']['median']:.1f} s wall, ratio {row['ratio']['median']:.3f}",
        flush=True,
    )
    return row


def print_table(study: dict) -> None:
    print(
        f"\n| study | hand-written loop, wall s | genlab-train -m, wall s | ratio median"
        f" (min-max) |\n|---|---:|---:|---:|\n| {study['case']} ({study['notes']}) |"
        f" {study['plain_wall_s']['median']:.1f} | {study['genlab_wall_s']['median']:.1f} |"
        f" {ratio_text(study['ratio'])} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plain", action="store_true", help="only run the hand-written study")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scratch", type=Path, help="where its data is (default: a new one)")
    args = parser.parse_args()
    with scratch_folder(args.scratch) as scratch:
        if args.plain:
            plain_study(STUDY, scratch)
        else:
            print_table(measure(max(args.repeats, 1), scratch))


if __name__ == "__main__":
    main()
