"""Process-wide settings in every training process, also those a spawn launcher starts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning as L


class ProcessPolicy(L.Callback):
    """Calls `apply` (genlab.run.process.apply_process_policy, handed in by the run's build) in
    each training process at setup: DDP workers a spawn launcher starts import Lightning afresh,
    which sets its environment again."""

    def __init__(self, apply: Callable[[], None]) -> None:
        self.apply = apply  # a module-level function: ddp_spawn pickles the callbacks

    def setup(self, trainer: L.Trainer, pl_module: Any, stage: str) -> None:
        self.apply()
