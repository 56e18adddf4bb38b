"""Adversarial losses on raw discriminator scores, and the Gaussian KL of the VAE."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class AdversarialLoss:
    """The discriminator's and the generator's objective (both minimised) for one GAN loss."""

    discriminator: Callable[[Tensor, Tensor], Tensor]  # (scores on real, scores on fake)
    generator: Callable[[Tensor], Tensor]  # (scores on fake)
    probabilistic: bool  # scores are logits of P(real)


def _bce_discriminator(real: Tensor, fake: Tensor) -> Tensor:
    # -log D(x) - log(1 - D(G(z))) with D = sigmoid(score)
    return F.softplus(-real).mean() + F.softplus(fake).mean()


ADVERSARIAL_LOSSES: dict[str, AdversarialLoss] = {
    # Goodfellow et al. 2014: G maximises log D(G(z)) (the "non-saturating" trick).
    "ns": AdversarialLoss(_bce_discriminator, lambda fake: F.softplus(-fake).mean(), True),
    # Goodfellow et al. 2014: G minimises log(1 - D(G(z))) (the original minimax game).
    "minimax": AdversarialLoss(_bce_discriminator, lambda fake: -F.softplus(fake).mean(), True),
    # Mao et al. 2017 (LSGAN), targets a=0, b=1, c=1.
    "lsgan": AdversarialLoss(
        lambda real, fake: 0.5 * ((real - 1).pow(2).mean() + fake.pow(2).mean()),
        lambda fake: 0.5 * (fake - 1).pow(2).mean(),
        False,
    ),
    # Lim & Ye 2017 / Miyato et al. 2018 (hinge).
    "hinge": AdversarialLoss(
        lambda real, fake: F.relu(1 - real).mean() + F.relu(1 + fake).mean(),
        lambda fake: -fake.mean(),
        False,
    ),
    # Arjovsky et al. 2017 (Wasserstein critic; needs a Lipschitz constraint such as the GP).
    "wasserstein": AdversarialLoss(
        lambda real, fake: fake.mean() - real.mean(), lambda fake: -fake.mean(), False
    ),
}


def adversarial_loss(name: str) -> AdversarialLoss:
    """Look up a loss by its config name."""
    if name not in ADVERSARIAL_LOSSES:
        raise ValueError(f"unknown GAN loss {name!r}: use one of {', '.join(ADVERSARIAL_LOSSES)}")
    return ADVERSARIAL_LOSSES[name]


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per example, summed over latent dims, in nats."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1)
