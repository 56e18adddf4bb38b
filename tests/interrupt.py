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


class WaitAtIteration(L.Callback):
    """Holds its run at the first batch end at or after `iteration` (in every job, or in job
    `job`) until a stop is requested (genlab.stopping), `release` exists, or `hold` is
    false and 60 s passed; `<marker>.<job number>` says it is waiting, and makes it inert in a
    rerun. With hold=true it keeps holding after the stop request (for a second signal)."""

    def __init__(
        self,
        iteration: int,
        marker: str,
        job: int | None = None,
        release: str | None = None,
        hold: bool = False,
    ) -> None:
        self.iteration = iteration
        self.marker = marker
        self.job = job
        self.release = Path(release) if release else None
        self.hold = hold

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        import time

        from genlab.stopping import STOP

        job = HydraConfig.get().job if HydraConfig.initialized() else None
        number = job.get("num") if job is not None and "num" in job else None
        number = number if isinstance(number, int) else 0
        marker = Path(f"{self.marker}.{number}")
        if pl_module.iteration < self.iteration or marker.exists():
            return
        if self.job is not None and number != self.job:
            return
        marker.write_text(f"{os.getpid()} waiting at iteration {pl_module.iteration}\n")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if STOP.requested and not self.hold:
                return
            if self.release is not None and self.release.exists():
                return
            time.sleep(0.02)


class DiskFullAtSave(L.Callback):
    """Makes the run's `save`-th checkpoint write fail as on a full disk (ENOSPC), half-way
    through its file; once: the `marker` file it creates makes it inert afterwards."""

    def __init__(self, save: int, marker: str) -> None:
        self.save = save
        self.marker = Path(marker)

    def setup(self, trainer: L.Trainer, pl_module: Any, stage: str) -> None:
        import errno

        real_save = trainer.save_checkpoint
        saves: list[str] = []

        def full_disk(filepath: Any, *args: Any, **kwargs: Any) -> None:
            saves.append(str(filepath))
            if len(saves) == self.save and not self.marker.exists():
                self.marker.write_text(f"disk full at {filepath}\n")
                Path(filepath).write_bytes(b"PK\x03\x04 half a checkpoint")
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(filepath))
            real_save(filepath, *args, **kwargs)

        trainer.save_checkpoint = full_disk  # type: ignore[method-assign]
