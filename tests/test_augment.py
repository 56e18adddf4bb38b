"""DiffAugment (Zhao et al. 2020): the transforms are the reference's, their randomness is the
model's (seeded, per member), they reach every D evaluation, and off they draw nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

from conftest import compose_config
from genlab.errors import ConfigError
from genlab.models.augment import (
    DiffAugment,
    color,
    cutout,
    cutout_squares,
    parse_policy,
    translation,
    translation_shifts,
)
from genlab.models.gan import GAN
from genlab.models.wgan_gp import WGANGP
from genlab.nets.mlp import MLPDiscriminator
from genlab.run.checks import check_config, config_problems

POLICY = "color,translation,cutout"
SHAPE = (1, 8, 8)
SWITCHES_OFF = {
    "r1_gamma": 0.0,
    "spectral_norm": False,
    "pack": 1,
    "minibatch_std": 0,
    "ema_decay": None,
    "instance_noise_std": 0.0,
    "instance_noise_anneal_iterations": 1,
    "label_smoothing": 0.0,
}


def _image_gan(augment: str | None, **switches: object) -> GAN:
    torch.manual_seed(0)
    return GAN(
        generator=nn.Sequential(nn.Linear(3, 64), nn.Tanh(), nn.Unflatten(1, SHAPE)),
        discriminator=MLPDiscriminator(list(SHAPE), [16], "leaky_relu", "none", 1, 0),
        optimizer_g=torch.optim.Adam,
        optimizer_d=torch.optim.Adam,
        latent_dim=3,
        seed=0,
        loss=str(switches.pop("loss", "ns")),
        d_steps=1,
        clip_norm_g=None,
        clip_norm_d=None,
        augment=augment,
        **{**SWITCHES_OFF, **switches},
    )


# --- the policy ---------------------------------------------------------------------------
def test_a_policy_is_any_subset_in_any_order_and_unknown_names_are_refused() -> None:
    assert parse_policy(POLICY) == ("color", "translation", "cutout")
    assert parse_policy("cutout, color") == ("cutout", "color")
    assert DiffAugment("translation").draws_per_image == 2
    assert DiffAugment(POLICY).draws_per_image == 7
    with pytest.raises(ValueError, match=r"unknown 'flip'; known: color, translation, cutout"):
        parse_policy("color,flip")
    with pytest.raises(ValueError, match="color given twice"):
        parse_policy("color,cutout,color")
    with pytest.raises(ValueError, match="needs image batches"):
        DiffAugment(POLICY)(torch.zeros(4, 2), lambda m: torch.rand(4, m))


def test_the_same_seed_gives_the_same_augmentation_and_another_seed_another() -> None:
    x = torch.rand(6, 3, 16, 16) * 2 - 1
    augment = DiffAugment(POLICY)

    def seeded(seed: int) -> torch.Tensor:
        torch.manual_seed(seed)
        return augment(x, lambda m: torch.rand(x.shape[0], m))

    assert torch.equal(seeded(3), seeded(3))
    assert not torch.equal(seeded(3), seeded(4))
    # the model's draws come from its seeded RNG: fresh per call, the same after reseeding
    model = _image_gan(POLICY)
    images = torch.rand(5, *SHAPE)
    torch.manual_seed(7)
    first, second = model.discriminator_input(images), model.discriminator_input(images)
    torch.manual_seed(7)
    assert torch.equal(model.discriminator_input(images), first)
    assert not torch.equal(first, second)


# --- the transforms -----------------------------------------------------------------------
def test_colour_matches_hand_computed_values() -> None:
    x = torch.tensor([[[[0.0, 0.5]], [[-0.5, 1.0]]]]).repeat(2, 1, 1, 1)  # (2, C=2, 1, 2)
    u = torch.tensor([[0.7, 0.25, 0.9], [0.5, 0.5, 0.5]])
    out = color(x, u)
    # image 0: brightness +0.2 -> [0.2, 0.7] / [-0.3, 1.2]; saturation x0.5 about the channel
    # means -0.05 and 0.95 -> [0.075, 0.825] / [-0.175, 1.075]; contrast x1.4 about the image
    # mean 0.45 -> [-0.075, 0.975] / [-0.425, 1.325]
    expected = torch.tensor([[[-0.075, 0.975]], [[-0.425, 1.325]]])
    torch.testing.assert_close(out[0], expected, rtol=0, atol=1e-6)
    # image 1: u = 0.5 is brightness +0, saturation x1, contrast x1: the image itself
    torch.testing.assert_close(out[1], x[1], rtol=0, atol=1e-6)


def test_translation_moves_whole_pixels_within_an_eighth_of_the_side() -> None:
    side, reach = 16, 2  # int(16 / 8 + 0.5)
    x = torch.zeros(1, 2, side, side)
    x[0, :, 7, 9] = 1.0
    seen = set()
    for u_rows in torch.linspace(0, 0.999, 23):
        for u_cols in torch.linspace(0, 0.999, 23):
            u = torch.stack([u_rows, u_cols]).view(1, 2)
            dy, dx = (int(s) for s in translation_shifts(u, side, side))
            out = translation(x, u)
            # output pixel (i, j) is input pixel (i + dy, j + dx): the bright pixel moves by
            # (-dy, -dx), whole, in every channel
            bright = (out[0, 0] == 1).nonzero().tolist()
            assert bright == [[7 - dy, 9 - dx]] and out.sum() == 2
            seen.add((dy, dx))
    assert seen == {(dy, dx) for dy in range(-reach, reach + 1) for dx in range(-reach, reach + 1)}
    # zeros enter where the image moved away: an all-ones image keeps (H - |dy|)(W - |dx|) ones
    u = torch.tensor([[0.0, 0.999]])  # dy = -2, dx = +2
    assert tuple(int(s) for s in translation_shifts(u, side, side)) == (-2, 2)
    ones = translation(torch.ones(1, 1, side, side), u)[0, 0]
    assert ones.sum() == 14 * 14 and ones[:2].sum() == 0 and ones[:, -2:].sum() == 0
    # at side 8, up to int(8 / 8 + 0.5) = 1 pixel
    shifts = translation_shifts(torch.tensor([[0.0, 0.999]]), 8, 8)
    assert [int(s) for s in shifts] == [-1, 1]


def test_cutout_clears_one_square_of_half_the_side_clipped_at_the_borders() -> None:
    side, size = 16, 8  # offsets 0..16 (17 values: even size), square from offset - 4
    ones = torch.ones(1, 3, side, side)
    inside = torch.tensor([[8.5 / 17, 8.5 / 17]])  # offsets 8, 8: rows and columns 4..11
    out = cutout(ones, inside)
    assert (out == 0).sum() == 3 * size * size
    assert out[0, :, 4:12, 4:12].abs().sum() == 0  # exactly that square
    # a square over two borders is clipped: offset 0 covers rows 0..3, offset 16 columns 12..15
    corner = cutout(ones, torch.tensor([[0.0, 0.999]]))
    assert (corner[0, 0] == 0).sum() == 4 * 4 and corner[0, 0, :4, 12:].abs().sum() == 0
    # an odd side: int(7 / 2 + 0.5) = 4 pixels, offsets 0..7
    odd = cutout_squares(torch.tensor([[3.5 / 8, 7.5 / 8]]), 7, 7)[0]
    assert odd.sum() == 4 * 2 and odd[1:5, 5:].all()


def test_gradients_reach_the_generator_through_the_augmentation() -> None:
    model = _image_gan(POLICY)
    seen: list[torch.Tensor] = []
    model.discriminator.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    torch.manual_seed(1)
    fake = model.generator(model.noise(6))
    loss = model.loss.generator(model.scores(model.discriminator_input(fake)))
    loss.backward()
    assert not torch.equal(seen[0], fake)  # D saw the augmented images
    for name, p in model.generator.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


# --- where it applies ---------------------------------------------------------------------
class Spy:
    """Wraps a model's DiffAugment and records each call's input and output, and its draws."""

    def __init__(self, augmentation: DiffAugment) -> None:
        self.augmentation = augmentation
        self.calls: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.draws: list[torch.Tensor] = []

    def __call__(self, x: torch.Tensor, draw: Callable[[int], torch.Tensor]) -> torch.Tensor:
        def recorded(m: int) -> torch.Tensor:
            self.draws.append(draw(m))
            return self.draws[-1]

        out = self.augmentation(x, recorded)
        self.calls.append((x, out))
        return out


def test_real_and_fake_are_augmented_before_every_discriminator_evaluation() -> None:
    model = _image_gan(POLICY, r1_gamma=1.0, loss="ragan")
    spy = Spy(model.augmentation)
    model.augmentation = spy
    inputs: list[torch.Tensor] = []
    model.discriminator.register_forward_pre_hook(lambda _m, args: inputs.append(args[0]))
    real, fake = torch.rand(4, *SHAPE), torch.rand(4, *SHAPE)
    model.discriminator_loss(real, fake)
    (r_in, r_out), (f_in, f_out) = spy.calls
    assert r_in is real and f_in is fake
    assert not torch.equal(spy.draws[0], spy.draws[1])  # real and fake: independent draws
    # D scores the augmented real and fake; R1 is taken at the augmented reals
    assert torch.equal(inputs[0], r_out) and torch.equal(inputs[1], f_out)
    assert inputs[2].requires_grad and torch.equal(inputs[2], r_out)
    # G's step (ragan: real scores too) sees augmented images as well
    spy.calls.clear()
    scores = model.scores(model.discriminator_input(model.generator(model.noise(4))))
    model.loss.generator(scores, model.scores(model.discriminator_input(real))).backward()
    assert len(spy.calls) == 2 and spy.calls[1][0] is real


def test_the_gradient_penalty_interpolates_between_augmented_real_and_fake() -> None:
    torch.manual_seed(0)
    model = WGANGP(
        generator=nn.Sequential(nn.Linear(3, 64), nn.Unflatten(1, SHAPE)),
        discriminator=MLPDiscriminator(list(SHAPE), [16], "leaky_relu", "none", 1, 0),
        optimizer_g=torch.optim.Adam,
        optimizer_d=torch.optim.Adam,
        latent_dim=3,
        seed=0,
        gp_lambda=10.0,
        n_critic=1,
        clip_norm_g=None,
        clip_norm_d=None,
        augment=POLICY,
    )
    spy = Spy(model.augmentation)
    model.augmentation = spy
    inputs: list[torch.Tensor] = []
    model.discriminator.register_forward_pre_hook(lambda _m, args: inputs.append(args[0]))
    model.discriminator_loss(torch.rand(5, *SHAPE), torch.rand(5, *SHAPE))
    (_, real), (_, fake) = spy.calls
    x_hat = inputs[2].detach()
    # x_hat - fake = alpha (real - fake), one alpha in [0, 1] per sample
    direction = (real - fake).flatten(1)
    alpha = ((x_hat - fake).flatten(1) * direction).sum(1) / direction.pow(2).sum(1)
    assert ((alpha >= 0) & (alpha <= 1)).all()
    residual = (x_hat - fake).flatten(1) - alpha[:, None] * direction
    assert residual.abs().max() < 1e-5


def test_without_augment_nothing_is_drawn() -> None:
    model = _image_gan(None, r1_gamma=1.0)
    assert model.augmentation is None
    x = torch.rand(4, *SHAPE)
    state = torch.get_rng_state()
    assert model.discriminator_input(x) is x
    model.discriminator_loss(x, torch.rand(4, *SHAPE, generator=torch.Generator()))
    assert torch.equal(torch.get_rng_state(), state)


# --- the config ---------------------------------------------------------------------------
def test_diffaugment_is_refused_on_point_data_and_unknown_policies(tmp_path: Path) -> None:
    cfg = compose_config(tmp_path, ["fix=diffaugment"])
    assert cfg.model.augment == POLICY
    with pytest.raises(ConfigError, match="invalid config") as err:
        check_config(cfg)
    assert (
        "model.augment=color,translation,cutout needs image data (data.shape [C, H, W]), not"
        " data=ring8 (data.shape [2]); drop fix=diffaugment"
    ) in str(err.value)
    cfg = compose_config(tmp_path, ["data=digits", "model.augment='color,flip'"])
    assert config_problems(cfg) == [
        "model.augment='color,flip': unknown 'flip'; known: color, translation, cutout (any of"
        " them, comma-separated)"
    ]
    for model in ("gan", "wgan_gp"):
        cfg = compose_config(tmp_path, ["data=digits", f"model={model}", "fix=diffaugment"])
        assert config_problems(cfg) == [] and cfg.model.augment == POLICY
        assert compose_config(tmp_path, [f"model={model}"]).model.augment is None
    cfg = compose_config(tmp_path, ["data=digits", "model=vae", "fix=diffaugment"])
    assert "use it with model=gan or model=wgan_gp" in "\n".join(config_problems(cfg))


@pytest.mark.parametrize("net", ["dcgan", "mlp"])
def test_a_diffaugment_run_trains_on_image_data(tmp_path: Path, net: str) -> None:
    from conftest import build_fast

    overrides = ["data=digits", "fix=diffaugment", "metrics=none", "iterations=2"]
    overrides += ["model.r1_gamma=1", "model.instance_noise_std=0.1"]
    if net == "mlp":
        overrides.append("net=mlp")
    datamodule, model, trainer = build_fast(tmp_path, *overrides)
    spy = Spy(model.augmentation)
    model.augmentation = spy
    trainer.fit(model, datamodule=datamodule)
    assert model.iteration == 2 and model.parameters_finite()
    assert len(spy.calls) == 2 * 3  # per iteration: D's real and fake, G's fake
    assert all(out.shape == (64, 1, 8, 8) for _, out in spy.calls)
