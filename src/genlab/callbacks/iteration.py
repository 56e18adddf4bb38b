"""Base for callbacks that fire every N generator iterations and once at the end."""

from __future__ import annotations

from typing import Any

import lightning as L

from genlab.models.base import GenerativeModel


class IterationCallback(L.Callback):
    """Calls `on_iteration` after every `every_n_iterations`-th iteration and at train end
    (unless that iteration was just handled)."""

    def __init__(self, every_n_iterations: int) -> None:
        if every_n_iterations < 1:
            raise ValueError(
                f"{type(self).__name__}: every_n_iterations must be >= 1, got {every_n_iterations}"
            )
        self.every_n_iterations = every_n_iterations
        self._last_handled: int | None = None

    def on_iteration(self, trainer: L.Trainer, module: GenerativeModel) -> None:
        raise NotImplementedError

    def _handle(self, trainer: L.Trainer, module: GenerativeModel) -> None:
        self._last_handled = module.iteration
        self.on_iteration(trainer, module)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if pl_module.iteration % self.every_n_iterations == 0:
            self._handle(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: Any) -> None:
        if self._last_handled != pl_module.iteration:
            self._handle(trainer, pl_module)
