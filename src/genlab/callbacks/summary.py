"""Writes summary.json when training ends or fails, and the hparams view with final values."""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import OmegaConf

from genlab.run_record import RunRecord


class RunSummary(L.Callback):
    """Rank 0 writes the run record; TensorBoard gets the config as hparams with final values."""

    def __init__(self, record: RunRecord, hparams: dict[str, Any]) -> None:
        self.record = record
        self.hparams = hparams

    @staticmethod
    def _tensorboard_dir(trainer: L.Trainer) -> str | None:
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                return logger.log_dir
        return None

    def _write(self, trainer: L.Trainer, module: Any, status: str, **extra: Any) -> None:
        if not trainer.is_global_zero:
            return
        self.record.write(
            status,
            module.iteration,
            dict(module.last_logged),
            diverged_at_iteration=module.diverged_at,
            tensorboard_dir=self._tensorboard_dir(trainer),
            **extra,
        )

    def on_train_start(self, trainer: L.Trainer, pl_module: Any) -> None:
        self._write(trainer, pl_module, "running")
        if pl_module.iteration > 0 or not trainer.is_global_zero:
            return  # a resumed run logged its config when it started
        config_text = "    " + OmegaConf.to_yaml(OmegaConf.create(self.hparams)).replace(
            "\n", "\n    "
        )
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.experiment.add_text("config", config_text, global_step=0)

    def on_train_end(self, trainer: L.Trainer, pl_module: Any) -> None:
        status = "diverged" if pl_module.diverged_at is not None else "completed"
        self._write(trainer, pl_module, status)
        final = {f"hparams/{k}": v for k, v in pl_module.last_logged.items()}
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.log_hyperparams(self.hparams, metrics=final)

    def on_exception(self, trainer: L.Trainer, pl_module: Any, exception: BaseException) -> None:
        self._write(trainer, pl_module, "failed", error=f"{type(exception).__name__}: {exception}")
