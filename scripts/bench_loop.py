"""The reference genlab is compared against: a minimal hand-written PyTorch training loop with
genlab's nets (instantiated from its config), optimiser settings, batch size and data held as one
tensor on the device. `python scripts/bench_loop.py gan_mlp` prints its iterations/s for a case
of bench_cases.py; the bench runs it so, in a fresh process, beside genlab-train.

    python scripts/bench_loop.py CASE [--precision bf16-mixed] [--device cuda] [--iterations N]
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

from bench_cases import CASES_BY_NAME, Case, data_overrides, one_case_parser
from bench_common import compose, scratch_folder


def real_batches(data, batch_size: int) -> Callable[[], object]:  # noqa: ANN001
    """Shuffled drop-last batches from a tensor, a new permutation each epoch."""
    import torch

    state = {"order": None, "next": 0}
    per_epoch = data.shape[0] // batch_size

    def next_batch():  # noqa: ANN202
        if state["order"] is None or state["next"] == per_epoch:
            state["order"] = torch.randperm(data.shape[0], device=data.device)
            state["next"] = 0
        start = state["next"] * batch_size
        state["next"] += 1
        return data[state["order"][start : start + batch_size]]

    return next_batch


def plain_data(cfg):  # noqa: ANN001, ANN201 - DictConfig in, tensor out
    """The case's training data as one float tensor in model space (no Lightning import)."""
    import torch

    from genlab.data.mixtures import GaussianMixture2D

    generator = torch.Generator().manual_seed(0)
    data = cfg.data
    if data.name in ("ring8", "grid25"):
        if data.layout == "ring":
            mixture = GaussianMixture2D.ring(data.num_modes, data.radius, data.std)
        else:
            mixture = GaussianMixture2D.grid(data.num_modes, data.spacing, data.std)
        return mixture.sample(data.num_samples, generator)[0]
    if data.name == "image_folder":  # the folder's images from genlab's cache, in [-1, 1]
        from genlab.data.image_folder import FolderSettings, prepare_folder

        settings = FolderSettings(
            data.channels, data.side, data.crop, data.labels, data.skip_unreadable, data.limit
        )
        folder = prepare_folder(data.path, settings, data.cache_dir, data.max_bytes)
        return torch.from_numpy(folder.images).float() * (2.0 / 255.0) - 1.0
    return torch.rand(6000, *data.shape, generator=generator) * 2 - 1  # images in [-1, 1]


