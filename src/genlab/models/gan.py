"""GAN with a switchable adversarial loss and the usual mode-collapse fixes as switches."""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.optim import Optimizer

from genlab.models.augment import DiffAugment
from genlab.models.base import GenerativeModel
from genlab.models.losses import adversarial_loss
from genlab.models.regularizers import r1_penalty
from genlab.nets.layers import MinibatchStd

OptimizerFactory = Callable[..., Optimizer]
SPECTRAL_NORM_LAYERS = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)


class GAN(GenerativeModel):
    """Generator G(z) and discriminator D(x) scores; each iteration: d_steps D updates on fresh
    real batches and fresh noise, then one G update on fresh noise.

    Switches (all off by default, all composable): R1 on real data (r1_gamma), spectral
    normalisation of D's layers, PacGAN packing and minibatch-std (built into D by the net
    config from `pack` / `minibatch_std`), an EMA copy of G that samples come from (ema_decay),
    Gaussian instance noise on D's inputs annealed linearly to 0, one-sided label smoothing,
    DiffAugment (augment: a policy such as "color,translation,cutout"; Zhao et al. 2020) on the
    real and fake images of every D evaluation. Two-time-scale learning rates are the
    optimisers' own lr settings.
    """

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
        r1_gamma: float,
        spectral_norm: bool,
        pack: int,
        minibatch_std: int,
        ema_decay: float | None,
        instance_noise_std: float,
        instance_noise_anneal_iterations: int,
        label_smoothing: float,
        augment: str | None,
    ) -> None:
        super().__init__(latent_dim=latent_dim, seed=seed, clip_norms=[clip_norm_g, clip_norm_d])
        # ranges of the switches are checked once, with their config keys, in
        # genlab.run.checks; what needs the built nets or the loss is checked here
        self.loss = adversarial_loss(loss)
        if getattr(discriminator, "pack", 1) != pack:
            raise ValueError(
                f"model.pack={pack} but the discriminator packs {getattr(discriminator, 'pack', 1)}"
                " samples: set both through model.pack"
            )
        groups = [m.group_size for m in discriminator.modules() if isinstance(m, MinibatchStd)]
        if groups != ([minibatch_std] if minibatch_std else []):
            raise ValueError(
                f"model.minibatch_std={minibatch_std} but the discriminator's minibatch-std"
                f" layers have group sizes {groups}: build them from its minibatch_std argument"
                " (set through model.minibatch_std)"
            )
        if label_smoothing and not self.loss.smoothable:
            raise ValueError(
                f"model.label_smoothing={label_smoothing} needs a loss with a real-label target"
                f" (ns, minimax, lsgan), not model.loss={loss}: drop one of them"
            )
        self.generator = generator
        self.discriminator = discriminator
        self.optimizer_g_factory = optimizer_g
        self.optimizer_d_factory = optimizer_d
        self.loss_name = loss
        self.d_steps = d_steps
        self.optimizer_steps_per_iteration = d_steps + 1
        self.real_batches_per_iteration = d_steps
        self.r1_gamma = r1_gamma
        self.spectral_norm = spectral_norm
        self.pack = pack
        self.minibatch_std = minibatch_std
        self.ema_decay = ema_decay
        self.generator_ema = None
        if ema_decay is not None:
            self.generator_ema = copy.deepcopy(generator).requires_grad_(False)
        self.instance_noise_std = instance_noise_std
        self.instance_noise_anneal_iterations = instance_noise_anneal_iterations
        self.real_target = 1.0 - label_smoothing
        self.augment = augment
        self.augmentation = None if augment is None else DiffAugment(augment)

    def configure_model(self) -> None:
        # Applied in each process (parametrised modules cannot be pickled into ddp_spawn
        # workers), before any checkpoint is loaded; calling it twice changes nothing.
        if not self.spectral_norm:
            return
        from torch.nn.utils import parametrize
        from torch.nn.utils.parametrizations import spectral_norm

        for layer in self.discriminator.modules():
            if isinstance(layer, SPECTRAL_NORM_LAYERS) and not parametrize.is_parametrized(
                layer, "weight"
            ):
                # the transposed conv's output channels are its weight's second axis
                spectral_norm(layer, dim=1 if isinstance(layer, nn.ConvTranspose2d) else 0)

    def configure_optimizers(self) -> list[Optimizer]:
        return [
            self.optimizer_g_factory(self.generator.parameters()),
            self.optimizer_d_factory(self.discriminator.parameters()),
        ]

    def decode(self, z: Tensor) -> Tensor:
        generator = self.generator_ema if self.generator_ema is not None else self.generator
        return generator(z)

    # --- pieces the switches change ---------------------------------------------------------
    def instance_noise(self) -> float:
        """Std of the instance noise at the current iteration (linear anneal to 0)."""
        remaining = 1.0 - self.iteration / self.instance_noise_anneal_iterations
        return self.instance_noise_std * max(0.0, remaining)

    def _with_instance_noise(self, x: Tensor) -> Tensor:
        std = self.instance_noise()
        return x + std * self.randn_like(x) if std > 0 else x

    def _augmented(self, x: Tensor) -> Tensor:
        if self.augmentation is None:  # off: no draws, so runs without it are unchanged
            return x
        return self.augmentation(x, lambda m: self.rand_like(x, m))

    def discriminator_input(self, x: Tensor) -> Tensor:
        """A real or fake batch as D sees it: DiffAugment first (on the images, fresh draws per
        call), then instance noise (on what D sees, so the noise stays i.i.d. per pixel and is
        not translated or cut out); with both off, x itself."""
        return self._with_instance_noise(self._augmented(x))

    def scores(self, x: Tensor) -> Tensor:
        """D's scores (B, or B / pack with PacGAN), grouped by run (GenerativeModel.per_run)."""
        return self.per_run(self.discriminator(x))

    def r1(self, x: Tensor) -> Tensor:
        """R1's penalty at x (regularizers.r1_penalty), one value per run."""
        return r1_penalty(self.discriminator, x, self.per_run)

    @torch.no_grad()
    def update_ema(self) -> None:
        """ema <- decay * ema + (1 - decay) * G; buffers (batch-norm statistics) copied."""
        assert self.generator_ema is not None and self.ema_decay is not None
        ema_params = list(self.generator_ema.parameters())
        params = [p.detach() for p in self.generator.parameters()]
        torch._foreach_lerp_(ema_params, params, 1.0 - self.ema_decay)
        for ema_buffer, buffer in zip(
            self.generator_ema.buffers(), self.generator.buffers(), strict=True
        ):
            ema_buffer.copy_(buffer)

    @torch.no_grad()
    def _score_summary(self, scores: Tensor) -> Tensor:
        # D(x) as a probability for the BCE losses, the raw score otherwise (logged only: no graph)
        return torch.sigmoid(scores).mean(-1) if self.loss.probabilistic else scores.mean(-1)

    def discriminator_loss(self, real: Tensor, fake: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """The discriminator's objective on one real and one fake batch, and what to log."""
        return self.discriminator_objective(
            self.discriminator_input(real), self.discriminator_input(fake)
        )

    def discriminator_objective(
        self, real: Tensor, fake: Tensor
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """The discriminator's objective on batches as D sees them (discriminator_input), and
        what to log; R1 is taken at these (augmented, noised) reals."""
        real_scores = self.scores(real)
        fake_scores = self.scores(fake)
        loss = self.loss.discriminator(real_scores, fake_scores, self.real_target)
        logs = {
            "train/D(x)": self._score_summary(real_scores),
            "train/D(G(z))": self._score_summary(fake_scores),
        }
        if self.r1_gamma > 0:
            penalty = self.r1(real)
            loss = loss + 0.5 * self.r1_gamma * penalty
            logs["train/r1"] = penalty
        logs["train/d_loss"] = loss
        return loss, logs

    def training_iteration(self, real: Tensor) -> None:
        opt_g, opt_d = self.optimizers()
        for real_batch in real:
            with torch.no_grad():
                fake = self.generator(self.noise_like(real_batch))
            with self.toggled_optimizer(opt_d):
                d_loss, logs = self.discriminator_loss(real_batch, fake)
                self.optimize(opt_d, d_loss)
            self.record(logs)

        with self.toggled_optimizer(opt_g):
            fake_scores = self.scores(
                self.discriminator_input(self.generator(self.noise_like(real[-1])))
            )
            if self.loss.relativistic:  # on the last discriminator step's real batch
                real_scores = self.scores(self.discriminator_input(real[-1]))
                g_loss = self.loss.generator(fake_scores, real_scores)
            else:
                g_loss = self.loss.generator(fake_scores)
            self.optimize(opt_g, g_loss)
        if self.generator_ema is not None:
            self.update_ema()
        self.record({"train/g_loss": g_loss})
