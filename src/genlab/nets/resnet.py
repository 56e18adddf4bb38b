"""SNGAN ResNet nets (Miyato et al. 2018) in the layout of mimicry's sngan_32 / 48 / 64 / 128.

The generator maps the latent to a start x start map and doubles it once per up-block; the
discriminator (and the encoder's trunk) halves the side in its first `downsamples` blocks.
conf/net/resnet.yaml holds mimicry's widths per image side.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise

import torch
from torch import nn

from genlab.nets.layers import MinibatchStd, pack_samples
from genlab.nets.sides import (
    resnet_discriminator_problem,
    resnet_generator_problem,
    resnet_unknown_side,
)

# mimicry's (and the Chainer SNGAN's) init: xavier_uniform, gain sqrt(2) on the residual
# branches' 3x3 convs, gain 1 on the shortcuts and on the first and last layers
RESIDUAL_GAIN = math.sqrt(2.0)
UPSAMPLE_MODES = ("nearest", "bilinear")


def _image_shape(data_shape: Sequence[int]) -> tuple[int, int]:
    if len(data_shape) != 3 or data_shape[1] != data_shape[2]:
        raise ValueError(
            f"ResNet nets need square images (C, S, S), got {list(data_shape)};"
            " use net=mlp for other shapes"
        )
    return int(data_shape[0]), int(data_shape[1])


def _check(problem: str | None) -> None:
    if problem is not None:
        raise ValueError(problem)


def _xavier(layer: nn.Conv2d | nn.Linear, gain: float) -> nn.Conv2d | nn.Linear:
    nn.init.xavier_uniform_(layer.weight, gain)
    return layer


def _conv(in_channels: int, out_channels: int, kernel: int, gain: float) -> nn.Conv2d:
    return _xavier(nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2), gain)


class ResidualBlock(nn.Module):
    """residual(x) + shortcut(x)."""

    def __init__(self, residual: nn.Module, shortcut: nn.Module) -> None:
        super().__init__()
        self.residual = residual
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.residual(x) + self.shortcut(x)


def _upsample(mode: str) -> nn.Upsample:
    if mode not in UPSAMPLE_MODES:
        raise ValueError(f"unknown upsample {mode!r}: use one of {', '.join(UPSAMPLE_MODES)}")
    return nn.Upsample(
        scale_factor=2, mode=mode, align_corners=False if mode != "nearest" else None
    )


def up_block(in_channels: int, out_channels: int, upsample: str) -> ResidualBlock:
    """SNGAN's generator block: (B, in, S, S) -> (B, out, 2S, 2S)."""
    residual = nn.Sequential(
        nn.BatchNorm2d(in_channels),
        nn.ReLU(),
        _upsample(upsample),
        _conv(in_channels, out_channels, 3, RESIDUAL_GAIN),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
        _conv(out_channels, out_channels, 3, RESIDUAL_GAIN),
    )
    # the 1x1 conv before the upsampling: both are linear and act on different axes, so the
    # order does not change the result, and the conv runs on a quarter of the pixels
    shortcut = nn.Sequential(_conv(in_channels, out_channels, 1, 1.0), _upsample(upsample))
    return ResidualBlock(residual, shortcut)


def optimised_block(in_channels: int, out_channels: int) -> ResidualBlock:
    """SNGAN's first discriminator block: (B, in, S, S) -> (B, out, S/2, S/2)."""
    residual = nn.Sequential(
        _conv(in_channels, out_channels, 3, RESIDUAL_GAIN),
        nn.ReLU(),
        _conv(out_channels, out_channels, 3, RESIDUAL_GAIN),
        nn.AvgPool2d(2),
    )
    shortcut = nn.Sequential(nn.AvgPool2d(2), _conv(in_channels, out_channels, 1, 1.0))
    return ResidualBlock(residual, shortcut)


def down_block(in_channels: int, out_channels: int, downsample: bool) -> ResidualBlock:
    """SNGAN's discriminator block, hidden width = in (as mimicry's); halves S if downsample."""
    residual = nn.Sequential(
        nn.ReLU(),
        _conv(in_channels, in_channels, 3, RESIDUAL_GAIN),
        nn.ReLU(),
        _conv(in_channels, out_channels, 3, RESIDUAL_GAIN),
        nn.AvgPool2d(2) if downsample else nn.Identity(),
    )
    if in_channels == out_channels and not downsample:
        shortcut: nn.Module = nn.Identity()
    else:
        # pooling before the 1x1 conv: the same result (both linear), a quarter of the work
        shortcut = nn.Sequential(
            nn.AvgPool2d(2) if downsample else nn.Identity(),
            _conv(in_channels, out_channels, 1, 1.0),
        )
    return ResidualBlock(residual, shortcut)


