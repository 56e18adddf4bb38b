"""What the benchmarks share: composing genlab's config, running genlab-train and the bench's
own scripts in fresh processes, timing, the figures' text, and bench.json."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
QUIET = ["trainer.enable_model_summary=false"]


def compose(overrides: list[str], hydra_config: bool = False):  # noqa: ANN201 - a DictConfig
    """genlab-train's config with these overrides, composed in this process."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from genlab.run.config import register_resolvers

    register_resolvers()
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(REPO / "src" / "genlab" / "conf"), version_base="1.3"):
        return hydra_compose("train", overrides=overrides, return_hydra_config=hydra_config)


@contextmanager
def scratch_folder(given: Path | None = None) -> Iterator[Path]:
    """`given`, or else a new folder for the fake data and runs, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="genlab-bench-") as tmp:
        yield given or Path(tmp)


def device_overrides(precision: str, device: str) -> list[str]:
    return (["trainer=gpu"] if device == "cuda" else []) + [f"trainer.precision={precision}"]


def genlab_train(args: list[str], cwd: Path) -> tuple[dict, float]:
    """Run genlab-train in a fresh process; (its summary.json, wall seconds)."""
    started = time.time()
    result = subprocess.run(
        [sys.executable, "-m", "genlab.train", f"paths.root_dir={cwd}", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    wall = time.time() - started
    if result.returncode != 0:
        raise RuntimeError(f"genlab-train {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    run_dir = next(
        line.split(":", 1)[1].strip()
        for line in result.stdout.splitlines()
        if line.startswith("run folder:")
    )
    summary = json.loads((Path(run_dir) / "summary.json").read_text())
    summary["_launched_unix"] = started
    return summary, wall


def bench_script(name: str, args: list[str]) -> list[str]:
    """The command line of the bench's script `name` (bench_loop.py, ...) with `args`."""
    return [sys.executable, str(HERE / name), *args]


def figure_of(command: list[str], failure: str) -> float:
    """Run a bench script in a fresh process; the figure it prints last (RuntimeError with
    `failure` and its stderr where it fails)."""
    out = subprocess.run(command, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{failure}:\n{out.stderr[-3000:]}")
    return float(out.stdout.strip().splitlines()[-1])


def wall_time(command: list[str], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True, cwd=REPO)
        times.append(time.perf_counter() - started)
    return times


def summarise(values: list[float]) -> dict[str, float]:
    return {
        "min": min(values),
        "median": statistics.median(values),
        "max": max(values),
    }


def rate_text(value: float) -> str:
    """An iterations/s figure: one decimal from 10 up, three significant digits below."""
    return f"{value:.1f}" if value >= 10 else f"{value:.3g}"


def ratio_text(ratio: dict[str, float]) -> str:
    """A summarised ratio for a table cell: median (min-max)."""
    return f"{ratio['median']:.3f} ({ratio['min']:.3f}-{ratio['max']:.3f})"


@dataclass
class Report:
    """What one bench run measured: the genlab-vs-loop rows, and each other benchmark's part
    under its key of bench.json (in the order they ran)."""

    rows: list[dict] = field(default_factory=list)
    extras: dict = field(default_factory=dict)


def write_report(report: Report, iterations_scale: float, out: Path) -> None:
    """bench.json: the machine, the iteration scale, the rows and the other benchmarks' parts."""
    payload = {
        "machine": {
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "iterations_scale": iterations_scale,
        "cases": report.rows,
        **report.extras,
    }
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nwrote {out}")
