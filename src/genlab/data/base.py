"""Shared base of genlab's data modules: a whole data set as one tensor on the device."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import lightning as L
import torch

from genlab.data.tensor_batches import (
    OVERFIT_SUBSET,
    REFERENCE_SUBSET,
    IterationSchedule,
    TensorBatches,
    permutation,
)


class TensorDataModule(L.LightningDataModule):
    """Holds a data set as one tensor and serves index-sampled blocks of batches.

    Subclasses implement `load()` and set `kind` ("points" for 2-D mixtures, "images").
    Data in model space is `stored * scale + offset` (images in [-1, 1]).

    What metric suites may read: `name`, `seed`, `kind`, `labels` (after `setup()`), `items()`,
    `reference_batch()`; and, only where a data set has it, one optional capability looked up
    by name with `capability()`: `mixture` (the 2-D mixtures' `GaussianMixture2D`) or
    `digit_set` (stacked digits: a callable returning the `DigitSet` each channel comes from).
    """

    kind: str = "points"

    def __init__(
        self,
        name: str,
        seed: int,
        batch_size: int,
        overfit_batches: int,
        shape: Sequence[int],
        bounded: bool,
    ) -> None:
        super().__init__()
        self.name = name
        self.seed = seed
        self.batch_size = batch_size
        self.overfit_batches = overfit_batches
        self.shape = tuple(shape)
        self.bounded = bounded
        self.data: torch.Tensor | None = None
        self.labels: torch.Tensor | None = None
        self.scale = 1.0
        self.offset = 0.0
        self.schedule: IterationSchedule | None = None
        self.batches_per_iteration = 1
        self.completed_iterations: Callable[[], int] = int  # int() == 0: from the start

    def load(self) -> tuple[torch.Tensor, torch.Tensor | None, float, float]:
        """Return (stored data, labels or None, scale, offset)."""
        raise NotImplementedError

    def configure_loop(
        self,
        schedule: IterationSchedule,
        batches_per_iteration: int,
        completed_iterations: Callable[[], int],
    ) -> None:
        """Set the iterations per Lightning batch, the real batches per iteration (the model's),
        and where to read the completed iterations each epoch's batches start from (the
        model's counter, restored on resume)."""
        self.schedule = schedule
        self.batches_per_iteration = batches_per_iteration
        self.completed_iterations = completed_iterations

    def setup(self, stage: str | None = None) -> None:
        if self.data is not None:
            return
        data, labels, self.scale, self.offset = self.load()
        if tuple(data.shape[1:]) != self.shape:
            raise ValueError(
                f"{type(self).__name__}: loaded items of shape {list(data.shape[1:])}, but the"
                f" config says data.shape={list(self.shape)}"
            )
        if self.overfit_batches > 0:
            keep = permutation(data.shape[0], OVERFIT_SUBSET, self.seed)[
                : self.overfit_batches * self.batch_size
            ]
            data = data[keep]
            labels = labels[keep] if labels is not None else None
        self.data, self.labels = data, labels

    def train_dataloader(self) -> TensorBatches:
        trainer = self.trainer
        device = trainer.strategy.root_device if trainer is not None else "cpu"
        rank = trainer.global_rank if trainer is not None else 0
        return self.batches(device, rank)

    def batches(self, device: torch.device | str, rank: int) -> TensorBatches:
        """The training batches of process `rank`, on `device`."""
        if self.schedule is None:
            raise RuntimeError("call configure_loop() before training")
        assert self.data is not None
        return TensorBatches(
            data=self.data.to(device),
            batch_size=self.batch_size,
            batches_per_iteration=self.batches_per_iteration,
            schedule=self.schedule,
            seed=self.seed + rank,
            scale=self.scale,
            offset=self.offset,
            shuffle=self.overfit_batches == 0,
            start=self.completed_iterations,
        )

    def record_facts(self) -> dict[str, object]:
        """What the run record says about the data beyond its name (e.g. a folder's image count
        and cache key); nothing for the shipped sets."""
        return {}

    def capability(self, name: str) -> object | None:
        """The optional capability `name` (see the class docstring), or None where absent."""
        if name not in ("mixture", "digit_set"):
            raise ValueError(f"no data capability named {name!r}")
        return getattr(self, name, None)

    def items(self, index: torch.Tensor | slice = slice(None)) -> torch.Tensor:
        """Stored items (all, or those at `index`) in model space, as float32 on the CPU."""
        self.setup()
        assert self.data is not None
        return self.data[index].float() * self.scale + self.offset

    def reference_batch(self, n: int) -> torch.Tensor:
        """A fixed set of up to n real items in model space (CPU), the same for a given seed."""
        self.setup()
        assert self.data is not None
        return self.items(permutation(self.data.shape[0], REFERENCE_SUBSET, self.seed)[:n])
