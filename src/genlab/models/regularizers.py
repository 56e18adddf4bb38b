"""Discriminator regularisers that fixes switch in and out."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

PerRun = Callable[[Tensor], Tensor]  # GenerativeModel.per_run: per-sample values by run


def _as_they_are(values: Tensor) -> Tensor:
    return values


def gradient_penalty(
    critic: nn.Module, real: Tensor, fake: Tensor, alpha: Tensor, per_run: PerRun = _as_they_are
) -> Tensor:
    """WGAN-GP penalty: mean over samples of (||grad_x critic(x_hat)||_2 - 1)^2, for each run
    (`per_run`, the model's: one run, or K members of a batched model).

    x_hat = alpha * real + (1 - alpha) * fake, alpha (B, 1, ...) one uniform weight per sample;
    the norm is taken per sample over all non-batch dimensions. The graph is kept so the
    penalty's gradient reaches the critic's parameters (double backward).

    The whole penalty path runs in float32 with autocast off: under bf16 autocast the input
    gradient's norm is off by ~1e-3 relative and the parameter gradients by a few percent, and
    under fp16 the squared norm can overflow. The result joins the (scaled) critic loss as usual.
    """
    with torch.autocast(device_type=real.device.type, enabled=False):
        interpolates = alpha * real.detach().float() + (1 - alpha) * fake.detach().float()
        interpolates.requires_grad_(True)
        scores = critic(interpolates).float()
        (grad,) = torch.autograd.grad(scores.sum(), interpolates, create_graph=True)
        per_sample = (grad.flatten(1).norm(2, dim=1) - 1).pow(2)
        return per_run(per_sample).mean(-1)


def r1_penalty(discriminator: nn.Module, real: Tensor, per_run: PerRun = _as_they_are) -> Tensor:
    """R1 (Mescheder et al. 2018): squared norm of grad_x D(x) on real data, summed over the
    input and averaged over the discriminator's scores (one per sample, or per pack), for each
    run (`per_run`, as gradient_penalty's).

    The caller weights it by gamma / 2. Like the gradient penalty, it runs in float32 with
    autocast off, with the graph kept for the parameters' gradient.
    """
    with torch.autocast(device_type=real.device.type, enabled=False):
        inputs = real.detach().float().requires_grad_(True)
        scores = discriminator(inputs).float()
        (grad,) = torch.autograd.grad(scores.sum(), inputs, create_graph=True)
        # samples are folded run-major, so each run's share of the flat gradient is contiguous
        return per_run(grad.pow(2).flatten()).sum(-1) / per_run(scores.flatten()).shape[-1]
