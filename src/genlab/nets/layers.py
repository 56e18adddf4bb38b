"""Small building blocks shared by the architectures."""

from __future__ import annotations

from torch import nn

NORMS = ("none", "batch", "layer")


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


def channel_norm(norm: str, channels: int) -> nn.Module:
    """Normalisation for conv feature maps; 'layer' normalises each sample over (C, H, W)."""
    check_norm(norm)
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    if norm == "layer":
        return nn.GroupNorm(1, channels)
    return nn.Identity()
