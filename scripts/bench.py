"""genlab vs a hand-written PyTorch loop, side by side: `make bench` (python scripts/bench.py).

For each case the same nets (instantiated from genlab's own config), optimisers, batch size and
device-resident data run (a) as a minimal hand-written PyTorch loop and (b) as `genlab-train`
with its default callbacks, loggers and logging cadence (metrics off: they are timed on their
own below), interleaved A B A B in fresh processes. Both sides are timed over the training loop
only, from the first iteration to the end, warm-up included. The study case times whole
processes instead: a 2-arm x 2-seed ring8 sweep (`genlab-train -m`, one process) against the
same four trainings done one after another by the hand-written loop in one script. Also
measured: `genlab-train --help`, start-up to the first iteration against `import lightning`,
samples/s of each metric, and the share of a default run's wall time spent on metrics. The
members case trains K seeds of a case as one batched model (hydra/launcher=members) and reports
member-iterations/s at each K against one plain run of the case (K plain runs one after another
make that rate), each in a fresh process. The image-net cases (dcgan_64, resnet_32: the reference
DCGAN and SNGAN's ResNet, data=image_folder on random PNGs written into the scratch folder) run in
32-true and bf16-mixed, and report each side's bf16 speed-up. Writes bench.json.

    python scripts/bench.py [--cases gan_mlp ...] [--repeats 3] [--no-metrics] [--no-study]
                            [--members 1 5 20 | --members]   # --members alone: skip that case
                            [--no-cases]   # only the members case (with --no-study --no-metrics)
                            [--iterations-scale 0.1]   # a smoke test: every case's count x 0.1
    python scripts/bench.py --cases dcgan_64 resnet_32 --no-study --no-metrics   # the image nets
    python scripts/bench.py --device cuda   # on a GPU: every case in bf16-mixed and 16-mixed
                                            # (the image nets in 32-true and bf16-mixed),
                                            # members at K = 1, 5, 20, 64 in bf16-mixed
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
QUIET = ["trainer.enable_model_summary=false"]
# The image-net cases' CPU counts: enough that genlab's end-of-run picture and checkpoint weigh
# little (at 10 DCGAN-64 iterations, or 2 ResNet-32 ones, they cost genlab ~10-20% in bf16-mixed;
# at 30 / 4-6, none measurable); a ResNet-32 timing is then about a minute on the 2-core CPU.
DCGAN_64_ITERATIONS = 30
RESNET_32_ITERATIONS = 4
IMAGE_FOLDER = (2000, 64)  # random RGB PNGs in the scratch folder: count, side


@dataclass(frozen=True)
class Case:
    name: str
    overrides: list[str]
    iterations: int
    target: float  # the ratio genlab / plain loop the project promises on a 2-core CPU
    needs_mnist: bool = False
    notes: str = ""
    cuda_iterations: int = 0  # on a GPU: a few seconds on the lent H200 (launch-bound there)
    needs_images: bool = False  # data=image_folder on the bench's folder of random PNGs
    precisions: tuple[str, ...] = ("32-true",)  # on the CPU; with 32-true: speed-ups against it
    cuda_precisions: tuple[str, ...] = ("bf16-mixed", "16-mixed")

    def iterations_on(self, device: str) -> int:
        return self.cuda_iterations if device == "cuda" else self.iterations

    def precisions_on(self, device: str) -> tuple[str, ...]:
        return self.cuda_precisions if device == "cuda" else self.precisions

    def scaled(self, factor: float) -> Case:
        """The case with both iteration counts times `factor` (at least 1 each)."""
        return replace(
            self,
            iterations=max(1, round(self.iterations * factor)),
            cuda_iterations=max(1, round(self.cuda_iterations * factor)),
        )


CASES = [
    Case(
        "gan_mlp",
        ["data=ring8", "model=gan"],
        1000,
        0.95,
        notes="ring8, MLP 2x128, batch 256",
        cuda_iterations=800,
    ),
    Case(
        "wgan_gp_mlp",
        ["data=ring8", "model=wgan_gp"],
        200,
        0.95,
        notes="ring8, MLP critic, n_critic 5",
        cuda_iterations=150,
    ),
    Case(
        "gan_dcgan",
        # genlab's earlier 2-stage DCGAN (the layout of the figures in docs/performance.md)
        ["data=mnist", "model=gan", "net.stages=2", "net.ends=linear", "net.conv_bias=true"]
        + ["net.init=torch"],
        60,
        0.98,
        True,
        "28x28x1 DCGAN 64 ch, batch 64; the earlier 2-stage layout, linear ends",
        cuda_iterations=400,
    ),
    Case(
        "vae_mlp",
        ["data=mnist", "net=mlp", "model=vae"],
        1200,
        0.98,
        True,
        "784-d MLP VAE, batch 64",
        cuda_iterations=1000,
    ),
    Case(
        "dcgan_64",  # the reference DCGAN: G 3,576,704 / D 2,765,568 parameters
        ["data=image_folder", "net=dcgan", "data.side=64", "data.channels=3", "model=gan"]
        + ["model.latent_dim=100"],
        DCGAN_64_ITERATIONS,
        0.95,
        notes="64x64x3 reference DCGAN 64 ch, z 100, ns loss, batch 64",
        cuda_iterations=300,
        needs_images=True,
        precisions=("32-true", "bf16-mixed"),
        cuda_precisions=("32-true", "bf16-mixed"),
    ),
    Case(
        "resnet_32",  # experiment=sngan_resnet at side 32: G 4,276,739 / D 1,053,825 parameters
        ["experiment=sngan_resnet", "data=image_folder", "data.side=32", "data.channels=3"],
        RESNET_32_ITERATIONS,
        0.95,
        notes="32x32x3 SNGAN ResNet, hinge, spectral norm, 5 D steps, batch 64",
        cuda_iterations=50,
        needs_images=True,
        precisions=("32-true", "bf16-mixed"),
        cuda_precisions=("32-true", "bf16-mixed"),
    ),
]
CASES_BY_NAME = {case.name: case for case in CASES}


# --- fake MNIST-shaped data (no download) -----------------------------------------------------
def write_fake_mnist(root: Path, n: int = 6000) -> None:
    """MNIST-format idx files of random digits under root/MNIST/raw."""
    import numpy as np

    raw = root / "MNIST" / "raw"
    if (raw / "train-labels-idx1-ubyte").is_file():
        return
    raw.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    (raw / "train-images-idx3-ubyte").write_bytes(
        struct.pack(">IIII", 0x0803, n, 28, 28) + images.tobytes()
    )
    (raw / "train-labels-idx1-ubyte").write_bytes(struct.pack(">II", 0x0801, n) + labels.tobytes())


def write_image_folder(
    root: Path, count: int = IMAGE_FOLDER[0], side: int = IMAGE_FOLDER[1]
) -> None:
    """`count` random RGB PNG images of side x side under root (seeded; written once)."""
    import numpy as np
    from PIL import Image

    done = root / ".complete"
    if done.is_file():
        return
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for index in range(count):
        pixels = rng.integers(0, 256, size=(side, side, 3), dtype=np.uint8)
        Image.fromarray(pixels, "RGB").save(root / f"{index:05d}.png")
    done.touch()  # hidden: not an image of the folder


def data_overrides(case: Case, scratch: Path) -> list[str]:
    if case.needs_images:  # decoded once per side into the scratch folder's cache
        write_image_folder(scratch / "images")
        return [f"data.path={scratch / 'images'}", f"paths.cache_dir={scratch / 'cache'}"]
    if not case.needs_mnist:
        return []
    write_fake_mnist(scratch / "data")
    return ["data.download=false", f"paths.data_dir={scratch / 'data'}"]


# --- (a) the hand-written loop ---------------------------------------------------------------
def compose(overrides: list[str], hydra_config: bool = False):  # noqa: ANN201 - a DictConfig
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from genlab.run import resolvers

    resolvers.register()
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(REPO / "src" / "genlab" / "conf"), version_base="1.3"):
        return hydra_compose("train", overrides=overrides, return_hydra_config=hydra_config)


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


# --- (b) genlab-train ---------------------------------------------------------------------------
def genlab_train(args: list[str], cwd: Path) -> tuple[dict, float]:
    """Run genlab-train in a fresh process; (its summary.json, wall seconds)."""
    started = time.time()
    result = subprocess.run(
        [sys.executable, "-m", "genlab.train", f"paths.root_dir={cwd}", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    wall = time.time() - started
    if result.returncode != 0:
        raise RuntimeError(f"genlab-train {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    run_dir = next(
        line.split(":", 1)[1].strip()
        for line in result.stdout.splitlines()
        if line.startswith("run folder:")
    )
    summary = json.loads((Path(run_dir) / "summary.json").read_text())
    summary["_launched_unix"] = started
    return summary, wall


def device_overrides(precision: str, device: str) -> list[str]:
    return (["trainer=gpu"] if device == "cuda" else []) + [f"trainer.precision={precision}"]


def genlab_rate(
    case: Case, scratch: Path, precision: str = "32-true", device: str = "cpu"
) -> tuple[float, float]:
    """(iterations/s of genlab's training loop, seconds from launch to the first iteration)."""
    iterations = case.iterations_on(device)
    summary, _ = genlab_train(
        [*case.overrides, *data_overrides(case, scratch), *QUIET, "metrics=none"]
        + [f"iterations={iterations}", *device_overrides(precision, device)],
        scratch,
    )
    first = datetime.fromisoformat(summary["train_started_at"]).timestamp()
    # the same clock as the summary's iterations_per_second, which is rounded to 0.01 it/s: too
    # coarse for the image nets' few iterations/s on a CPU
    seconds = summary.get("train_seconds")
    rate = iterations / seconds if seconds else summary["iterations_per_second"]
    return rate, first - summary["_launched_unix"]


def in_fresh_process(
    case: Case, scratch: Path, precision: str = "32-true", device: str = "cpu"
) -> float:
    command = [sys.executable, __file__, "--plain", case.name, "--scratch", str(scratch)]
    command += ["--precision", precision, "--device", device]
    command += ["--iterations", str(case.iterations_on(device))]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return float(out.strip().splitlines()[-1])


# --- a study: arms x seeds, as a Hydra sweep and as the hand-written loop in sequence ----------
@dataclass(frozen=True)
class StudyCase:
    name: str
    arms: tuple[str, ...]  # fix=<arm>
    seeds: tuple[int, ...]
    iterations: int
    base: tuple[str, ...] = ("data=ring8", "model=gan")
    notes: str = ""

    def jobs(self) -> list[Case]:
        return [
            Case(f"{self.name}/{arm}/{seed}", [*self.base, f"fix={arm}", f"seed={seed}"], 0, 0.0)
            for arm in self.arms
            for seed in self.seeds
        ]

    def sweep_overrides(self) -> list[str]:
        return [*self.base, f"fix={','.join(self.arms)}", f"seed={','.join(map(str, self.seeds))}"]


STUDY = StudyCase(
    "study_ring8",
    ("vanilla", "lsgan"),
    (0, 1),
    1000,
    notes="ring8 GAN, fix=vanilla,lsgan x seed=0,1, 1,000 iterations each, metrics off",
)


def plain_study(study: StudyCase, scratch: Path) -> None:
    """The study's jobs one after another in this process, as a hand-written script would."""
    for job in study.jobs():
        plain_loop(replace(job, iterations=study.iterations), scratch)


def study_walls(study: StudyCase, scratch: Path, index: int) -> tuple[float, float]:
    """(wall seconds of the hand-written study in a fresh process, of `genlab-train -m`)."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, __file__, "--plain-study", "--scratch", str(scratch)],
        capture_output=True,
        check=True,
    )
    plain = time.perf_counter() - started
    sweep_dir = scratch / "study" / str(index)
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "genlab.train", "-m", *study.sweep_overrides()]
        + [f"iterations={study.iterations}", "metrics=none", *QUIET]
        + [f"paths.root_dir={scratch}", f"hydra.sweep.dir={sweep_dir}"],
        cwd=scratch,
        capture_output=True,
        text=True,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    genlab = time.perf_counter() - started
    summaries = list(sweep_dir.glob("*/summary.json"))
    completed = [json.loads(f.read_text())["status"] == "completed" for f in summaries]
    if result.returncode != 0 or len(completed) != len(study.jobs()) or not all(completed):
        raise RuntimeError(f"the study sweep failed:\n{result.stderr[-3000:]}")
    return plain, genlab


def wall_time(command: list[str], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True, cwd=REPO)
        times.append(time.perf_counter() - started)
    return times


# --- metrics --------------------------------------------------------------------------------
def random_inception_state() -> dict:
    """torch-fidelity's Inception-v3 with random weights, built without any download."""
    from unittest import mock

    import torch
    from torch_fidelity import feature_extractor_inceptionv3 as tf_inception

    with (
        mock.patch.object(tf_inception, "load_state_dict_from_url", lambda *a, **k: {}),
        mock.patch.object(torch.nn.Module, "load_state_dict", lambda self, *a, **k: None),
    ):
        torch.manual_seed(0)
        net = tf_inception.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    return net.state_dict()


def metric_rates(scratch: Path) -> dict[str, dict[str, float]]:
    """Samples/s of scoring generated samples with each metric suite (extract + score), each
    suite and data module built from genlab's own configs."""
    import torch
    from hydra.utils import instantiate

    def built(overrides: list[str]):  # noqa: ANN202 - the suite, set up on its data module
        cfg = compose([*overrides, f"paths.root_dir={scratch}"])
        suite, datamodule = instantiate(cfg.metrics.suite), instantiate(cfg.data)
        suite.setup(datamodule, scratch / "cache")
        return suite

    def rate(suite, samples) -> float:  # noqa: ANN001
        started = time.perf_counter()
        suite.score(suite.extract(samples))
        return len(samples) / (time.perf_counter() - started)

    coverage = built(["data=ring8", "metrics=coverage"])
    domain = built(["data=digits", "metrics=domain"])
    # Inception with random weights in torch-fidelity's architecture: the timing is the
    # protocol's (resize to 299, 2048-d features), the values are meaningless.
    weights = scratch / "inception-random.pth"
    if not weights.exists():
        torch.save(random_inception_state(), weights)
    fid = built(
        ["data=digits", "metrics=inception", f"metrics.inception_weights={weights}"]
        + ["metrics.suite.num_real_samples=32", "metrics.suite.kid_subsets=2"]
        + ["metrics.suite.kid_subset_size=16"]
    )
    return {
        "coverage (ring8, 2,500 points)": {"samples_per_s": rate(coverage, torch.randn(2500, 2))},
        "domain FID/IS (digits classifier)": {
            "samples_per_s": rate(domain, torch.rand(5000, 1, 8, 8) * 2 - 1)
        },
        "Inception FID/IS/KID (torch-fidelity protocol)": {
            "samples_per_s": rate(fid, torch.rand(32, 1, 8, 8) * 2 - 1),
        },
    }


# --- members: K seeds as one batched model against one plain run ------------------------------
MEMBER_CASES = ("gan_mlp", "wgan_gp_mlp", "gan_dcgan")
# ... and on a GPU the image nets too (K = 4 of them would take minutes an iteration on the CPU):
#   scripts/bench.py --device cuda --cases dcgan_64 resnet_32 --members 1 4 --no-study --no-metrics
GPU_MEMBER_CASES = ("dcgan_64", "resnet_32")


def member_iterations(case: Case, members: int, device: str) -> int:
    """Iterations of a K-member timing: the plain case's count, shortened for large K."""
    base = case.iterations_on(device)
    return base if members == 1 else max(20, base * 5 // members)


def members_rate(case: Case, members: int, scratch: Path, device: str) -> float:
    """Member-iterations/s of the case's training loop with `members` seeds as one batched
    model (1: a plain run), in this process."""
    import lightning as L
    import torch

    from genlab.run.build import build
    from genlab.run.members import build_batched, build_member

    class Clock(L.Callback):
        def on_train_start(self, trainer: L.Trainer, pl_module: object) -> None:
            self.started = time.perf_counter()

        def on_train_end(self, trainer: L.Trainer, pl_module: object) -> None:
            if device == "cuda":
                torch.cuda.synchronize()
            self.seconds = time.perf_counter() - self.started

    def member_config(seed: int):  # noqa: ANN202 - a DictConfig with its Hydra job set
        from hydra.core.hydra_config import HydraConfig
        from omegaconf import open_dict

        cfg = compose([*overrides, f"seed={seed}"], hydra_config=True)
        with open_dict(cfg):
            cfg.hydra.runtime.output_dir = str(scratch / "members" / str(seed))
            cfg.hydra.job.num = seed
        HydraConfig.instance().set_config(cfg)
        return cfg

    iterations = member_iterations(case, members, device)
    precision = "bf16-mixed" if device == "cuda" else "32-true"
    overrides = [*case.overrides, *data_overrides(case, scratch), *QUIET, "metrics=none"]
    overrides += ["logger=csv", "callbacks=none", f"iterations={iterations}"]
    overrides += [f"paths.root_dir={scratch}", *device_overrides(precision, device)]
    clock = Clock()
    if members == 1:
        datamodule, model, trainer = build(member_config(0), 0, [clock])
    else:
        parts = [build_member(member_config(k), k) for k in range(members)]
        datamodule, model, trainer, _ = build_batched(member_config(0), parts)
        trainer.callbacks.append(clock)
    trainer.fit(model, datamodule=datamodule)
    return members * iterations / clock.seconds


def members_row(case: Case, sizes: list[int], scratch: Path, device: str) -> dict:
    rates = {}
    for members in sizes:
        command = [sys.executable, __file__, "--members-rate", case.name, str(members)]
        command += ["--scratch", str(scratch), "--device", device]
        command += ["--iterations", str(case.iterations_on(device))]
        out = subprocess.run(command, capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"members K={members} of {case.name} failed:\n{out.stderr[-3000:]}")
        rates[members] = float(out.stdout.strip().splitlines()[-1])
    plain = rates.get(1)
    return {
        "case": case.name if device == "cpu" else f"{case.name} {device} bf16-mixed",
        "notes": case.notes,
        "member_it_s": rates,
        "speedup": {k: v / plain for k, v in rates.items()} if plain else {},
    }


def rate_text(value: float) -> str:
    """An iterations/s figure: one decimal from 10 up, three significant digits below."""
    return f"{value:.1f}" if value >= 10 else f"{value:.3g}"


def summarise(values: list[float]) -> dict[str, float]:
    return {
        "min": min(values),
        "median": statistics.median(values),
        "max": max(values),
    }


@dataclass
class Report:
    rows: list[dict] = field(default_factory=list)
    extras: dict = field(default_factory=dict)


def case_row(case: Case, repeats: int, scratch: Path, precision: str, device: str) -> dict:
    plain, genlab, startups, ratios = [], [], [], []
    for _ in range(repeats):  # interleaved A B A B
        plain.append(in_fresh_process(case, scratch, precision, device))
        rate, startup = genlab_rate(case, scratch, precision, device)
        genlab.append(rate)
        startups.append(startup)
        ratios.append(genlab[-1] / plain[-1])
    on_cpu = device == "cpu"
    label = case.name if on_cpu else f"{case.name} {device}"
    return {
        "case": label if on_cpu and precision == "32-true" else f"{label} {precision}",
        "name": case.name,
        "device": device,
        "precision": precision,
        "notes": case.notes,
        "iterations": case.iterations_on(device),
        "plain_it_s": summarise(plain),
        "genlab_it_s": summarise(genlab),
        "ratio": summarise(ratios),
        "target": case.target if on_cpu else None,  # the promise is the 2-core CPU's
        "startup_s": summarise(startups),
    }


def add_speedups(rows: dict[str, dict]) -> None:
    """Into each reduced-precision row of one case: its it/s over the 32-true row's (medians),
    for the plain loop and for genlab, where the case has a 32-true row."""
    full = rows.get("32-true")
    if full is None:
        return
    for precision, row in rows.items():
        if precision == "32-true":
            continue
        row["speedup_vs_32_true"] = {
            side: row[f"{side}_it_s"]["median"] / full[f"{side}_it_s"]["median"]
            for side in ("plain", "genlab")
        }
        speedup = row["speedup_vs_32_true"]
        print(
            f"{row['case']:22s} speed-up over 32-true: plain {speedup['plain']:.2f}x,"
            f" genlab {speedup['genlab']:.2f}x",
            flush=True,
        )


def study_row(study: StudyCase, repeats: int, scratch: Path) -> dict:
    plain, genlab, ratios = [], [], []
    for index in range(repeats):
        plain_s, genlab_s = study_walls(study, scratch, index)
        plain.append(plain_s)
        genlab.append(genlab_s)
        ratios.append(plain_s / genlab_s)
    return {
        "case": study.name,
        "notes": study.notes,
        "plain_wall_s": summarise(plain),
        "genlab_wall_s": summarise(genlab),
        "ratio": summarise(ratios),
    }


def run(
    cases: list[Case],
    repeats: int,
    scratch: Path,
    metrics: bool,
    study: bool,
    device: str,
    member_sizes: list[int],
) -> Report:
    report = Report()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    for case in cases if repeats > 0 else []:
        rows = {}
        for precision in case.precisions_on(device):
            row = case_row(case, repeats, scratch, precision, device)
            rows[precision] = row
            report.rows.append(row)
            print(
                f"{row['case']:22s} plain {rate_text(row['plain_it_s']['median']):>8s} it/s"
                f"   genlab {rate_text(row['genlab_it_s']['median']):>8s} it/s"
                f"   ratio {row['ratio']['median']:.3f}"
                f" (min {row['ratio']['min']:.3f}, max {row['ratio']['max']:.3f})",
                flush=True,
            )
        add_speedups(rows)
    if member_sizes:
        report.extras["members"] = []
        member_cases = MEMBER_CASES + (GPU_MEMBER_CASES if device == "cuda" else ())
        for case in cases:
            if case.name not in member_cases:
                continue
            row = members_row(case, member_sizes, scratch, device)
            report.extras["members"].append(row)
            rates = "  ".join(
                f"K={k} {v:.1f} ({row['speedup'].get(k, float('nan')):.2f}x)"
                for k, v in row["member_it_s"].items()
            )
            print(f"members {row['case']}: member-iterations/s {rates}", flush=True)
    if study:
        row = study_row(STUDY, max(repeats, 1), scratch)
        report.extras["study"] = row
        print(
            f"{STUDY.name}: hand-written {row['plain_wall_s']['median']:.1f} s, genlab-train -m"
            f" {row['genlab_wall_s']['median']:.1f} s wall, ratio {row['ratio']['median']:.3f}",
            flush=True,
        )
    bin_dir = Path(sys.executable).parent
    help_cmd = [str(bin_dir / "genlab-train"), "--help"]
    if not Path(help_cmd[0]).exists():
        help_cmd = [sys.executable, "-m", "genlab.train", "--help"]
    report.extras["help_s"] = summarise(wall_time(help_cmd, 3))
    report.extras["import_lightning_s"] = summarise(
        wall_time([sys.executable, "-c", "import lightning"], 3)
    )
    startup = [s for row in report.rows for s in [row["startup_s"]["median"]]]
    report.extras["startup_to_first_iteration_s"] = min(startup) if startup else None
    if metrics:
        report.extras["metrics"] = metric_rates(scratch)
        summary, wall = genlab_train([*QUIET], scratch)  # the default run, metrics on
        report.extras["default_run"] = {
            "wall_s": wall,
            "metrics_s": summary.get("metrics/seconds"),
            "metrics_share": summary.get("metrics/seconds", 0.0) / wall,
        }
    return report


def print_table(report: Report) -> None:
    if report.rows:
        print("\n| case | plain loop it/s | genlab it/s | ratio median (min-max) | target |")
        print("|---|---:|---:|---:|---:|")
    for row in report.rows:
        ratio = row["ratio"]
        target = f">= {row['target']}" if row["target"] is not None else "-"
        print(
            f"| {row['case']} ({row['notes']}) | {rate_text(row['plain_it_s']['median'])} |"
            f" {rate_text(row['genlab_it_s']['median'])} | {ratio['median']:.3f}"
            f" ({ratio['min']:.3f}-{ratio['max']:.3f}) | {target} |"
        )
    speedups = [row for row in report.rows if "speedup_vs_32_true" in row]
    if speedups:
        print("\n| case | precision | plain loop speed-up | genlab speed-up |\n|---|---|---:|---:|")
    for row in speedups:
        speedup = row["speedup_vs_32_true"]
        where = "" if row["device"] == "cpu" else f" ({row['device']})"
        print(
            f"| {row['name']}{where} | {row['precision']} over 32-true |"
            f" {speedup['plain']:.2f}x | {speedup['genlab']:.2f}x |"
        )
    extras = report.extras
    study = extras.get("study")
    if study:
        ratio = study["ratio"]
        print(
            f"\n| study | hand-written loop, wall s | genlab-train -m, wall s | ratio median"
            f" (min-max) |\n|---|---:|---:|---:|\n| {study['case']} ({study['notes']}) |"
            f" {study['plain_wall_s']['median']:.1f} | {study['genlab_wall_s']['median']:.1f} |"
            f" {ratio['median']:.3f} ({ratio['min']:.3f}-{ratio['max']:.3f}) |"
        )
    members = extras.get("members")
    if members:
        sizes = list(members[0]["member_it_s"])
        print(
            "\n| members: K seeds as one model, member-iterations/s (x one plain run) | "
            + " | ".join(f"K = {k}" for k in sizes)
            + " |\n|---|"
            + "---:|" * len(sizes)
        )
        for row in members:
            cells = " | ".join(
                f"{row['member_it_s'][k]:.1f} ({row['speedup'].get(k, float('nan')):.2f}x)"
                for k in sizes
            )
            print(f"| {row['case']} ({row['notes']}) | {cells} |")
    print(f"\ngenlab-train --help: {extras['help_s']['median']:.2f} s (target <= 1 s)")
    lightning = extras["import_lightning_s"]["median"]
    startup = extras["startup_to_first_iteration_s"]
    if startup is not None:
        print(
            f"start-up to first iteration: {startup:.2f} s; python -c 'import lightning':"
            f" {lightning:.2f} s (target <= import + 1 s = {lightning + 1:.2f} s)"
        )
    for name, values in extras.get("metrics", {}).items():
        print(f"metric {name}: {values['samples_per_s']:.1f} samples/s")
    default = extras.get("default_run")
    if default:
        print(
            f"default run (make train): {default['wall_s']:.1f} s wall, metrics"
            f" {default['metrics_s']:.2f} s = {100 * default['metrics_share']:.1f}% (target <= 10%)"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", choices=list(CASES_BY_NAME), default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-metrics", action="store_true", help="skip the metric timings")
    parser.add_argument("--no-study", action="store_true", help="skip the study-level case")
    parser.add_argument(
        "--no-cases", action="store_true", help="skip the genlab-vs-plain-loop rows (members only)"
    )
    parser.add_argument(
        "--device",
        choices=["cpu", "cuda"],
        default="cpu",
        help="cuda: every case on the GPU in bf16-mixed and 16-mixed (dcgan_64 and resnet_32:"
        " 32-true and bf16-mixed), data on the device",
    )
    parser.add_argument(
        "--members",
        type=int,
        nargs="*",
        default=None,
        help="K values of the members case (default 1 5 20; 1 5 20 64 with --device cuda);"
        " --members with no value skips it",
    )
    parser.add_argument(
        "--iterations-scale",
        type=float,
        default=1.0,
        help="multiply every case's iteration count (rows and members) by this, e.g. 0.1 for a"
        " smoke test; the figures are then not comparable with the documented ones",
    )
    parser.add_argument("--members-rate", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--iterations", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=REPO / "bench.json")
    parser.add_argument("--plain", choices=list(CASES_BY_NAME), help=argparse.SUPPRESS)
    parser.add_argument("--scratch", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--precision", default="32-true", help=argparse.SUPPRESS)
    parser.add_argument("--plain-study", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.iterations is not None:  # a child process: the count its parent ran the case at
        for name, case in CASES_BY_NAME.items():
            CASES_BY_NAME[name] = replace(
                case, iterations=args.iterations, cuda_iterations=args.iterations
            )
    if args.plain:
        print(plain_loop(CASES_BY_NAME[args.plain], args.scratch, args.precision, args.device))
        return
    if args.plain_study:
        plain_study(STUDY, args.scratch)
        return
    if args.members_rate:
        name, members = args.members_rate
        print(members_rate(CASES_BY_NAME[name], int(members), args.scratch, args.device))
        return
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            parser.error("--device cuda: torch sees no CUDA device on this machine")
    cases = [CASES_BY_NAME[n] for n in args.cases] if args.cases else CASES
    if args.iterations_scale != 1.0:
        cases = [case.scaled(args.iterations_scale) for case in cases]
    with tempfile.TemporaryDirectory(prefix="genlab-bench-") as tmp:
        report = run(
            cases,
            0 if args.no_cases else args.repeats,
            Path(tmp),
            metrics=not args.no_metrics and args.device == "cpu",
            study=not args.no_study and args.device == "cpu",
            device=args.device,
            member_sizes=(
                args.members
                if args.members is not None
                else ([1, 5, 20, 64] if args.device == "cuda" else [1, 5, 20])
            ),
        )
    print_table(report)
    payload = {
        "machine": {
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "iterations_scale": args.iterations_scale,
        "cases": report.rows,
        **report.extras,
    }
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
