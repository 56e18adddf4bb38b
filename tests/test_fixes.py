"""The GAN's mode-collapse fixes: each does what its paper says, and they compose."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from conftest import build_fast, compose_config
from genlab.models.gan import GAN
from genlab.models.regularizers import r1_penalty
from genlab.nets.layers import MinibatchStd
from genlab.nets.mlp import MLPDiscriminator

SWITCHES_OFF = {
    "r1_gamma": 0.0,
    "spectral_norm": False,
    "pack": 1,
    "minibatch_std": 0,
    "ema_decay": None,
    "instance_noise_std": 0.0,
    "instance_noise_anneal_iterations": 1,
    "label_smoothing": 0.0,
    "augment": None,
}


def tiny_gan(discriminator: nn.Module | None = None, **switches: object) -> GAN:
    torch.manual_seed(0)
    settings = {**SWITCHES_OFF, **switches}
    pack = int(settings["pack"])
    return GAN(
        generator=nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2)),
        discriminator=discriminator
        or MLPDiscriminator(
            [2], [8, 8], "leaky_relu", "none", pack, int(settings["minibatch_std"])
        ),
        optimizer_g=torch.optim.Adam,
        optimizer_d=torch.optim.Adam,
        latent_dim=3,
        seed=0,
        loss="ns",
        d_steps=1,
        clip_norm_g=None,
        clip_norm_d=None,
        **settings,
    )


def fit(tmp_path: Path, *overrides: str) -> tuple[GAN, object]:
    datamodule, model, trainer = build_fast(tmp_path, *overrides)
    trainer.fit(model, datamodule=datamodule)
    return model, trainer


def test_spectral_norm_keeps_each_discriminator_weight_at_unit_norm(tmp_path: Path) -> None:
    model, _ = fit(
        tmp_path, "model.spectral_norm=true", "iterations=3", "model.optimizer_d.lr=0.05"
    )
    layers = [m for m in model.discriminator.modules() if isinstance(m, nn.Linear)]
    assert len(layers) == 3
    for layer in layers:
        raw = layer.parametrizations.weight.original
        sigma = torch.linalg.matrix_norm(layer.weight.detach(), ord=2).item()
        assert sigma == pytest.approx(1.0, abs=0.05)
        assert torch.linalg.matrix_norm(raw.detach(), ord=2).item() != pytest.approx(1.0, abs=0.05)
    # without the switch the raw weights are used as they are
    plain, _ = fit(tmp_path / "plain", "iterations=3", "model.optimizer_d.lr=0.05")
    assert not any(hasattr(m, "parametrizations") for m in plain.discriminator.modules())


def test_r1_equals_its_closed_form_on_a_linear_discriminator() -> None:
    w = torch.tensor([0.5, -1.5])
    critic = nn.Linear(2, 1)
    with torch.no_grad():
        critic.weight.copy_(w.unsqueeze(0))
    real = torch.randn(6, 2)

    class Scores(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return critic(x).squeeze(1)

    # grad_x (w.x + b) = w for every sample: R1 = ||w||^2
    assert r1_penalty(Scores(), real).item() == pytest.approx(w.pow(2).sum().item(), rel=1e-6)
    model = tiny_gan(discriminator=Scores(), r1_gamma=4.0)
    fake = torch.randn(6, 2)
    loss, logs = model.discriminator_loss(real, fake)
    real_s, fake_s = critic(real).squeeze(1), critic(fake).squeeze(1)
    bce = nn.functional.softplus(-real_s).mean() + nn.functional.softplus(fake_s).mean()
    assert loss.item() == pytest.approx((bce + 0.5 * 4.0 * w.pow(2).sum()).item(), rel=1e-5)
    assert logs["train/r1"].item() == pytest.approx(w.pow(2).sum().item(), rel=1e-6)


def test_packing_shows_the_discriminator_k_samples_at_once() -> None:
    seen: list[torch.Size] = []
    d = MLPDiscriminator([2], [8, 8], "leaky_relu", "none", pack=4, minibatch_std=0)
    d.trunk[0].register_forward_pre_hook(lambda _m, args: seen.append(args[0].shape))
    x = torch.randn(12, 2)
    scores = d(x)
    assert seen == [torch.Size([3, 8])] and scores.shape == (3,)
    # pack k consecutive samples: the first pack is samples 0..3 side by side
    assert torch.equal(x[:4].reshape(1, 8), x.reshape(3, 8)[:1])
    with pytest.raises(ValueError, match="does not split into packs of 4"):
        d(torch.randn(10, 2))


def test_minibatch_std_feature_is_the_group_std() -> None:
    layer = MinibatchStd(group_size=2)
    x = torch.tensor([[0.0, 2.0], [10.0, 0.0], [2.0, 2.0], [10.0, 4.0]])
    out = layer(x)
    # groups pair sample i with i + 2: (0, 2) and (1, 3)
    first = (torch.tensor([1.0, 0.0]).mean()).item()  # stds of [0,2] and [2,2] per feature
    second = (torch.tensor([0.0, 2.0]).mean()).item()
    assert out.shape == (4, 3)
    assert out[:, 2].tolist() == pytest.approx([first, second, first, second], abs=1e-3)
    conv = MinibatchStd(4)(torch.randn(8, 3, 5, 5))
    assert conv.shape == (8, 4, 5, 5) and torch.all(conv[0, 3] == conv[0, 3, 0, 0])


def test_ema_weights_follow_the_decay_formula_and_give_the_samples(tmp_path: Path) -> None:
    model = tiny_gan(ema_decay=0.9)
    history = [[p.detach().clone() for p in model.generator.parameters()]]
    for _ in range(2):  # two generator steps, each followed by the EMA update
        with torch.no_grad():
            for p in model.generator.parameters():
                p.add_(torch.randn_like(p))
        history.append([p.detach().clone() for p in model.generator.parameters()])
        model.update_ema()
    for i, ema in enumerate(model.generator_ema.parameters()):
        g0, g1, g2 = (h[i] for h in history)
        expected = 0.81 * g0 + 0.9 * 0.1 * g1 + 0.1 * g2
        torch.testing.assert_close(ema, expected)
    z = torch.randn(5, 3)
    torch.testing.assert_close(model.sample(5, z), model.generator_ema(z))
    assert not torch.allclose(model.sample(5, z), model.generator(z))
    # in training, only G is optimised; the EMA copy never gets gradients
    trained, _ = fit(tmp_path, "model.ema_decay=0.5", "iterations=3")
    assert all(not p.requires_grad for p in trained.generator_ema.parameters())
    assert not torch.equal(
        next(trained.generator_ema.parameters()), next(trained.generator.parameters())
    )


def test_instance_noise_anneals_linearly_to_zero() -> None:
    model = tiny_gan(instance_noise_std=0.2, instance_noise_anneal_iterations=10)
    stds = []
    for iteration in (0, 5, 10, 20):
        model.iteration = iteration
        stds.append(model.instance_noise())
    assert stds == pytest.approx([0.2, 0.1, 0.0, 0.0])
    model.iteration = 0
    real, fake = torch.zeros(4, 2), torch.zeros(4, 2)
    seen = []
    model.discriminator.register_forward_pre_hook(lambda _m, args: seen.append(args[0].clone()))
    model.discriminator_loss(real, fake)
    assert all(x.abs().sum() > 0 for x in seen)  # both real and fake inputs are perturbed


def test_one_sided_label_smoothing_lowers_only_the_real_target() -> None:
    d = nn.Linear(2, 1)
    scores = lambda x: d(x).squeeze(1)  # noqa: E731
    real, fake = torch.randn(5, 2), torch.randn(5, 2)

    class D(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return scores(x)

    loss, _ = tiny_gan(discriminator=D(), label_smoothing=0.1).discriminator_loss(real, fake)
    r, f = torch.sigmoid(scores(real)), torch.sigmoid(scores(fake))
    expected = -(0.9 * r.log() + 0.1 * (1 - r).log()).mean() - (1 - f).log().mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    loss, _ = tiny_gan(discriminator=D(), label_smoothing=0.0).discriminator_loss(real, fake)
    expected = -r.log().mean() - (1 - f).log().mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    with pytest.raises(ValueError, match="needs a loss with a real-label target"):
        GAN(**{**_gan_args(), "loss": "hinge", "label_smoothing": 0.1})


def _gan_args() -> dict:
    return {
        "generator": nn.Linear(3, 2),
        "discriminator": MLPDiscriminator([2], [8], "leaky_relu", "none", 1, 0),
        "optimizer_g": torch.optim.Adam,
        "optimizer_d": torch.optim.Adam,
        "latent_dim": 3,
        "seed": 0,
        "loss": "ns",
        "d_steps": 1,
        "clip_norm_g": None,
        "clip_norm_d": None,
        **SWITCHES_OFF,
    }


def test_two_time_scale_learning_rates_reach_the_optimisers(tmp_path: Path) -> None:
    _, trainer = fit(tmp_path, "fix=ttur", "iterations=2")  # fix/ttur.yaml alone sets them
    lrs = [opt.param_groups[0]["lr"] for opt in trainer.optimizers]
    assert lrs == [1e-4, 4e-4]  # Heusel et al. 2017, the SAGAN setting


@pytest.mark.parametrize(
    "overrides",
    [
        # every switch at once, on the MLP ...
        [
            "model.loss=hinge",
            "model.spectral_norm=true",
            "model.ema_decay=0.99",
            "model.r1_gamma=1.0",
            "model.pack=2",
            "model.minibatch_std=4",
            "model.instance_noise_std=0.1",
            "model.d_steps=2",
        ],
        # ... and on the conv nets, with label smoothing
        [
            "data=digits",
            "metrics=none",
            "model.spectral_norm=true",
            "model.ema_decay=0.99",
            "model.r1_gamma=1.0",
            "model.pack=2",
            "model.minibatch_std=2",
            "model.instance_noise_std=0.1",
            "model.label_smoothing=0.1",
        ],
        # ... and on the SNGAN ResNet nets, with DiffAugment
        [
            "data=digits",
            "net=resnet",
            "metrics=none",
            "fix=diffaugment",
            "model.spectral_norm=true",
            "model.ema_decay=0.99",
            "model.r1_gamma=1.0",
            "model.pack=2",
            "model.minibatch_std=2",
            "model.instance_noise_std=0.1",
            "model.label_smoothing=0.1",
        ],
    ],
    ids=["mlp", "dcgan", "resnet_diffaugment"],
)
def test_switches_compose(tmp_path: Path, overrides: list[str]) -> None:
    model, trainer = fit(tmp_path, "iterations=3", *overrides)
    assert model.iteration == 3 and model.parameters_finite()
    assert model.run_state.logged["train/r1"] > 0  # a squared gradient norm, not switched off
    assert model.sample(4).shape[0] == 4


@pytest.mark.parametrize("net", ["dcgan", "resnet"])
@pytest.mark.parametrize("model", ["wgan_gp", "vae"])
def test_the_critic_and_the_vae_on_each_image_net(tmp_path: Path, net: str, model: str) -> None:
    augment = ["fix=diffaugment"] if model == "wgan_gp" else []
    trained, _ = fit(
        tmp_path, "data=digits", f"net={net}", f"model={model}", "metrics=none", "iterations=2",
        *augment,
    )  # fmt: skip
    assert trained.iteration == 2 and trained.parameters_finite()
    assert trained.sample(4).shape == (4, 1, 8, 8)
    if model == "wgan_gp":  # the critic: no batch norm, so the penalty stays per sample
        critic = trained.discriminator
        assert not any(
            isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in critic.modules()
        )
        assert trained.run_state.logged["train/gp"] >= 0


def test_bad_switch_values_are_refused_before_training(tmp_path: Path) -> None:
    from genlab.run.checks import config_problems

    cfg = compose_config(
        tmp_path, ["model.pack=3", "model.r1_gamma=-1", "model.instance_noise_std=-0.1"]
    )
    problems = "\n".join(config_problems(cfg))
    assert "model.pack=3 needs data.batch_size divisible by it (got 256)" in problems
    assert "model.r1_gamma=-1" in problems and "model.instance_noise_std=-0.1" in problems
    cfg = compose_config(tmp_path, ["model.minibatch_std=3"])
    assert "model.minibatch_std=3" in "\n".join(config_problems(cfg))
