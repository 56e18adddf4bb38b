"""The seed article's two scripts as experiments on MNIST-5k: the Keras MLP GAN as written (no
activation between its Dense layers), its repaired variant, and the PyTorch MLP VAE; their
widths counted from the built nets, their settings, and a few training iterations each."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch
from hydra.utils import instantiate
from torch import nn

from conftest import compose_config
from genlab.run.folder import read_summary
from genlab.train import train

ARTICLE_EPOCHS, MNIST5K_ITEMS, ARTICLE_BATCH = 100, 5000, 32
# Dense 100 -> 256 -> 128 -> 784 and 784 -> 128 -> 1, weights and biases
GAN_G_PARAMS = 100 * 256 + 256 + 256 * 128 + 128 + 128 * 784 + 784
GAN_D_PARAMS = 784 * 128 + 128 + 128 * 1 + 1
# fc1 784 -> 400, fc21 and fc22 400 -> 20; fc3 20 -> 400, fc4 400 -> 784
VAE_ENCODER_PARAMS = 784 * 400 + 400 + 2 * (400 * 20 + 20)
VAE_DECODER_PARAMS = 20 * 400 + 400 + 400 * 784 + 784


def built_model(tmp_path: Path, experiment: str) -> tuple[Any, Any]:
    cfg = compose_config(tmp_path, [f"experiment={experiment}"])
    return cfg, instantiate(cfg.model, _convert_="all")


def parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def nonlinearities(net: nn.Module) -> list[nn.Module]:
    """The ReLU / LeakyReLU layers, once per place (one module instance may serve several)."""
    modules = (m for _, m in net.named_modules(remove_duplicate=False))
    return [m for m in modules if isinstance(m, nn.ReLU | nn.LeakyReLU)]


@pytest.mark.parametrize("experiment", ["seed_gan_mnist", "seed_gan_mnist_fixed"])
def test_gan_experiments_have_the_articles_widths_and_settings(
    tmp_path: Path, experiment: str
) -> None:
    cfg, gan = built_model(tmp_path, experiment)
    assert cfg.hydra.runtime.choices.data == "mnist5k"
    assert cfg.metrics.suite._target_.endswith("DomainSuite")
    assert parameters(gan.generator) == GAN_G_PARAMS == 159_888
    assert parameters(gan.discriminator) == GAN_D_PARAMS == 100_609
    widths = [
        (m.in_features, m.out_features) for m in gan.generator.modules() if isinstance(m, nn.Linear)
    ]
    assert widths == [(100, 256), (256, 128), (128, 784)]
    widths = [
        (m.in_features, m.out_features)
        for m in gan.discriminator.modules()
        if isinstance(m, nn.Linear)
    ]
    assert widths == [(784, 128), (128, 1)]
    assert isinstance(gan.generator.out, nn.Tanh)
    assert cfg.model.loss == "ns"  # Keras' binary_crossentropy on D's sigmoid, G towards "real"
    assert cfg.model.latent_dim == 100 and cfg.data.batch_size == ARTICLE_BATCH
    for optimizer in (cfg.model.optimizer_g, cfg.model.optimizer_d):
        assert optimizer._target_ == "torch.optim.Adam"
        assert optimizer.lr == 2e-4 and list(optimizer.betas) == [0.5, 0.999]
    assert cfg.iterations == ARTICLE_EPOCHS * MNIST5K_ITEMS / ARTICLE_BATCH == 15_625


def test_the_articles_gan_is_affine_and_the_fixed_one_is_not(tmp_path: Path) -> None:
    torch.manual_seed(0)
    z = torch.randn(2, 100)
    x = torch.rand(2, 1, 28, 28) * 2 - 1
    for experiment, affine in (("seed_gan_mnist", True), ("seed_gan_mnist_fixed", False)):
        _, gan = built_model(tmp_path / experiment, experiment)
        g, d = gan.generator.double(), gan.discriminator.double()
        found = nonlinearities(g) + nonlinearities(d)
        assert (found == []) == affine, experiment
        if not affine:
            assert all(isinstance(m, nn.LeakyReLU) and m.negative_slope == 0.2 for m in found)
            assert len(nonlinearities(g)) == 2 and len(nonlinearities(d)) == 1
        with torch.no_grad():
            # G before its tanh and D's logit are affine maps when there is no activation (atanh
            # of float64 tanh values keeps about 8 digits)
            pre_tanh = [torch.atanh(g(v.double())) for v in (z[:1], z[1:], z.mean(0, True))]
            logits = [d(v.double()) for v in (x[:1], x[1:], x.mean(0, True))]
        for a, b, middle in (pre_tanh, logits):
            gap = ((middle - (a + b) / 2).norm() / (a - b).norm()).item()
            assert (gap < 1e-6) == affine, (experiment, gap)


def test_vae_experiment_has_the_articles_widths_and_settings(tmp_path: Path) -> None:
    cfg, vae = built_model(tmp_path, "seed_vae_mnist")
    assert cfg.hydra.runtime.choices.data == "mnist5k"
    assert parameters(vae.encoder) == VAE_ENCODER_PARAMS == 330_040
    assert parameters(vae.decoder) == VAE_DECODER_PARAMS == 322_784
    assert [type(m) for m in vae.encoder.net] == [nn.Linear, nn.ReLU, nn.Linear]
    assert [type(m) for m in vae.decoder.net] == [nn.Linear, nn.ReLU, nn.Linear]
    assert vae.encoder(torch.zeros(3, 1, 28, 28))[0].shape == (3, 20)
    assert cfg.model.likelihood == "bernoulli" and cfg.model.beta == 1.0
    assert cfg.model.latent_dim == 20 and cfg.data.batch_size == ARTICLE_BATCH
    assert cfg.model.optimizer._target_ == "torch.optim.Adam" and cfg.model.optimizer.lr == 1e-3
    assert cfg.iterations == ARTICLE_EPOCHS * MNIST5K_ITEMS / ARTICLE_BATCH
    # the decoder's output is Bernoulli logits: samples are sigmoid means in data space [-1, 1]
    samples = vae.decode(torch.randn(4, 20))
    assert samples.shape == (4, 1, 28, 28) and samples.min() > -1 and samples.max() < 1


@pytest.mark.parametrize("experiment", ["seed_gan_mnist", "seed_gan_mnist_fixed", "seed_vae_mnist"])
def test_each_article_experiment_trains_a_few_iterations(
    tmp_path: Path, evaluator_cache: Path, experiment: str
) -> None:
    run_dir = tmp_path / "run"
    cfg = compose_config(
        run_dir,
        [
            f"experiment={experiment}",
            f"paths.root_dir={tmp_path}",
            f"paths.cache_dir={evaluator_cache}",
            "trainer.accelerator=cpu",
            "trainer.enable_progress_bar=false",
            "trainer.enable_model_summary=false",
            "iterations=4",
            "log_every_n_iterations=2",
            "evaluator.train_steps=20",
            "metrics.num_samples=200",
            "manifold_metrics.num_samples=200",
            "logger=csv",
            "~callbacks.checkpoint",
        ],
    )
    train(cfg)
    summary = read_summary(run_dir)
    assert summary["status"] == "completed" and summary["iterations_done"] == 4
    losses = (
        ("train/elbo", "train/recon", "train/kl")
        if "vae" in experiment
        else ("train/d_loss", "train/g_loss")
    )
    for name in losses:
        assert math.isfinite(summary[name]), name
    for name in ("fid_mnist5k", "is_mnist5k", "classes_mnist5k", "coverage_mnist5k"):
        assert math.isfinite(summary[f"metrics/{name}"]), name
    assert "evaluator_mnist5k_accuracy" in summary
