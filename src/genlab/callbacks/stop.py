"""The callback that ends a run on a stop signal (genlab.stopping: SIGINT, SIGTERM) or on
the preemption signal (genlab.stopping: SIGUSR2 under submitit), with a checkpoint."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import lightning as L

from genlab.callbacks.checkpoint import save_atomically
from genlab.stopping import STOP, RunPreempted, RunStopped, SignalHandler, signal_number

log = logging.getLogger(__name__)


class StopCheckpoint(L.Callback):
    """At the end of the batch in which a stop signal or `preemption_signal` arrived (on every
    rank alike): save `checkpoint_path`, then stop with RunStopped or RunPreempted."""

    def __init__(self, checkpoint_path: str | Path, preemption_signal: str | None) -> None:
        self.checkpoint_path = Path(checkpoint_path)
        self.preemption = signal_number(preemption_signal) if preemption_signal else None
        self._preempted = False
        self._previous_preemption: SignalHandler = None
        self._installed = False
        self._previous_stop: dict[int, Any] = {}

    def _on_preemption(self, signum: int, frame: FrameType | None) -> None:
        self._preempted = True

    def on_train_start(self, trainer: L.Trainer, pl_module: Any) -> None:
        # after Lightning's signal connector took its snapshot of the handlers (and put its own
        # on SIGTERM), which it puts back at teardown: installed earlier, these would be lost
        if threading.current_thread() is not threading.main_thread():
            log.debug("not in the main thread: stop and preemption signals are not handled")
            return
        self._previous_stop = STOP.enter()
        if self.preemption is not None:
            self._previous_preemption = signal.signal(self.preemption, self._on_preemption)
        self._installed = True
        self._stop_if_requested(trainer, pl_module)  # a signal during the set-up

    def _restore(self) -> None:
        if self._installed:
            if self.preemption is not None:
                signal.signal(self.preemption, self._previous_preemption)
            STOP.exit(self._previous_stop)
            self._installed = False

    def teardown(self, trainer: L.Trainer, pl_module: Any, stage: str) -> None:
        self._restore()

    def on_exception(self, trainer: L.Trainer, pl_module: Any, exception: BaseException) -> None:
        self._restore()  # Lightning skips teardown when training raises

    def save(self, trainer: L.Trainer, pl_module: Any) -> None:
        """Write the run's checkpoint (a members run: each member's)."""
        self.checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
        save_atomically(trainer, self.checkpoint_path)

    def _stop_if_requested(self, trainer: L.Trainer, pl_module: Any) -> None:
        preempted, stopped = self._preempted, STOP.requested
        if trainer.world_size > 1:  # the signal may reach the ranks in different batches
            preempted = trainer.strategy.reduce_boolean_decision(preempted, all=False)
            stopped = trainer.strategy.reduce_boolean_decision(stopped, all=False)
        if not (preempted or stopped):
            return
        self.save(trainer, pl_module)
        if preempted:
            assert self.preemption is not None
            log.warning(
                "%s at iteration %d: checkpoint saved to %s; stopping",
                self.preemption.name,
                pl_module.iteration,
                self.checkpoint_path,
            )
            raise RunPreempted(self.preemption, pl_module.iteration, self._previous_preemption)
        signum = STOP.signum or signal.SIGTERM  # another rank's request
        log.warning(
            "%s at iteration %d: checkpoint saved to %s; stopping",
            signum.name,
            pl_module.iteration,
            self.checkpoint_path,
        )
        raise RunStopped(signum, pl_module.iteration)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self._stop_if_requested(trainer, pl_module)
