"""Index batching from one tensor held on the training device, with a resumable order."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch


# Purposes of a permutation, so the streams they draw from never coincide.
TRAIN_ORDER, OVERFIT_SUBSET, REFERENCE_SUBSET = 0, 1, 2


def permutation(num_items: int, purpose: int, *seed_parts: int) -> torch.Tensor:
    """A permutation of range(num_items) fixed by its purpose and seed parts (seed, epoch)."""
    state = np.random.SeedSequence([purpose, *(int(p) for p in seed_parts)]).generate_state(2)
    generator = torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))
    return torch.randperm(num_items, generator=generator)


class TensorBatches:
    """Yields (batches_per_step, batch_size, *shape) blocks of real data in model space.

    Each real batch takes the next batch_size indices of the current epoch's permutation; an
    epoch ends when fewer than batch_size remain (drop-last). The order depends only on
    (seed, epoch) and the position, so state_dict() / load_state_dict() resume it exactly.
    Lightning saves and restores that state with the trainer's checkpoint.
    """

    def __init__(
        self,
        data: torch.Tensor,
        batch_size: int,
        batches_per_step: int,
        num_steps: int,
        seed: int,
        scale: float,
        offset: float,
        shuffle: bool,
    ) -> None:
        if batch_size > data.shape[0]:
            raise ValueError(
                f"batch_size {batch_size} is larger than the data set ({data.shape[0]} items);"
                " lower data.batch_size"
            )
        self.data = data
        self.batch_size = batch_size
        self.batches_per_step = batches_per_step
        self.num_steps = num_steps
        self.seed = seed
        self.scale = scale
        self.offset = offset
        self.shuffle = shuffle
        self.epoch = 0
        self.position = 0
        self._order: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.num_steps

    def _epoch_order(self) -> torch.Tensor:
        if self._order is None:
            n = self.data.shape[0]
            order = permutation(n, TRAIN_ORDER, self.seed, self.epoch) if self.shuffle else torch.arange(n)
            self._order = order.to(self.data.device)
        return self._order

    def _next_indices(self) -> torch.Tensor:
        if self.position + self.batch_size > self.data.shape[0]:
            self.epoch += 1
            self.position = 0
            self._order = None
        indices = self._epoch_order()[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        return indices

    def next_block(self) -> torch.Tensor:
        """The real data for one training step."""
        indices = torch.cat([self._next_indices() for _ in range(self.batches_per_step)])
        block = self.data[indices]
        if block.dtype != torch.float32:
            block = block.float()
        if self.scale != 1.0 or self.offset != 0.0:
            block = block * self.scale + self.offset
        return block.view(self.batches_per_step, self.batch_size, *self.data.shape[1:])

    def __iter__(self) -> Iterator[torch.Tensor]:
        while True:
            yield self.next_block()

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch = int(state["epoch"])
        self.position = int(state["position"])
        self._order = None