def plain_loop(case: Case, scratch: Path, precision: str = "32-true", device: str = "cpu") -> float:
    """Iterations/s of a minimal PyTorch loop with genlab's nets and optimiser settings: data
    and nets on `device`; under bf16-mixed / 16-mixed the forward passes in autocast, and for
    16-mixed one GradScaler for every optimizer (as Lightning does). Spectral norm on D's
    layers where genlab puts it (model.spectral_norm)."""
    import torch
    import torch.nn.functional as F
    from hydra.utils import instantiate
    from torch import nn

    cfg = compose([*case.overrides, *data_overrides(case, scratch)])
    torch.manual_seed(int(cfg.seed))
    data = plain_data(cfg).to(device)
    next_batch = real_batches(data, int(cfg.data.batch_size))
    batch, zdim = int(cfg.data.batch_size), int(cfg.model.latent_dim)
    autocast_dtype = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(precision)
    scaler = torch.amp.GradScaler(device) if precision == "16-mixed" else None

    def autocast():  # noqa: ANN202
        return torch.autocast(device, dtype=autocast_dtype, enabled=autocast_dtype is not None)

    def step(opt, loss) -> None:  # noqa: ANN001
        opt.zero_grad(set_to_none=True)
        if scaler is None:
            loss.backward()
            opt.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()

    def adam(params, spec):  # noqa: ANN001, ANN202
        return torch.optim.Adam(params, lr=spec.lr, betas=tuple(spec.get("betas", (0.9, 0.999))))

    if cfg.model._target_.endswith("VAE"):
        enc, dec = instantiate(cfg.net.encoder).to(device), instantiate(cfg.net.decoder).to(device)
        opt = adam([*enc.parameters(), *dec.parameters()], cfg.model.optimizer)
        log_sigma = math.log(cfg.model.sigma)

        def iteration() -> None:
            x = next_batch()
            with autocast():
                mu, logvar = enc(x)
                z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
                nll = 0.5 * (x - dec(z)).pow(2) / math.exp(2 * log_sigma) + log_sigma
                nll = (nll + 0.5 * math.log(2 * math.pi)).flatten(1).sum(1).mean()
                kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1).mean()
            step(opt, nll + cfg.model.beta * kl)

    else:
        wgan = cfg.model._target_.endswith("WGANGP")
        g = instantiate(cfg.net.generator).to(device)
        d = instantiate(cfg.net.critic if wgan else cfg.net.discriminator).to(device)
        if not wgan and cfg.model.spectral_norm:  # as genlab's GAN.configure_model
            from torch.nn.utils.parametrizations import spectral_norm

            for layer in list(d.modules()):
                if isinstance(layer, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
                    spectral_norm(layer, dim=1 if isinstance(layer, nn.ConvTranspose2d) else 0)
        opt_g = adam(g.parameters(), cfg.model.optimizer_g)
        opt_d = adam(d.parameters(), cfg.model.optimizer_d)
        d_steps = int(cfg.model.n_critic if wgan else cfg.model.d_steps)
        loss_name = None if wgan else str(cfg.model.loss)
        if loss_name not in (None, "ns", "lsgan", "hinge"):
            raise ValueError(f"the plain loop has the ns, lsgan and hinge losses, not {loss_name}")

        def d_loss(real, fake):  # noqa: ANN001, ANN202
            if loss_name == "ns":
                return F.softplus(-d(real)).mean() + F.softplus(d(fake)).mean()
            if loss_name == "lsgan":
                return 0.5 * ((d(real) - 1).pow(2).mean() + d(fake).pow(2).mean())
            if loss_name == "hinge":
                return F.relu(1 - d(real)).mean() + F.relu(1 + d(fake)).mean()
            alpha = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=device)
            mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
            (grad,) = torch.autograd.grad(d(mixed).sum(), mixed, create_graph=True)
            gp = (grad.flatten(1).norm(2, dim=1) - 1).pow(2).mean()
            return d(fake).mean() - d(real).mean() + cfg.model.gp_lambda * gp

        def g_loss(score):  # noqa: ANN001, ANN202
            if wgan or loss_name == "hinge":
                return -score.mean()
            if loss_name == "lsgan":
                return 0.5 * (score - 1).pow(2).mean()
            return F.softplus(-score).mean()

        def iteration() -> None:
            for _ in range(d_steps):
                real = next_batch()
                with autocast():
                    with torch.no_grad():
                        fake = g(torch.randn(batch, zdim, device=device))
                    loss = d_loss(real, fake)
                step(opt_d, loss)
            d.requires_grad_(False)  # as genlab's toggled optimiser: no D gradients in G's step
            with autocast():
                loss = g_loss(d(g(torch.randn(batch, zdim, device=device))))
            step(opt_g, loss)
            d.requires_grad_(True)

    iterations = case.iterations_on(device)
    started = time.perf_counter()
    for _ in range(iterations):
        iteration()
    if device == "cuda":
        torch.cuda.synchronize()
    return iterations / (time.perf_counter() - started)


def main() -> None:
    parser = one_case_parser(__doc__.splitlines()[0])
    parser.add_argument("--precision", default="32-true")
    args = parser.parse_args()
    case = CASES_BY_NAME[args.case].at(args.iterations)
    with scratch_folder(args.scratch) as scratch:
        print(plain_loop(case, scratch, args.precision, args.device))


if __name__ == "__main__":
    main()
