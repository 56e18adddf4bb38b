"""Hydra callback: where a sweep writes; at its end, how its jobs went and how to compare them."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from genlab.run.folder import STATUSES


def job_statuses(sweep_dir: Path) -> Counter[str]:
    """How many of the sweep's jobs are in each status (genlab-compare's reading of them)."""
    from genlab.compare.jobs import CompareError, load_jobs

    try:
        return Counter(job.status for job in load_jobs(sweep_dir))
    except CompareError:  # no job folder at all
        return Counter()


def sweep_summary(sweep_dir: Path) -> str:
    """The sweep's closing lines: folder, jobs by status, the comparison command."""
    counts = job_statuses(sweep_dir)
    parts = ", ".join(f"{counts[s]} {s}" for s in STATUSES if counts[s])
    return (
        f"sweep {sweep_dir}: {sum(counts.values())} jobs ({parts or 'none finished'})\n"
        f"compare them: genlab-compare {sweep_dir}"
    )


class SweepReport(Callback):
    """Prints the sweep folder when a sweep starts and `sweep_summary` when it ends."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        print(f"sweep into {config.hydra.sweep.dir} (one line per finished job)", flush=True)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        print(sweep_summary(Path(config.hydra.sweep.dir)), flush=True)
