"""2-D Gaussian mixtures (ring and grid), the mode-collapse benchmarks."""

from __future__ import annotations

import torch

from genlab.data.base import TensorDataModule
from genlab.data.mixtures import GaussianMixture2D

__all__ = ["GaussianMixture2D", "GaussianMixtureDataModule"]


class GaussianMixtureDataModule(TensorDataModule):
    """A fixed sample of a 2-D mixture, drawn from the seed."""

    kind = "points"

    def __init__(
        self,
        layout: str,
        num_modes: int,
        radius: float | None,
        spacing: float | None,
        std: float,
        num_samples: int,
        name: str,
        seed: int,
        batch_size: int,
        overfit_batches: int,
        shape: list[int],
        bounded: bool,
    ) -> None:
        super().__init__(name, seed, batch_size, overfit_batches, shape, bounded)
        if layout == "ring":
            if radius is None:
                raise ValueError("a ring mixture needs data.radius")
            self.mixture = GaussianMixture2D.ring(num_modes, radius, std)
        elif layout == "grid":
            if spacing is None:
                raise ValueError("a grid mixture needs data.spacing")
            self.mixture = GaussianMixture2D.grid(num_modes, spacing, std)
        else:
            raise ValueError(f"unknown mixture layout {layout!r}: use ring or grid")
        self.num_samples = num_samples

    def load(self) -> tuple[torch.Tensor, torch.Tensor, float, float]:
        points, modes = self.mixture.sample(
            self.num_samples, torch.Generator().manual_seed(self.seed)
        )
        return points, modes, 1.0, 0.0
