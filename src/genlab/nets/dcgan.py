"""DCGAN conv nets (Radford et al. 2016; PyTorch's DCGAN example) for square images of any side
that halves to a small map.

The generator starts at side / 2**stages (4x4 where the side allows, 7x7 at 28) and doubles
once per stage with 4x4 transposed convolutions, halving the width from base * 2**(stages - 1)
to base; batch norm and ReLU after each but the last, which ends in tanh. The discriminator
mirrors it with LeakyReLU 0.2 and no norm after its first conv. `ends` says how the nets meet
the latent and the score: `conv` (the reference: G begins with a transposed conv from the 1x1
latent, D ends with a conv over its last map) or `linear` (genlab's earlier nets: a linear layer
and batch norm into G's first map, a linear head on D). At side 64, latent 100, base 64, RGB,
`ends=conv` and no conv biases: G 3,576,704 and D 2,765,568 parameters, the reference's;
`init=dcgan` draws the weights as the reference does.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from genlab.nets.layers import MinibatchStd, channel_norm, pack_samples
from genlab.nets.sides import dcgan_stages

ENDS = ("conv", "linear")
INITS = ("dcgan", "torch")


def initialise(net: nn.Module, init: str) -> None:
    """`dcgan`: conv and linear weights from N(0, 0.02), batch-norm scales from N(1, 0.02),
    biases 0 (Radford et al.); `torch`: torch's own initialisation, left as built."""
    if init not in INITS:
        raise ValueError(f"unknown net.init {init!r}: use one of {', '.join(INITS)}")
    if init == "torch":
        return
    for layer in net.modules():
        if isinstance(layer, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            nn.init.normal_(layer.weight, 0.0, 0.02)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.modules.batchnorm._BatchNorm | nn.GroupNorm) and layer.affine:
            nn.init.normal_(layer.weight, 1.0, 0.02)
            nn.init.zeros_(layer.bias)


class DCGANLayout:
    """Where a DCGAN of this shape starts, its stage count and the width of each map."""

    def __init__(self, data_shape: Sequence[int], base_channels: int, stages: int | None) -> None:
        if len(data_shape) != 3 or data_shape[1] != data_shape[2]:
            raise ValueError(
                f"DCGAN nets need square images (C, S, S), got {list(data_shape)}; use net=mlp"
                " for other shapes"
            )
        self.channels, side = int(data_shape[0]), int(data_shape[1])
        self.stages = dcgan_stages(side, stages)
        self.start = side >> self.stages
        # widths[0] at the start map ... widths[-1] = base at side / 2
        self.widths = [base_channels * 2 ** (self.stages - 1 - i) for i in range(self.stages)]


def _check_ends(ends: str) -> None:
    if ends not in ENDS:
        raise ValueError(f"unknown net.ends {ends!r}: use one of {', '.join(ENDS)}")


