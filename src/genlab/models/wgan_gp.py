"""WGAN-GP (Gulrajani et al. 2017): Wasserstein critic with a gradient penalty."""

from __future__ import annotations

from torch import Tensor, nn

from genlab.models.gan import GAN, OptimizerFactory
from genlab.models.regularizers import gradient_penalty


class WGANGP(GAN):
    """n_critic critic updates per generator update; critic loss
    E[D(G(z))] - E[D(x)] + gp_lambda * GP. With DiffAugment (augment), the critic sees augmented
    reals and fakes, and the penalty's interpolates lie between the augmented pair."""

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        optimizer_g: OptimizerFactory,
        optimizer_d: OptimizerFactory,
        latent_dim: int,
        seed: int,
        gp_lambda: float,
        n_critic: int,
        clip_norm_g: float | None,
        clip_norm_d: float | None,
        augment: str | None,
    ) -> None:
        # n_critic and gp_lambda ranges: genlab.run.checks; the critic's norm needs the net
        batch_norms = [
            m for m in discriminator.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
        ]
        if batch_norms:
            raise ValueError(
                "the WGAN-GP critic contains batch norm, which couples samples and breaks the"
                " per-sample gradient penalty; use the critic role (net.critic) or norm=layer|none"
            )
        super().__init__(
            generator=generator,
            discriminator=discriminator,
            optimizer_g=optimizer_g,
            optimizer_d=optimizer_d,
            latent_dim=latent_dim,
            seed=seed,
            loss="wasserstein",
            d_steps=n_critic,
            clip_norm_g=clip_norm_g,
            clip_norm_d=clip_norm_d,
            # the GAN's switches, off: the critic is kept Lipschitz by the penalty alone
            r1_gamma=0.0,
            spectral_norm=False,
            pack=1,
            minibatch_std=0,
            ema_decay=None,
            instance_noise_std=0.0,
            instance_noise_anneal_iterations=1,
            label_smoothing=0.0,
            augment=augment,
        )
        self.gp_lambda = gp_lambda
        self.n_critic = n_critic

    def discriminator_objective(
        self, real: Tensor, fake: Tensor
    ) -> tuple[Tensor, dict[str, Tensor]]:
        critic_loss, logs = super().discriminator_objective(real, fake)
        alpha = self.rand_like(real, *([1] * (real.dim() - 1)))
        penalty = gradient_penalty(self.discriminator, real, fake, alpha, self.per_run)
        loss = critic_loss + self.gp_lambda * penalty
        logs["train/wasserstein"] = -critic_loss  # E[D(x)] - E[D(G(z))]
        logs["train/gp"] = penalty
        logs["train/d_loss"] = loss
        return loss, logs
