"""VAE (Kingma & Welling 2014) with a Gaussian or Bernoulli likelihood and a beta weight."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.optim import Optimizer

from genlab.models.base import GenerativeModel
from genlab.models.losses import gaussian_kl

LIKELIHOODS = ("gaussian", "bernoulli")


class VAE(GenerativeModel):
    """Encoder q(z|x) (mean, log-variance), decoder p(x|z); loss = recon NLL + beta * KL.

    Reported in nats per example (sum over data dims, mean over the batch). Gaussian: the
    decoder gives the mean and sigma is fixed or one learned scalar. Bernoulli (images in
    [-1, 1] only): the decoder gives logits of pixels mapped to [0, 1]. Samples are the
    decoder's mean, mapped back to data space.
    """

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        optimizer: Callable[..., Optimizer],
        latent_dim: int,
        seed: int,
        likelihood: str,
        sigma: float,
        learn_sigma: bool,
        beta: float,
        clip_norm: float | None,
    ) -> None:
        super().__init__(latent_dim=latent_dim, seed=seed, clip_norms=[clip_norm])
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"unknown likelihood {likelihood!r}: use one of {LIKELIHOODS}")
        self.encoder = encoder
        self.decoder = decoder
        self.optimizer_factory = optimizer
        self.likelihood = likelihood
        self.beta = beta
        log_sigma = torch.tensor(math.log(sigma))
        if learn_sigma:
            self.log_sigma = nn.Parameter(log_sigma)
        else:
            self.register_buffer("log_sigma", log_sigma)

    def configure_optimizers(self) -> Optimizer:
        return self.optimizer_factory(self.parameters())

    def reconstruction_nll(self, x: Tensor, decoded: Tensor) -> Tensor:
        """-log p(x|z) per example, summed over data dims."""
        if self.likelihood == "bernoulli":
            target = (x + 1) / 2
            nll = F.binary_cross_entropy_with_logits(decoded, target, reduction="none")
        else:
            log_sigma = self.per_sample(self.log_sigma, x)
            inv_var = torch.exp(-2 * log_sigma)
            nll = 0.5 * (x - decoded).pow(2) * inv_var + log_sigma + 0.5 * math.log(2 * math.pi)
        return nll.flatten(1).sum(dim=1)

    def losses(self, x: Tensor) -> dict[str, Tensor]:
        """Batch means of the reconstruction NLL, KL, ELBO and the beta-weighted loss (per run:
        GenerativeModel.per_run)."""
        mu, logvar = self.encoder(x)
        z = mu + self.randn_like(mu) * torch.exp(0.5 * logvar)
        recon = self.per_run(self.reconstruction_nll(x, self.decoder(z))).mean(-1)
        kl = self.per_run(gaussian_kl(mu, logvar)).mean(-1)
        return {"loss": recon + self.beta * kl, "recon": recon, "kl": kl, "elbo": -(recon + kl)}

    def training_iteration(self, real: Tensor) -> None:
        opt = self.optimizers()
        values = self.losses(real[0])
        self.optimize(opt, values["loss"])
        record = {f"train/{k}": v for k, v in values.items()}
        record["train/sigma"] = self.log_sigma.exp()
        self.record(record)

    def decode(self, z: Tensor) -> Tensor:
        out = self.decoder(z)
        return torch.sigmoid(out) * 2 - 1 if self.likelihood == "bernoulli" else out

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        """Decoded posterior means of x, in data space (eval mode)."""
        was_training = self.training
        self.eval()
        try:
            mu, _ = self.encoder(x.to(self.device))
            return self.decode(mu)
        finally:
            self.train(was_training)
