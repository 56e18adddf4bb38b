"""Test helper (not a test module): a callback that interrupts its own sweep once, for the
resumable-sweep tests. The subprocess runs find it on PYTHONPATH (conftest.genlab_env)."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import lightning as L
from hydra.core.hydra_config import HydraConfig


class SignalAtIteration(L.Callback):
    """Sends `signal_name` to its own process at the first batch end at or after `iteration`
    in job number `job`, once: the marker file it creates makes it inert afterwards (so the
    same command, rerun, is not interrupted again)."""

    def __init__(self, job: int, iteration: int, marker: str, signal_name: str) -> None:
        self.job = job
        self.iteration = iteration
        self.marker = Path(marker)
        self.signum = signal.Signals[signal_name]

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if pl_module.iteration < self.iteration or self.marker.exists():
            return
        if HydraConfig.get().job.num != self.job:
            return
        self.marker.write_text(f"{self.signum.name} at iteration {pl_module.iteration}\n")
        os.kill(os.getpid(), self.signum)
