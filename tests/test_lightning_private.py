"""The private attributes of Lightning that genlab still uses, pinned: an upgrade that renames or
changes one fails here, by name, instead of somewhere deep in a run.

- `Trainer._checkpoint_connector.dump_checkpoint(weights_only=...)`: a member's checkpoint is
  cut out of the batched run's whole checkpoint (genlab.callbacks.members.MemberTrainer);
  Lightning has no public way to get the checkpoint dict without writing it.
- `LightningOptimizer._on_before_step` / `_on_after_step`: the direct optimizer step counts the
  step as Lightning does (trainer.global_step; GenerativeModel.optimize).
  tests/test_step_path.py proves the direct path bitwise equal to the wrapped one.
- `WandbLogger._wandb_init`: the arguments Lightning passes to wandb.init, which genlab's W&B
  logger passes itself (genlab.loggers.wandb_run).
"""

from __future__ import annotations

import inspect

import lightning as L
import torch
from lightning.pytorch.core.optimizer import LightningOptimizer
from lightning.pytorch.loggers import WandbLogger


class Tiny(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.layer = torch.nn.Linear(2, 1)

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        optimizer = self.optimizers()
        optimizer.optimizer.zero_grad()
        self.layer(batch).sum().backward()
        optimizer._on_before_step()
        optimizer.optimizer.step()
        optimizer._on_after_step()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self) -> torch.utils.data.DataLoader:
        return torch.utils.data.DataLoader(torch.ones(3, 4, 2), batch_size=None)


def test_the_checkpoint_connector_dumps_the_checkpoint_dict(tmp_path: object) -> None:
    trainer = L.Trainer(
        accelerator="cpu",
        max_steps=3,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
    )
    trainer.fit(Tiny())
    dump = trainer._checkpoint_connector.dump_checkpoint
    assert "weights_only" in inspect.signature(dump).parameters
    checkpoint = dump(weights_only=False)
    assert {"state_dict", "optimizer_states", "loops", "global_step"} <= set(checkpoint)
    assert checkpoint["state_dict"]["layer.weight"].shape == (1, 2)
    # _on_before_step / _on_after_step counted each direct step as Lightning's own step does
    assert trainer.global_step == 3 == checkpoint["global_step"]


def test_the_lightning_optimizer_step_hooks_are_callables_without_arguments() -> None:
    optimizer = LightningOptimizer(torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=0.1))
    for name in ("_on_before_step", "_on_after_step"):
        hook = getattr(optimizer, name)  # set per optimizer; the training loop replaces them
        assert callable(hook) and not inspect.signature(hook).parameters, name
        hook()


def test_the_wandb_logger_keeps_its_wandb_init_arguments(tmp_path: object) -> None:
    logger = WandbLogger(save_dir=str(tmp_path), project="p", name="n", id="abc", mode="offline")
    assert isinstance(logger._wandb_init, dict)
    assert logger._wandb_init["project"] == "p" and logger._wandb_init["id"] == "abc"
    assert logger._wandb_init["name"] == "n"
