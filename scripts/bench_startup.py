"""Start-up: `genlab-train --help`, `python -c "import lightning"`, and the quickest start-up to
the first iteration among the genlab-vs-loop rows (their genlab runs measure it)."""

from __future__ import annotations

import sys
from pathlib import Path

from bench_common import summarise, wall_time


def measure(rows: list[dict]) -> dict:
    """`help_s`, `import_lightning_s` (3 runs each) and `startup_to_first_iteration_s`."""
    bin_dir = Path(sys.executable).parent
    help_cmd = [str(bin_dir / "genlab-train"), "--help"]
    if not Path(help_cmd[0]).exists():
        help_cmd = [sys.executable, "-m", "genlab.train", "--help"]
    startup = [row["startup_s"]["median"] for row in rows]
    return {
        "help_s": summarise(wall_time(help_cmd, 3)),
        "import_lightning_s": summarise(wall_time([sys.executable, "-c", "import lightning"], 3)),
        "startup_to_first_iteration_s": min(startup) if startup else None,
    }


def print_lines(extras: dict) -> None:
    print(f"\ngenlab-train --help: {extras['help_s']['median']:.2f} s (target <= 1 s)")
    lightning = extras["import_lightning_s"]["median"]
    startup = extras["startup_to_first_iteration_s"]
    if startup is not None:
        print(
            f"start-up to first iteration: {startup:.2f} s; python -c 'import lightning':"
            f" {lightning:.2f} s (target <= import + 1 s = {lightning + 1:.2f} s)"
        )
