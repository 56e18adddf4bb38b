"""DCGAN-style conv nets (Radford et al. 2016) for small square images.

The side must be divisible by 4 (8, 28 and 32 are the shipped cases): the generator starts at
side/4 and doubles twice; the discriminator and encoder halve twice.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from genlab.nets.layers import MinibatchStd, channel_norm, pack_samples


def _image_shape(data_shape: Sequence[int]) -> tuple[int, int]:
    if len(data_shape) != 3 or data_shape[1] != data_shape[2] or data_shape[1] % 4:
        raise ValueError(
            "DCGAN nets need square images (C, S, S) with S divisible by 4, got"
            f" {list(data_shape)}; use net=mlp for other shapes"
        )
    return int(data_shape[0]), int(data_shape[1])


class DCGANGenerator(nn.Module):
    """Latent (B, latent_dim) -> image (B, C, S, S) through two transposed-conv stages."""

    def __init__(
        self, latent_dim: int, data_shape: Sequence[int], base_channels: int, tanh_output: bool
    ) -> None:
        super().__init__()
        channels, side = _image_shape(data_shape)
        self.start = side // 4
        c = base_channels
        self.project = nn.Sequential(
            nn.Linear(latent_dim, 2 * c * self.start * self.start),
            nn.BatchNorm1d(2 * c * self.start * self.start),
            nn.ReLU(),
        )
        self.body = nn.Sequential(
            nn.ConvTranspose2d(2 * c, c, 4, stride=2, padding=1),
            nn.BatchNorm2d(c),
            nn.ReLU(),
            nn.ConvTranspose2d(c, channels, 4, stride=2, padding=1),
            nn.Tanh() if tanh_output else nn.Identity(),
        )
        self.base_channels = c

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.project(z).view(z.shape[0], 2 * self.base_channels, self.start, self.start)
        return self.body(h)


def _conv_trunk(channels: int, base_channels: int, norm: str) -> nn.Sequential:
    c = base_channels
    return nn.Sequential(
        nn.Conv2d(channels, c, 4, stride=2, padding=1),
        nn.LeakyReLU(0.2),
        nn.Conv2d(c, 2 * c, 4, stride=2, padding=1),
        channel_norm(norm, 2 * c),
        nn.LeakyReLU(0.2),
    )


class DCGANDiscriminator(nn.Module):
    """Image (B, C, S, S) -> one unbounded score per sample, shape (B,); with pack=k, one score
    per k consecutive images stacked along channels, shape (B / k,) (PacGAN). minibatch_std > 0
    adds the minibatch-std channel (groups of that size) before the output layer."""

    def __init__(
        self,
        data_shape: Sequence[int],
        base_channels: int,
        norm: str,
        pack: int,
        minibatch_std: int,
    ) -> None:
        super().__init__()
        channels, side = _image_shape(data_shape)
        if pack < 1:
            raise ValueError(f"pack must be >= 1, got {pack}")
        self.pack = pack
        self.trunk = _conv_trunk(pack * channels, base_channels, norm)
        self.minibatch_std = MinibatchStd(minibatch_std) if minibatch_std else nn.Identity()
        features = (2 * base_channels + (1 if minibatch_std else 0)) * (side // 4) ** 2
        self.head = nn.Linear(features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.minibatch_std(self.trunk(pack_samples(x, self.pack)))
        return self.head(h.flatten(1)).squeeze(1)


class DCGANEncoder(nn.Module):
    """Image -> mean and log-variance of a diagonal Gaussian, each (B, latent_dim)."""

    def __init__(self, data_shape: Sequence[int], latent_dim: int, base_channels: int) -> None:
        super().__init__()
        channels, side = _image_shape(data_shape)
        self.trunk = _conv_trunk(channels, base_channels, "batch")
        self.head = nn.Linear(2 * base_channels * (side // 4) ** 2, 2 * latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.head(self.trunk(x).flatten(1)).chunk(2, dim=1)
        return mu, logvar
