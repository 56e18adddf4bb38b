"""Index batching from one tensor held on the training device, with a resumable order."""

from __future__ import annotations

from collections.abc import Iterator

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

    Real batch b takes the (b mod k)-th run of batch_size indices of epoch (b div k)'s
    permutation, k = items // batch_size (drop-last). Block i holds real batches
    i*batches_per_step ... so the data for any step is a pure function of (seed, i): a resumed
    run starts at its step, whatever the loader prefetched before the checkpoint.
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
        start_step: int = 0,
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
        self.start_step = start_step
        self.batches_per_epoch = data.shape[0] // batch_size
        self._order_epoch: int | None = None
        self._order: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.num_steps

    def _epoch_order(self, epoch: int) -> torch.Tensor:
        if self._order_epoch != epoch:
            n = self.data.shape[0]
            order = (
                permutation(n, TRAIN_ORDER, self.seed, epoch) if self.shuffle else torch.arange(n)
            )
            self._order, self._order_epoch = order.to(self.data.device), epoch
        assert self._order is not None
        return self._order

    def block(self, step: int) -> torch.Tensor:
        """The real data for training step `step` (0-based)."""
        parts = []
        first = step * self.batches_per_step
        for batch in range(first, first + self.batches_per_step):
            epoch, slot = divmod(batch, self.batches_per_epoch)
            start = slot * self.batch_size
            parts.append(self._epoch_order(epoch)[start : start + self.batch_size])
        block = self.data[torch.cat(parts)]
        if block.dtype != torch.float32:
            block = block.float()
        if self.scale != 1.0 or self.offset != 0.0:
            block = block * self.scale + self.offset
        return block.view(self.batches_per_step, self.batch_size, *self.data.shape[1:])

    def __iter__(self) -> Iterator[torch.Tensor]:
        step = self.start_step
        while True:
            yield self.block(step)
            step += 1
