"""last.ckpt every N iterations (and best.ckpt by a logged value), written atomically."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any

import lightning as L

from genlab.callbacks.iteration import IterationCallback
from genlab.errors import GenlabError
from genlab.models.base import GenerativeModel

log = logging.getLogger(__name__)


class CheckpointWriteError(GenlabError):
    """A checkpoint could not be written (no space, no permission); the run ends failed."""


def save_atomically(trainer: L.Trainer, path: Path) -> None:
    """trainer.save_checkpoint to `path` through a temporary name, so a kill or a failed write
    (a full disk) never leaves a truncated file there: the previous checkpoint stays."""
    partial = path.with_name(f"{path.name}.partial")
    try:
        trainer.save_checkpoint(partial, weights_only=False)
        if trainer.is_global_zero:
            os.replace(partial, path)
    except OSError as err:
        partial.unlink(missing_ok=True)
        kept = f"the previous {path.name} is intact" if path.exists() else f"no {path.name} yet"
        raise CheckpointWriteError(
            f"could not write the checkpoint {path} ({err.strerror or err}); {kept}. Free space"
            f" or fix the folder's permissions, then continue the run from its last checkpoint"
            f" (genlab-train resume={path.parent.parent}, or rerun the sweep)"
        ) from err


class IterationCheckpoint(IterationCallback):
    """Saves `dirpath/last.ckpt` (LAST) every N iterations and at the end of training, and
    `dirpath/best.ckpt` whenever the logged value `monitor` improves (`mode` min or max).

    Files are written under a temporary name and renamed, so a kill during a save never leaves
    a truncated checkpoint. Non-finite weights are never saved over a good checkpoint.
    """

    LAST = "last.ckpt"  # what a run continues from (genlab.run.folder.last_checkpoint)

    def __init__(
        self, dirpath: str, every_n_iterations: int, monitor: str | None, mode: str
    ) -> None:
        super().__init__(every_n_iterations)
        if mode not in ("min", "max"):
            raise ValueError(f"callbacks.checkpoint.mode={mode!r}: use min or max")
        self.dirpath = Path(dirpath)
        self.monitor = monitor
        self.mode = mode
        self.best: float | None = None

    @property
    def last_path(self) -> Path:
        return self.dirpath / self.LAST

    def _save(self, trainer: L.Trainer, name: str) -> None:
        save_atomically(trainer, self.dirpath / name)

    def _improved(self, module: GenerativeModel) -> bool:
        value = module.run_state.logged.get(self.monitor) if self.monitor else None
        if value is None or not math.isfinite(value):
            return False
        better = self.best is None or (
            value < self.best if self.mode == "min" else value > self.best
        )
        if better:
            self.best = value
        return better

    def on_iteration(self, trainer: L.Trainer, module: GenerativeModel) -> None:
        if trainer.fast_dev_run or module.run_state.diverged:
            return
        if not module.parameters_finite():
            module.run_state.mark_diverged(module.iteration)
            trainer.should_stop = True
            log.error("diverged: non-finite weights at iteration %d; not saved", module.iteration)
            return
        if self._improved(module):
            self._save(trainer, "best.ckpt")
        self._save(trainer, self.LAST)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best = state_dict["best"]
