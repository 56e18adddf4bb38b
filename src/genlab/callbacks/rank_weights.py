"""Debugging aid: every rank saves its weights at the end, to check that DDP kept them equal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch


class SaveRankWeights(L.Callback):
    """Writes `dirpath/rank<r>.pt` (the module's state dict) on every rank at train end."""

    def __init__(self, dirpath: str) -> None:
        self.dirpath = Path(dirpath)

    def on_train_end(self, trainer: L.Trainer, pl_module: Any) -> None:
        self.dirpath.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu() for k, v in pl_module.state_dict().items()}
        torch.save(state, self.dirpath / f"rank{trainer.global_rank}.pt")
