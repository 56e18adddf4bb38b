"""Small building blocks shared by the architectures."""

from __future__ import annotations

import torch
from torch import Tensor, nn

NORMS = ("none", "batch", "layer")
ACTIVATIONS = ("none", "relu", "leaky_relu")
LEAKY_RELU_SLOPE = 0.2  # the slope of DCGAN and of the classic MNIST GANs


def check_norm(norm: str) -> None:
    """Raise a clear error for an unknown normalisation name."""
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}: use one of {', '.join(NORMS)}")


def feature_norm(norm: str, features: int) -> nn.Module:
    """Normalisation over a fully connected layer's features."""
    check_norm(norm)
    if norm == "batch":
        return nn.BatchNorm1d(features)
    if norm == "layer":
        return nn.LayerNorm(features)
    return nn.Identity()


def activation_layer(name: str) -> nn.Module:
    """The nonlinearity between fully connected layers: relu, leaky_relu (slope 0.2), or none
    (the identity: the layers then compose to one affine map)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}: use one of {', '.join(ACTIVATIONS)}")
    if name == "relu":
        return nn.ReLU()
    if name == "leaky_relu":
        return nn.LeakyReLU(LEAKY_RELU_SLOPE)
    return nn.Identity()


def channel_norm(norm: str, channels: int) -> nn.Module:
    """Normalisation for conv feature maps; 'layer' normalises each sample over (C, H, W)."""
    check_norm(norm)
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    if norm == "layer":
        return nn.GroupNorm(1, channels)
    return nn.Identity()


def pack_samples(x: Tensor, pack: int) -> Tensor:
    """PacGAN (Lin et al. 2018): (B, C, ...) -> (B / pack, pack * C, ...), consecutive samples
    joined along the first feature axis, so the discriminator judges `pack` samples at once."""
    if pack == 1:
        return x
    if x.shape[0] % pack:
        raise ValueError(
            f"PacGAN: a batch of {x.shape[0]} samples does not split into packs of {pack};"
            " pick data.batch_size divisible by model.pack"
        )
    return x.reshape(x.shape[0] // pack, pack * x.shape[1], *x.shape[2:])


class MinibatchStd(nn.Module):
    """Minibatch standard deviation (Karras et al. 2018): appends one feature (channel) holding
    the mean over features of the per-feature std within groups of `group_size` samples, so
    the discriminator can see a batch's lack of variety."""

    def __init__(self, group_size: int) -> None:
        super().__init__()
        if group_size < 2:
            raise ValueError(f"minibatch_std group size must be >= 2, got {group_size}")
        self.group_size = group_size
        self.members = 1  # K in a member-batched net: groups are formed within each member

    def forward(self, x: Tensor) -> Tensor:
        if self.members > 1:
            return self._members_forward(x)
        batch = x.shape[0]
        group = min(self.group_size, batch)
        if batch % group:
            raise ValueError(
                f"minibatch_std: a batch of {batch} does not split into groups of {group};"
                " pick a batch size divisible by the group size"
            )
        # sample i belongs to group i mod (batch / group): row j of `grouped` holds group j
        grouped = x.reshape(group, batch // group, *x.shape[1:])
        std = (grouped.var(dim=0, unbiased=False) + 1e-8).sqrt()
        stat = std.flatten(1).mean(dim=1).repeat(group)  # (batch,), one value per sample
        extra = stat.view(batch, 1, *([1] * (x.dim() - 2))).expand(batch, 1, *x.shape[2:])
        return torch.cat([x, extra.to(x.dtype)], dim=1)

    def _members_forward(self, x: Tensor) -> Tensor:
        # the plain forward per member, on (K*B, ...) member-major
        members, batch = self.members, x.shape[0] // self.members
        group = min(self.group_size, batch)
        if batch % group:
            raise ValueError(
                f"minibatch_std: a batch of {batch} does not split into groups of {group};"
                " pick a batch size divisible by the group size"
            )
        grouped = x.reshape(members, group, batch // group, *x.shape[1:])
        std = (grouped.var(dim=1, unbiased=False) + 1e-8).sqrt()
        stat = std.flatten(2).mean(dim=2).repeat(1, group).reshape(members * batch)
        extra = stat.view(-1, 1, *([1] * (x.dim() - 2))).expand(x.shape[0], 1, *x.shape[2:])
        return torch.cat([x, extra.to(x.dtype)], dim=1)
