"""The callback that stops a run on the preemption signal (see genlab.run.preemption)."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import lightning as L

from genlab.callbacks.checkpoint import save_atomically
from genlab.run.preemption import RunPreempted, SignalHandler, signal_number

log = logging.getLogger(__name__)


class PreemptionCheckpoint(L.Callback):
    """On `signal_name`: at the end of the current batch (on every rank alike) save
    `checkpoint_path` and stop with RunPreempted."""

    def __init__(self, signal_name: str, checkpoint_path: str | Path) -> None:
        self.signum = signal_number(signal_name)
        self.checkpoint_path = Path(checkpoint_path)
        self._requested = False
        self._previous: SignalHandler = None
        self._installed = False

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._requested = True

    def on_train_start(self, trainer: L.Trainer, pl_module: Any) -> None:
        # after Lightning's signal connector took its snapshot of the handlers, which it puts
        # back at teardown: installed earlier, this handler would outlive the run
        if threading.current_thread() is not threading.main_thread():
            log.debug("not in the main thread: %s is not handled", self.signum.name)
            return
        self._previous = signal.signal(self.signum, self._on_signal)
        self._installed = True

    def _restore(self) -> None:
        if self._installed:
            signal.signal(self.signum, self._previous)
            self._installed = False

    def teardown(self, trainer: L.Trainer, pl_module: Any, stage: str) -> None:
        self._restore()

    def on_exception(self, trainer: L.Trainer, pl_module: Any, exception: BaseException) -> None:
        self._restore()  # Lightning skips teardown when training raises

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        requested = self._requested
        if trainer.world_size > 1:  # the signal may reach the ranks in different batches
            requested = trainer.strategy.reduce_boolean_decision(requested, all=False)
        if not requested:
            return
        self.checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
        save_atomically(trainer, self.checkpoint_path)
        log.warning(
            "%s at iteration %d: checkpoint saved to %s; stopping",
            self.signum.name,
            pl_module.iteration,
            self.checkpoint_path,
        )
        raise RunPreempted(self.signum, pl_module.iteration, self._previous)
