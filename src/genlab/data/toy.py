"""2-D Gaussian mixtures (ring and grid), the mode-collapse benchmarks."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from genlab.data.base import TensorDataModule


@dataclass(frozen=True)
class GaussianMixture2D:
    """Equal-weight isotropic Gaussians at fixed centres."""

    centres: torch.Tensor  # (K, 2)
    std: float

    @classmethod
    def ring(cls, num_modes: int, radius: float, std: float) -> GaussianMixture2D:
        angles = torch.arange(num_modes, dtype=torch.float64) * (2 * math.pi / num_modes)
        centres = radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
        return cls(centres.float(), std)

    @classmethod
    def grid(cls, num_modes: int, spacing: float, std: float) -> GaussianMixture2D:
        side = math.isqrt(num_modes)
        if side * side != num_modes:
            raise ValueError(f"a grid needs a square number of modes, got num_modes={num_modes}")
        coords = (torch.arange(side, dtype=torch.float32) - (side - 1) / 2) * spacing
        xs, ys = torch.meshgrid(coords, coords, indexing="ij")
        return cls(torch.stack([xs.flatten(), ys.flatten()], dim=1), std)

    def sample(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """n samples and the index of the mode each came from."""
        modes = torch.randint(len(self.centres), (n,), generator=generator)
        points = self.centres[modes] + self.std * torch.randn(n, 2, generator=generator)
        return points, modes


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
