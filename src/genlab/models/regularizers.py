"""Discriminator regularisers that fixes switch in and out."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def gradient_penalty(critic: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
    """WGAN-GP penalty: mean over samples of (||grad_x critic(x_hat)||_2 - 1)^2.

    x_hat are random interpolates between real and fake samples (one uniform weight per sample);
    the norm is taken per sample over all non-batch dimensions. The graph is kept so the
    penalty's gradient reaches the critic's parameters (double backward).
    """
    alpha = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device)
    interpolates = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    scores = critic(interpolates)
    (grad,) = torch.autograd.grad(scores.sum(), interpolates, create_graph=True)
    return (grad.flatten(1).norm(2, dim=1) - 1).pow(2).mean()
