"""summary.json: one flat record per run that genlab-compare and sweepers read."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

SUMMARY_FILE = "summary.json"
STATUSES = ("running", "completed", "failed", "diverged")


class RunRecord:
    """The static facts of a run, plus writing its summary as the run progresses."""

    def __init__(self, run_dir: str | Path, facts: dict[str, Any]) -> None:
        self.run_dir = Path(run_dir)
        self.facts = dict(facts)
        self.started = time.time()

    @property
    def path(self) -> Path:
        return self.run_dir / SUMMARY_FILE

    def write(
        self, status: str, iterations_done: int, values: dict[str, float], **extra: Any
    ) -> dict[str, Any]:
        """Write summary.json atomically; keys: facts, status, progress, then final values."""
        if status not in STATUSES:
            raise ValueError(f"unknown run status {status!r}")
        summary: dict[str, Any] = {
            "status": status,
            **self.facts,
            "iterations_done": iterations_done,
            "wall_seconds": round(time.time() - self.started, 3),
            **extra,
            **values,
        }
        self.run_dir.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".json.partial")
        partial.write_text(json.dumps(summary, indent=2, default=str) + "\n")
        os.replace(partial, self.path)
        return summary


def read_summary(run_dir: str | Path) -> dict[str, Any]:
    """The summary.json of a run folder."""
    return json.loads((Path(run_dir) / SUMMARY_FILE).read_text())
