"""Writes summary.json when training ends or fails, and the hparams view with final values."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import OmegaConf

from genlab.loggers.run_logger import RunLogger
from genlab.stopping import RunPreempted, RunStopped

if TYPE_CHECKING:  # the record is handed in by the run (genlab.run.lifecycle)
    from genlab.run.folder import RunRecord

log = logging.getLogger(__name__)


class RunSummary(L.Callback):
    """Rank 0 writes the run record; TensorBoard gets the whole config as text and the chosen
    settings (`hparams`, see genlab.run.config) with the final values for its HPARAMS view;
    genlab's MLflow / W&B loggers get the settings and config at the start and the status and
    summary.json at the end (genlab.loggers.run_logger)."""

    def __init__(self, record: RunRecord, config: dict[str, Any], hparams: dict[str, Any]) -> None:
        self.record = record
        self.config = config
        self.hparams = hparams
        self._timing: dict[str, Any] = {}
        self._train_clock: tuple[float, int] | None = None  # (perf_counter, iteration) at start

    @staticmethod
    def _tensorboard_dir(trainer: L.Trainer) -> str | None:
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                return logger.log_dir
        return None

    @staticmethod
    def _run_loggers(trainer: L.Trainer) -> list[RunLogger]:
        return [logger for logger in trainer.loggers if isinstance(logger, RunLogger)]

    def _write(self, trainer: L.Trainer, module: Any, status: str, **extra: Any) -> None:
        if not trainer.is_global_zero:
            return
        where = {}
        for logger in self._run_loggers(trainer):
            where.update(logger.record_fields())
        self.record.write(
            status,
            module.iteration,
            dict(module.run_state.logged),
            diverged_at_iteration=module.run_state.diverged_at,
            tensorboard_dir=self._tensorboard_dir(trainer),
            **where,
            **self._timing,
            **extra,
        )
        if status != "running" or "preempted_at_iteration" in extra:
            for logger in self._run_loggers(trainer):
                logger.log_run_end(status, self.record.path)

    def _time_training(self, module: Any) -> None:
        """This process's training-loop time and iterations/s (callbacks and logging included)."""
        if self._train_clock is None:
            return
        started, first_iteration = self._train_clock
        seconds = time.perf_counter() - started
        self._timing["train_seconds"] = round(seconds, 3)
        done = module.iteration - first_iteration
        self._timing["iterations_per_second"] = round(done / seconds, 2) if seconds > 0 else None

    def on_train_start(self, trainer: L.Trainer, pl_module: Any) -> None:
        self._train_clock = (time.perf_counter(), pl_module.iteration)
        # millisecond stamp: genlab's benchmark measures start-up to the first iteration with it
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
        self._timing = {"train_started_at": stamp}
        if trainer.is_global_zero:  # a resumed run's MLflow / W&B run gets them again (same values)
            for logger in self._run_loggers(trainer):
                logger.log_run_start(self.hparams, self.config)
        self._write(trainer, pl_module, "running")
        if pl_module.iteration > 0 or not trainer.is_global_zero:
            return  # a resumed run logged its config when it started
        config_text = "    " + OmegaConf.to_yaml(OmegaConf.create(self.config)).replace(
            "\n", "\n    "
        )
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.experiment.add_text("config", config_text, global_step=0)

    def on_train_end(self, trainer: L.Trainer, pl_module: Any) -> None:
        status = "diverged" if pl_module.run_state.diverged else "completed"
        self._time_training(pl_module)
        self._write(trainer, pl_module, status)
        # metrics first: TensorBoard's HPARAMS table shows the metric columns in this order
        logged = sorted(
            pl_module.run_state.logged.items(), key=lambda kv: not kv[0].startswith("metrics/")
        )
        final = {f"hparams/{k}": v for k, v in logged}
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.log_hyperparams(self.hparams, metrics=final)

    def on_exception(self, trainer: L.Trainer, pl_module: Any, exception: BaseException) -> None:
        self._time_training(pl_module)
        if isinstance(exception, RunPreempted):  # checkpoint saved: the run is to be continued
            self._write(trainer, pl_module, "running", preempted_at_iteration=exception.iteration)
        elif isinstance(exception, RunStopped):  # on request: continued by the same command
            self._write(
                trainer,
                pl_module,
                "interrupted",
                interrupted_at_iteration=exception.iteration,
                stop_signal=exception.signum.name,
            )
        else:
            try:
                self._write(trainer, pl_module, "failed", **self.record.failure_fields(exception))
            except OSError as err:  # e.g. the full disk that failed the run: keep its error
                log.error("could not record the failure in %s: %s", self.record.path, err)