def _discriminator_trunk(
    in_channels: int, widths: Sequence[int], downsamples: int
) -> nn.Sequential:
    blocks = [optimised_block(in_channels, widths[0])]
    for i, (cin, cout) in enumerate(pairwise(widths), start=1):
        blocks.append(down_block(cin, cout, downsample=i < downsamples))
    return nn.Sequential(*blocks)


class ResNetGenerator(nn.Module):
    """Latent (B, latent_dim) -> image (B, C, S, S): a linear map to widths[0] channels at
    S / 2**(len(widths) - 1), one up-block per further width, BN, ReLU, 3x3 conv (tanh)."""

    def __init__(
        self,
        latent_dim: int,
        data_shape: Sequence[int],
        widths: Sequence[int] | None,
        known_sides: Sequence[int | str],
        upsample: str,
        tanh_output: bool,
    ) -> None:
        super().__init__()
        channels, side = _image_shape(data_shape)
        if widths is None:
            raise ValueError(resnet_unknown_side(side, known_sides))
        _check(resnet_generator_problem(side, widths))
        self.width = int(widths[0])
        self.start = side // 2 ** (len(widths) - 1)
        self.project = _xavier(nn.Linear(latent_dim, self.width * self.start**2), 1.0)
        self.blocks = nn.Sequential(*(up_block(a, b, upsample) for a, b in pairwise(widths)))
        self.out = nn.Sequential(
            nn.BatchNorm2d(widths[-1]),
            nn.ReLU(),
            _conv(widths[-1], channels, 3, 1.0),
            nn.Tanh() if tanh_output else nn.Identity(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.project(z).view(z.shape[0], self.width, self.start, self.start)
        return self.out(self.blocks(h))


def _checked_discriminator(
    data_shape: Sequence[int],
    widths: Sequence[int] | None,
    downsamples: int | None,
    known_sides: Sequence[int | str],
) -> int:
    """The image channels of a discriminator trunk (D, critic, encoder) these widths can build
    at the data's side, or ValueError saying why not."""
    channels, side = _image_shape(data_shape)
    if widths is None or downsamples is None:
        raise ValueError(resnet_unknown_side(side, known_sides))
    _check(resnet_discriminator_problem(side, widths, downsamples))
    return channels


class ResNetDiscriminator(nn.Module):
    """Image (B, C, S, S) -> one unbounded score per sample, shape (B,): the optimised block,
    down-blocks, ReLU, a sum over the map, linear. With pack=k, one score per k consecutive
    images stacked along channels, shape (B / k,) (PacGAN); minibatch_std > 0 appends the
    minibatch-std channel (groups of that size) after the last block."""

    def __init__(
        self,
        data_shape: Sequence[int],
        widths: Sequence[int] | None,
        downsamples: int | None,
        known_sides: Sequence[int | str],
        pack: int,
        minibatch_std: int,
    ) -> None:
        super().__init__()
        channels = _checked_discriminator(data_shape, widths, downsamples, known_sides)
        if pack < 1:
            raise ValueError(f"pack must be >= 1, got {pack}")
        self.pack = pack
        self.trunk = _discriminator_trunk(pack * channels, widths, downsamples)
        self.minibatch_std = MinibatchStd(minibatch_std) if minibatch_std else nn.Identity()
        self.activation = nn.ReLU()
        self.head = _xavier(nn.Linear(widths[-1] + (1 if minibatch_std else 0), 1), 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.minibatch_std(self.trunk(pack_samples(x, self.pack)))
        return self.head(self.activation(h).sum(dim=(2, 3))).squeeze(1)


class ResNetEncoder(nn.Module):
    """Image -> mean and log-variance of a diagonal Gaussian, each (B, latent_dim): the
    discriminator's trunk, ReLU, a sum over the map, linear."""

    def __init__(
        self,
        data_shape: Sequence[int],
        latent_dim: int,
        widths: Sequence[int] | None,
        downsamples: int | None,
        known_sides: Sequence[int | str],
    ) -> None:
        super().__init__()
        channels = _checked_discriminator(data_shape, widths, downsamples, known_sides)
        self.trunk = _discriminator_trunk(channels, widths, downsamples)
        self.activation = nn.ReLU()
        self.head = _xavier(nn.Linear(widths[-1], 2 * latent_dim), 1.0)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.activation(self.trunk(x)).sum(dim=(2, 3))
        mu, logvar = self.head(h).chunk(2, dim=1)
        return mu, logvar