class DCGANGenerator(nn.Module):
    """Latent (B, latent_dim) -> image (B, C, S, S) through `stages` transposed-conv stages."""

    def __init__(
        self,
        latent_dim: int,
        data_shape: Sequence[int],
        base_channels: int,
        stages: int | None,
        conv_bias: bool,
        ends: str,
        init: str,
        tanh_output: bool,
    ) -> None:
        super().__init__()
        _check_ends(ends)
        layout = DCGANLayout(data_shape, base_channels, stages)
        widths, start = layout.widths, layout.start
        self.first_map = (widths[0], start, start)
        self.from_vector = ends == "linear"
        if self.from_vector:
            features = widths[0] * start * start
            self.project = nn.Sequential(
                nn.Linear(latent_dim, features), nn.BatchNorm1d(features), nn.ReLU()
            )
        else:
            self.project = nn.Sequential(
                nn.ConvTranspose2d(latent_dim, widths[0], start, 1, 0, bias=conv_bias),
                nn.BatchNorm2d(widths[0]),
                nn.ReLU(),
            )
        body: list[nn.Module] = []
        for width_in, width_out in zip(widths, widths[1:], strict=False):
            body += [
                nn.ConvTranspose2d(width_in, width_out, 4, 2, 1, bias=conv_bias),
                nn.BatchNorm2d(width_out),
                nn.ReLU(),
            ]
        body += [
            nn.ConvTranspose2d(widths[-1], layout.channels, 4, 2, 1, bias=conv_bias),
            nn.Tanh() if tanh_output else nn.Identity(),
        ]
        self.body = nn.Sequential(*body)
        initialise(self, init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.from_vector:
            h = self.project(z).view(z.shape[0], *self.first_map)
        else:
            h = self.project(z.view(*z.shape, 1, 1))
        return self.body(h)


def _conv_trunk(in_channels: int, layout: DCGANLayout, norm: str, conv_bias: bool) -> nn.Sequential:
    """Image -> the last map (widths[0] channels at the start side): one stride-2 conv a stage."""
    widths = layout.widths[::-1]  # base first
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, widths[0], 4, 2, 1, bias=conv_bias),
        nn.LeakyReLU(0.2),
    ]
    for width_in, width_out in zip(widths, widths[1:], strict=False):
        layers += [
            nn.Conv2d(width_in, width_out, 4, 2, 1, bias=conv_bias),
            channel_norm(norm, width_out),
            nn.LeakyReLU(0.2),
        ]
    return nn.Sequential(*layers)


def _head(features: int, layout: DCGANLayout, outputs: int, ends: str, bias: bool) -> nn.Module:
    """The last map -> `outputs` values per sample: a conv over the whole map, or a linear layer."""
    if ends == "conv":
        return nn.Conv2d(features, outputs, layout.start, 1, 0, bias=bias)
    return nn.Linear(features * layout.start**2, outputs)


class DCGANDiscriminator(nn.Module):
    """Image (B, C, S, S) -> one unbounded score per sample, shape (B,); with pack=k, one score
    per k consecutive images stacked along channels, shape (B / k,) (PacGAN). minibatch_std > 0
    adds the minibatch-std channel (groups of that size) before the output layer."""

    def __init__(
        self,
        data_shape: Sequence[int],
        base_channels: int,
        stages: int | None,
        conv_bias: bool,
        ends: str,
        init: str,
        norm: str,
        pack: int,
        minibatch_std: int,
    ) -> None:
        super().__init__()
        _check_ends(ends)
        if pack < 1:
            raise ValueError(f"pack must be >= 1, got {pack}")
        layout = DCGANLayout(data_shape, base_channels, stages)
        self.pack = pack
        self.trunk = _conv_trunk(pack * layout.channels, layout, norm, conv_bias)
        self.minibatch_std = MinibatchStd(minibatch_std) if minibatch_std else nn.Identity()
        features = layout.widths[0] + (1 if minibatch_std else 0)
        self.head = _head(features, layout, 1, ends, bias=conv_bias)
        self.flatten_first = ends == "linear"
        initialise(self, init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.minibatch_std(self.trunk(pack_samples(x, self.pack)))
        return self.head(h.flatten(1) if self.flatten_first else h).flatten(1).squeeze(1)


class DCGANEncoder(nn.Module):
    """Image -> mean and log-variance of a diagonal Gaussian, each (B, latent_dim)."""

    def __init__(
        self,
        data_shape: Sequence[int],
        latent_dim: int,
        base_channels: int,
        stages: int | None,
        conv_bias: bool,
        ends: str,
        init: str,
    ) -> None:
        super().__init__()
        _check_ends(ends)
        layout = DCGANLayout(data_shape, base_channels, stages)
        self.trunk = _conv_trunk(layout.channels, layout, "batch", conv_bias)
        # the mean needs an offset whatever the conv biases: the head keeps its bias
        self.head = _head(layout.widths[0], layout, 2 * latent_dim, ends, bias=True)
        self.flatten_first = ends == "linear"
        initialise(self, init)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(x)
        out = self.head(h.flatten(1) if self.flatten_first else h).flatten(1)
        mu, logvar = out.chunk(2, dim=1)
        return mu, logvar
