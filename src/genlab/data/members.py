"""The data of a member-batched model: each member's own data module, batches side by side."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import lightning as L
import torch

from genlab.data.base import TensorDataModule
from genlab.data.tensor_batches import TensorBatches


class MemberBatches:
    """Yields (count, batches_per_iteration, K * B, *shape): member k's rows k*B ... are the real
    batches its own data module gives a plain run of its seed, at the same iterations."""

    def __init__(self, members: Sequence[TensorBatches]) -> None:
        self.members = list(members)

    def __len__(self) -> int:
        return len(self.members[0])

    def __iter__(self) -> Iterator[torch.Tensor]:
        for blocks in zip(*self.members, strict=True):
            stacked = torch.stack(blocks, dim=2)  # (count, per iteration, K, B, ...)
            yield stacked.flatten(2, 3)

    def state_dict(self) -> dict[str, Any]:
        """Nothing, as for each member's TensorBatches: Lightning's resumable-loader interface."""
        return {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Nothing to restore: each member continues at its model's completed iterations."""


class MemberDataModule(L.LightningDataModule):
    """K data modules (one per member, each from its own config and seed) as one."""

    def __init__(self, members: Sequence[TensorDataModule]) -> None:
        super().__init__()
        self.members = list(members)

    def prepare_data(self) -> None:
        for member in self.members:
            member.prepare_data()

    def setup(self, stage: str | None = None) -> None:
        first = self.members[0]
        for member in self.members:
            member.setup(stage)
            # members whose data set is the same tensor (images: only the order is seeded)
            # share one copy
            if member is not first and torch.equal(member.data, first.data):
                member.data = first.data

    def train_dataloader(self) -> MemberBatches:
        trainer = self.trainer
        device = trainer.strategy.root_device if trainer is not None else "cpu"
        rank = trainer.global_rank if trainer is not None else 0
        return MemberBatches([member.batches(device, rank) for member in self.members])
