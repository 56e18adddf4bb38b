"""Fully connected nets for 2-D toy data and flattened images.

`activation` is the nonlinearity after each hidden layer (relu | leaky_relu | none, see
`layers.activation_layer`); with none a net is one affine map followed by its output layer."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from genlab.nets.layers import MinibatchStd, activation_layer, feature_norm, pack_samples


def _mlp(
    in_features: int, hidden: Sequence[int], out_features: int, act: nn.Module, norm: str
) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = in_features
    for i, h in enumerate(hidden):
        layers.append(nn.Linear(width, h))
        if i > 0:  # no normalisation right after the input layer
            layers.append(feature_norm(norm, h))
        layers.append(act)
        width = h
    layers.append(nn.Linear(width, out_features))
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module):
    """Maps latent vectors (B, latent_dim) to data of shape (B, *data_shape)."""

    def __init__(
        self,
        latent_dim: int,
        data_shape: Sequence[int],
        hidden: Sequence[int],
        activation: str,
        tanh_output: bool,
    ) -> None:
        super().__init__()
        self.data_shape = tuple(data_shape)
        act = activation_layer(activation)
        self.net = _mlp(latent_dim, hidden, math.prod(self.data_shape), act, "none")
        self.out = nn.Tanh() if tanh_output else nn.Identity()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.out(self.net(z)).view(z.shape[0], *self.data_shape)


class MLPDiscriminator(nn.Module):
    """Maps data (B, *data_shape) to one unbounded score per sample, shape (B,); with pack=k,
    one score per k consecutive samples, shape (B / k,) (PacGAN). minibatch_std > 0 adds the
    minibatch-std feature (groups of that size) before the output layer."""

    def __init__(
        self,
        data_shape: Sequence[int],
        hidden: Sequence[int],
        activation: str,
        norm: str,
        pack: int,
        minibatch_std: int,
    ) -> None:
        super().__init__()
        if pack < 1:
            raise ValueError(f"pack must be >= 1, got {pack}")
        self.pack = pack
        act = activation_layer(activation)
        layers = _mlp(pack * math.prod(data_shape), hidden, 1, act, norm)
        self.trunk = layers[:-1]
        self.minibatch_std = MinibatchStd(minibatch_std) if minibatch_std else nn.Identity()
        self.head = nn.Linear(hidden[-1] + (1 if minibatch_std else 0), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.trunk(pack_samples(x.flatten(1), self.pack))
        return self.head(self.minibatch_std(h)).squeeze(1)


class MLPEncoder(nn.Module):
    """Maps data to the mean and log-variance of a diagonal Gaussian, each (B, latent_dim)."""

    def __init__(
        self, data_shape: Sequence[int], latent_dim: int, hidden: Sequence[int], activation: str
    ) -> None:
        super().__init__()
        act = activation_layer(activation)
        self.net = _mlp(math.prod(data_shape), hidden, 2 * latent_dim, act, "none")

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.net(x.flatten(1)).chunk(2, dim=1)
        return mu, logvar
