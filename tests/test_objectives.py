"""Losses, penalty and KL against closed forms."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.distributions import Normal, kl_divergence

from genlab.models.losses import ADVERSARIAL_LOSSES, adversarial_loss, gaussian_kl
from genlab.models.regularizers import gradient_penalty
from genlab.models.wgan_gp import WGANGP


def _linear_critic(w: torch.Tensor) -> nn.Module:
    critic = nn.Sequential(nn.Flatten(), nn.Linear(w.numel(), 1, bias=False))
    with torch.no_grad():
        critic[1].weight.copy_(w.view(1, -1))
    return nn.Sequential(critic, nn.Flatten(0))


@pytest.mark.parametrize("shape", [(2,), (1, 4, 4)])
def test_gradient_penalty_of_a_linear_critic_is_closed_form(shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    w = torch.randn(math.prod(shape)) * 0.7
    critic = _linear_critic(w)
    real, fake = torch.randn(16, *shape), torch.randn(16, *shape)
    penalty = gradient_penalty(critic, real, fake, torch.rand(16, *[1] * len(shape)))
    assert penalty.item() == pytest.approx((w.norm().item() - 1) ** 2, rel=1e-5)
    # the penalty reaches the critic's weights: d/dw (|w|-1)^2 = 2(|w|-1) w/|w|
    penalty.backward()
    expected = 2 * (w.norm() - 1) * w / w.norm()
    torch.testing.assert_close(critic[0][1].weight.grad.view(-1), expected, rtol=1e-4, atol=1e-6)


def test_wgan_gp_critic_loss_adds_lambda_times_penalty() -> None:
    torch.manual_seed(0)
    w = torch.tensor([0.3, -2.0])
    model = WGANGP(
        generator=nn.Linear(3, 2),
        discriminator=_linear_critic(w),
        optimizer_g=torch.optim.Adam,
        optimizer_d=torch.optim.Adam,
        latent_dim=3,
        seed=0,
        gp_lambda=10.0,
        n_critic=5,
        clip_norm_g=None,
        clip_norm_d=None,
        augment=None,
    )
    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    loss, logs = model.discriminator_loss(real, fake)
    critic_term = (fake @ w).mean() - (real @ w).mean()
    expected = critic_term + 10.0 * (w.norm() - 1) ** 2
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert logs["train/wasserstein"].item() == pytest.approx(-critic_term.item(), rel=1e-5)


def test_wgan_gp_refuses_a_batch_norm_critic() -> None:
    critic = nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))
    with pytest.raises(ValueError, match="batch norm"):
        WGANGP(
            nn.Linear(3, 2),
            critic,
            torch.optim.Adam,
            torch.optim.Adam,
            3,
            0,
            10.0,
            5,
            None,
            None,
            None,
        )


def test_gaussian_kl_matches_torch_distributions() -> None:
    torch.manual_seed(0)
    mu, logvar = torch.randn(5, 3), torch.randn(5, 3)
    expected = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(dim=1)
    torch.testing.assert_close(gaussian_kl(mu, logvar), expected)
    assert gaussian_kl(torch.zeros(2, 4), torch.zeros(2, 4)).abs().max() == 0


def test_adversarial_losses_closed_forms() -> None:
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    sig = torch.sigmoid
    ns, mm = ADVERSARIAL_LOSSES["ns"], ADVERSARIAL_LOSSES["minimax"]
    expected_d = -(torch.log(sig(real)).mean() + torch.log(1 - sig(fake)).mean())
    assert ns.discriminator(real, fake, 1.0).item() == pytest.approx(expected_d.item(), rel=1e-6)
    assert ns.generator(fake).item() == pytest.approx(-torch.log(sig(fake)).mean().item(), rel=1e-6)
    assert mm.generator(fake).item() == pytest.approx(
        torch.log(1 - sig(fake)).mean().item(), rel=1e-6
    )
    lsgan, hinge = ADVERSARIAL_LOSSES["lsgan"], ADVERSARIAL_LOSSES["hinge"]
    assert lsgan.discriminator(real, fake, 1.0).item() == pytest.approx(
        0.5 * (1.0 + 4.0) / 2 + 0.5 * (0.25 + 9) / 2
    )
    assert lsgan.generator(fake).item() == pytest.approx(0.5 * (0.25 + 16) / 2)
    assert hinge.discriminator(real, fake, 1.0).item() == pytest.approx((0 + 2) / 2 + (1.5 + 0) / 2)
    assert hinge.generator(fake).item() == pytest.approx(1.25)
    with pytest.raises(ValueError, match="ns, minimax"):
        adversarial_loss("nope")


def test_relativistic_average_loss_closed_form() -> None:
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])  # means 0.5 and -1.25
    sig = torch.sigmoid
    ragan = ADVERSARIAL_LOSSES["ragan"]
    assert ragan.relativistic and not ragan.smoothable
    expected_d = -(torch.log(sig(real - (-1.25))).mean() + torch.log(1 - sig(fake - 0.5)).mean())
    expected_g = -(torch.log(sig(fake - 0.5)).mean() + torch.log(1 - sig(real - (-1.25))).mean())
    assert ragan.discriminator(real, fake, 1.0).item() == pytest.approx(expected_d.item(), rel=1e-6)
    assert ragan.generator(fake, real).item() == pytest.approx(expected_g.item(), rel=1e-6)
    # only the gap matters: shifting every score leaves both losses unchanged
    shifted = ragan.generator(fake + 7.0, real + 7.0).item()
    assert shifted == pytest.approx(expected_g.item(), rel=1e-6)


def test_relativistic_generator_step_sees_the_real_batch(run_train) -> None:
    summary = run_train("fix=ragan", "iterations=6", "metrics=none")
    assert summary["status"] == "completed"
    assert math.isfinite(summary["train/g_loss"]) and summary["train/g_loss"] > 0


def test_gradient_penalty_under_bf16_autocast_matches_fp32() -> None:
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Linear(2, 64), nn.LeakyReLU(0.2), nn.Linear(64, 64), nn.Linear(64, 1))
    critic = nn.Sequential(critic, nn.Flatten(0))
    real, fake = torch.randn(256, 2), torch.randn(256, 2)
    alpha = torch.rand(256, 1)  # the same interpolation weights

    def penalty_and_grads(autocast: bool) -> tuple[float, list[torch.Tensor]]:
        critic.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            penalty = gradient_penalty(critic, real, fake, alpha)
        penalty.backward()
        return penalty.item(), [p.grad.clone() for p in critic.parameters() if p.grad is not None]

    value_32, grads_32 = penalty_and_grads(False)
    value_bf16, grads_bf16 = penalty_and_grads(True)
    assert value_bf16 == pytest.approx(value_32, rel=1e-4)
    assert len(grads_32) == 4  # biases after the last nonlinearity do not reach the input gradient
    for g16, g32 in zip(grads_bf16, grads_32, strict=True):
        assert (g16 - g32).norm() <= 1e-4 * g32.norm()
