"""Hydra callback: where a sweep writes; at its end, how its jobs went and how to compare them."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from genlab.run.run_record import STATUSES, SUMMARY_FILE


def job_statuses(sweep_dir: Path) -> Counter[str]:
    """Status of each job folder's summary.json (no summary: running; unreadable: failed)."""
    counts: Counter[str] = Counter()
    for folder in sweep_dir.iterdir() if sweep_dir.is_dir() else []:
        if not (
            folder.is_dir() and ((folder / ".hydra").is_dir() or (folder / SUMMARY_FILE).exists())
        ):
            continue
        try:
            status = json.loads((folder / SUMMARY_FILE).read_text()).get("status", "failed")
        except FileNotFoundError:
            status = "running"
        except (OSError, json.JSONDecodeError):
            status = "failed"
        counts[status if status in STATUSES else "failed"] += 1
    return counts


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
