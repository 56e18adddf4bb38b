"""Equal-weight 2-D Gaussian mixtures; light to import (no Lightning), for tools such as
genlab-compare."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


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
