"""Index batching from one tensor held on the training device, with a resumable order."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
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


class IterationSchedule:
    """How many generator iterations each Lightning batch runs.

    Up to `iterations_per_batch`, but a batch always ends at the run's end and at every
    multiple of each cadence (logging, samples, metrics, checkpoints), so iteration-based
    callbacks still fire at exactly their iterations.
    """

    def __init__(self, total: int, iterations_per_batch: int, cadences: Sequence[int]) -> None:
        if iterations_per_batch < 1:
            raise ValueError(f"iterations_per_batch must be >= 1, got {iterations_per_batch}")
        self.total = total
        self.iterations_per_batch = iterations_per_batch
        self.cadences = sorted({int(c) for c in cadences if c > 0})

    def batch_length(self, start: int) -> int:
        """Iterations in the batch that starts after `start` completed iterations (0 at the end)."""
        length = min(self.iterations_per_batch, self.total - start)
        for cadence in self.cadences:
            length = min(length, cadence - start % cadence)
        return max(length, 0)

    def num_batches(self, start: int = 0) -> int:
        """Batches from `start` completed iterations to the end."""
        count = 0
        while (length := self.batch_length(start)) > 0:
            start += length
            count += 1
        return count


class TensorBatches:
    """Yields (count, batches_per_iteration, batch_size, *shape) blocks: the real batches of
    `count` consecutive generator iterations, in model space.

    Real batch b takes the (b mod k)-th run of batch_size indices of epoch (b div k)'s
    permutation, k = items // batch_size (drop-last). Iteration i uses real batches
    i*batches_per_iteration ..., so the data of any iteration is a pure function of (seed, i):
    each new iterator starts at `start()` (the model's completed iterations), so a resumed run
    continues exactly, whatever was prefetched before the checkpoint.
    """

    def __init__(
        self,
        data: torch.Tensor,
        batch_size: int,
        batches_per_iteration: int,
        schedule: IterationSchedule,
        seed: int,
        scale: float,
        offset: float,
        shuffle: bool,
        start: Callable[[], int] = lambda: 0,
    ) -> None:
        if batch_size > data.shape[0]:
            raise ValueError(
                f"batch_size {batch_size} is larger than the data set ({data.shape[0]} items);"
                " lower data.batch_size"
            )
        self.data = data
        self.batch_size = batch_size
        self.batches_per_iteration = batches_per_iteration
        self.schedule = schedule
        self.seed = seed
        self.scale = scale
        self.offset = offset
        self.shuffle = shuffle
        self.start = start
        self.batches_per_epoch = data.shape[0] // batch_size
        self._order_epoch: int | None = None
        self._order: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.schedule.num_batches()

    def _epoch_order(self, epoch: int) -> torch.Tensor:
        if self._order_epoch != epoch:
            n = self.data.shape[0]
            order = (
                permutation(n, TRAIN_ORDER, self.seed, epoch) if self.shuffle else torch.arange(n)
            )
            self._order, self._order_epoch = order.to(self.data.device), epoch
        assert self._order is not None
        return self._order

    def block(self, first_iteration: int, count: int = 1) -> torch.Tensor:
        """The real data of iterations first_iteration ... first_iteration + count - 1."""
        parts = []
        first = first_iteration * self.batches_per_iteration
        for batch in range(first, first + count * self.batches_per_iteration):
            epoch, slot = divmod(batch, self.batches_per_epoch)
            start = slot * self.batch_size
            parts.append(self._epoch_order(epoch)[start : start + self.batch_size])
        block = self.data[torch.cat(parts)]
        if block.dtype != torch.float32:
            block = block.float()
        if self.scale != 1.0 or self.offset != 0.0:
            block = block * self.scale + self.offset
        return block.view(count, self.batches_per_iteration, self.batch_size, *self.data.shape[1:])

    def __iter__(self) -> Iterator[torch.Tensor]:
        iteration = self.start()
        while (count := self.schedule.batch_length(iteration)) > 0:
            yield self.block(iteration, count)
            iteration += count

    # Lightning's resumable-loader interface (its mid-epoch resume warns about a loader without
    # it). The position is not the loader's to keep: every new iterator starts at start(), the
    # model's completed iterations, which the checkpoint restores; so there is nothing to save.
    def state_dict(self) -> dict[str, Any]:
        """Nothing: where the batches continue is the model's iteration counter (see above)."""
        return {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Nothing to restore (see state_dict)."""
