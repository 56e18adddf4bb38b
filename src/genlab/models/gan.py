"""GAN with a switchable adversarial loss and d_steps discriminator updates per iteration."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.optim import Optimizer

from genlab.models.base import GenerativeModel
from genlab.models.losses import adversarial_loss

OptimizerFactory = Callable[..., Optimizer]


class GAN(GenerativeModel):
    """Generator G(z) and discriminator D(x) scores; each iteration: d_steps D updates on fresh
    real batches and fresh noise, then one G update on fresh noise."""

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        optimizer_g: OptimizerFactory,
        optimizer_d: OptimizerFactory,
        latent_dim: int,
        seed: int,
        loss: str,
        d_steps: int,
        clip_norm_g: float | None,
        clip_norm_d: float | None,
    ) -> None:
        super().__init__(latent_dim=latent_dim, seed=seed, clip_norms=[clip_norm_g, clip_norm_d])
        if d_steps < 1:
            raise ValueError(f"d_steps must be >= 1, got {d_steps}")
        self.generator = generator
        self.discriminator = discriminator
        self.optimizer_g_factory = optimizer_g
        self.optimizer_d_factory = optimizer_d
        self.loss_name = loss
        self.loss = adversarial_loss(loss)
        self.d_steps = d_steps
        self.optimizer_steps_per_iteration = d_steps + 1
        self.real_batches_per_iteration = d_steps

    def configure_optimizers(self) -> list[Optimizer]:
        return [
            self.optimizer_g_factory(self.generator.parameters()),
            self.optimizer_d_factory(self.discriminator.parameters()),
        ]

    def decode(self, z: Tensor) -> Tensor:
        return self.generator(z)

    def _score_summary(self, scores: Tensor) -> Tensor:
        # D(x) as a probability for the BCE losses, the raw score otherwise
        return torch.sigmoid(scores).mean() if self.loss.probabilistic else scores.mean()

    def discriminator_loss(self, real: Tensor, fake: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """The discriminator's objective on one real and one fake batch, and what to log."""
        real_scores = self.discriminator(real)
        fake_scores = self.discriminator(fake)
        loss = self.loss.discriminator(real_scores, fake_scores)
        logs = {
            "train/d_loss": loss,
            "train/D(x)": self._score_summary(real_scores),
            "train/D(G(z))": self._score_summary(fake_scores),
        }
        return loss, logs

    def training_iteration(self, real: Tensor) -> None:
        opt_g, opt_d = self.optimizers()
        batch_size = real.shape[1]
        for real_batch in real:
            with torch.no_grad():
                fake = self.generator(self.noise(batch_size))
            with self.toggled_optimizer(opt_d):
                d_loss, logs = self.discriminator_loss(real_batch, fake)
                opt_d.zero_grad(set_to_none=True)
                self.manual_backward(d_loss)
                opt_d.step()
            self.record(logs)

        with self.toggled_optimizer(opt_g):
            g_loss = self.loss.generator(self.discriminator(self.generator(self.noise(batch_size))))
            opt_g.zero_grad(set_to_none=True)
            self.manual_backward(g_loss)
            opt_g.step()
        self.record({"train/g_loss": g_loss})
