"""The training progress bar, counted in generator iterations."""

from __future__ import annotations

import sys
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import TQDMProgressBar
from lightning.pytorch.callbacks.progress.tqdm_progress import Tqdm

from genlab.metrics.headline import number, ordered_metrics


class IterationProgressBar(TQDMProgressBar):
    """Lightning's tqdm bar, but its unit is the generator iteration (a Lightning batch runs
    many), its rate iterations/s, and its postfix the latest g / d loss and headline metric.
    Redrawn every `refresh_rate` iterations."""

    def __init__(self, refresh_rate: int) -> None:
        super().__init__(refresh_rate=refresh_rate)

    @staticmethod
    def _total(trainer: L.Trainer, module: Any) -> int:
        return int(trainer.max_steps // module.optimizer_steps_per_iteration)

    def on_train_start(self, trainer: L.Trainer, pl_module: Any) -> None:
        self.train_progress_bar = Tqdm(
            desc="train",
            total=self._total(trainer, pl_module),
            initial=pl_module.iteration,  # a resumed run's rate counts this process only
            unit="it",
            position=2 * self.process_position,
            disable=self.is_disabled,
            leave=True,
            dynamic_ncols=True,
            file=sys.stdout,
            smoothing=0,
            bar_format=self.BAR_FORMAT,
        )

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: Any) -> None:
        """One epoch is the whole run: the bar is not reset."""

    def postfix(self, module: Any) -> dict[str, str]:
        """g / d loss (or the VAE's loss) and the first headline metric, as last logged."""
        logged = module.run_state.logged
        shown = {
            short: number(logged[key])
            for key, short in (("train/g_loss", "g"), ("train/d_loss", "d"), ("train/loss", "loss"))
            if key in logged
        }
        metrics = ordered_metrics(logged)
        if metrics:
            name, value = metrics[0]
            shown[name] = number(value)
        return shown

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        bar = self.train_progress_bar
        done = pl_module.iteration
        if done - bar.n >= self.refresh_rate or done >= (bar.total or 0):
            bar.n = done
            bar.set_postfix(self.postfix(pl_module), refresh=False)
            bar.refresh()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: Any) -> None:
        """Nothing: the bar is redrawn on the last batch and at the end of training."""

    def on_train_end(self, trainer: L.Trainer, pl_module: Any) -> None:
        bar = self.train_progress_bar
        if not bar.disable:  # the final metrics are logged after the last batch's redraw
            bar.n = pl_module.iteration
            bar.set_postfix(self.postfix(pl_module), refresh=False)
            bar.refresh()
        super().on_train_end(trainer, pl_module)
