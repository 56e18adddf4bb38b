"""Adversarial losses on raw discriminator scores, and the Gaussian KL of the VAE.

Scores are (B,), or (K, B) for the K members of a batched model: every mean is over the last
(sample) axis, so a loss is a scalar, or one value per member."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class AdversarialLoss:
    """The discriminator's and the generator's objective (both minimised) for one GAN loss."""

    # (scores on real, scores on fake, target for real: 1, or 1 - s with label smoothing)
    discriminator: Callable[[Tensor, Tensor, float], Tensor]
    # (scores on fake, scores on real: given only to losses with `relativistic`)
    generator: Callable[..., Tensor]
    probabilistic: bool  # scores are logits of P(real)
    smoothable: bool  # has a real-label target that one-sided label smoothing can lower
    relativistic: bool = False  # the generator's loss also needs D's scores on real data


# Named functions, not lambdas: models are pickled into ddp_spawn workers.
def _bce_discriminator(real: Tensor, fake: Tensor, real_target: float) -> Tensor:
    # -t log D(x) - (1 - t) log(1 - D(x)) - log(1 - D(G(z))) with D = sigmoid(score); without
    # smoothing (t = 1) the second term is an exact zero, so it is not computed
    real_term = F.softplus(-real)
    if real_target != 1.0:
        real_term = real_target * real_term + (1 - real_target) * F.softplus(real)
    return real_term.mean(-1) + F.softplus(fake).mean(-1)


def _ns_generator(fake: Tensor) -> Tensor:
    return F.softplus(-fake).mean(-1)  # -log D(G(z))


def _minimax_generator(fake: Tensor) -> Tensor:
    return -F.softplus(fake).mean(-1)  # log(1 - D(G(z)))


def _lsgan_discriminator(real: Tensor, fake: Tensor, real_target: float) -> Tensor:
    return 0.5 * ((real - real_target).pow(2).mean(-1) + fake.pow(2).mean(-1))


def _lsgan_generator(fake: Tensor) -> Tensor:
    return 0.5 * (fake - 1).pow(2).mean(-1)


def _hinge_discriminator(real: Tensor, fake: Tensor, real_target: float) -> Tensor:
    return F.relu(1 - real).mean(-1) + F.relu(1 + fake).mean(-1)


def _critic_discriminator(real: Tensor, fake: Tensor, real_target: float) -> Tensor:
    return fake.mean(-1) - real.mean(-1)


def _critic_generator(fake: Tensor) -> Tensor:
    return -fake.mean(-1)


def _relativistic_average_discriminator(real: Tensor, fake: Tensor, real_target: float) -> Tensor:
    # -E log sigmoid(C(x) - E C(G(z))) - E log(1 - sigmoid(C(G(z)) - E C(x)))
    return F.softplus(-(real - fake.mean(-1, keepdim=True))).mean(-1) + F.softplus(
        fake - real.mean(-1, keepdim=True)
    ).mean(-1)


def _relativistic_average_generator(fake: Tensor, real: Tensor) -> Tensor:
    # the discriminator's objective with real and fake swapped
    return F.softplus(-(fake - real.mean(-1, keepdim=True))).mean(-1) + F.softplus(
        real - fake.mean(-1, keepdim=True)
    ).mean(-1)


ADVERSARIAL_LOSSES: dict[str, AdversarialLoss] = {
    # Goodfellow et al. 2014, with the non-saturating generator loss.
    "ns": AdversarialLoss(_bce_discriminator, _ns_generator, True, True),
    # Goodfellow et al. 2014, the original minimax game.
    "minimax": AdversarialLoss(_bce_discriminator, _minimax_generator, True, True),
    # Mao et al. 2017 (LSGAN), targets a=0, b=1, c=1.
    "lsgan": AdversarialLoss(_lsgan_discriminator, _lsgan_generator, False, True),
    # Lim & Ye 2017 / Miyato et al. 2018 (hinge); the generator maximises the critic's score.
    "hinge": AdversarialLoss(_hinge_discriminator, _critic_generator, False, False),
    # Jolicoeur-Martineau 2019 (RaGAN): D judges whether real data is more realistic than the
    # average fake (and G the reverse); scores are raw, the generator's loss needs real scores.
    "ragan": AdversarialLoss(
        _relativistic_average_discriminator,
        _relativistic_average_generator,
        probabilistic=False,
        smoothable=False,
        relativistic=True,
    ),
    # Arjovsky et al. 2017 (Wasserstein critic; needs a Lipschitz constraint such as the GP).
    "wasserstein": AdversarialLoss(_critic_discriminator, _critic_generator, False, False),
}


def adversarial_loss(name: str) -> AdversarialLoss:
    """Look up a loss by its config name."""
    if name not in ADVERSARIAL_LOSSES:
        raise ValueError(
            f"model.loss={name!r} is not a GAN loss genlab knows: use one of"
            f" {', '.join(ADVERSARIAL_LOSSES)}"
        )
    return ADVERSARIAL_LOSSES[name]


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per example, summed over latent dims, in nats."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1)
