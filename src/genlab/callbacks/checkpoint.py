"""last.ckpt every N iterations, written atomically."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import lightning as L

from genlab.callbacks.iteration import IterationCallback
from genlab.models.base import GenerativeModel

log = logging.getLogger(__name__)


class IterationCheckpoint(IterationCallback):
    """Saves `dirpath/last.ckpt` every N iterations and at the end of training.

    The file is written under a temporary name and renamed, so a kill during a save never
    leaves a truncated last.ckpt. Non-finite weights are never saved over a good checkpoint.
    """

    def __init__(self, dirpath: str, every_n_iterations: int) -> None:
        super().__init__(every_n_iterations)
        self.dirpath = Path(dirpath)

    @property
    def last_path(self) -> Path:
        return self.dirpath / "last.ckpt"

    def on_iteration(self, trainer: L.Trainer, module: GenerativeModel) -> None:
        if trainer.fast_dev_run or module.diverged_at is not None:
            return
        if not module.parameters_finite():
            module.diverged_at = module.iteration
            trainer.should_stop = True
            log.error("diverged: non-finite weights at iteration %d; not saved", module.iteration)
            return
        partial = self.dirpath / "last.ckpt.partial"
        trainer.save_checkpoint(partial, weights_only=False)
        if trainer.is_global_zero:
            os.replace(partial, self.last_path)
