"""net=resnet: the SNGAN ResNet nets in mimicry's layout (sngan_32 / 48 / 64)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from conftest import compose_config
from genlab import CONF_DIR
from genlab.nets.resnet import (
    RESIDUAL_GAIN,
    ResNetDiscriminator,
    ResNetEncoder,
    ResNetGenerator,
)
from genlab.nets.sides import resnet_side_problem

TABLE = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "net" / "resnet.yaml").by_side)
SIDES = list(TABLE)

# mimicry's sngan_<side> nets at latent 128, RGB (spectral norm's u, v are buffers)
PARAMETERS = {32: (4_276_739, 1_053_825), 48: (4_878_083, 10_141_441), 64: (12_220_675, 10_141_441)}


def _count(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def _row(side: int, divide: int = 1) -> dict:
    """by_side's row for `side`, its widths divided by `divide` (the same layout, small)."""
    row = TABLE[str(side)]
    return {
        "generator_widths": [max(w // divide, 4) for w in row["generator_widths"]],
        "discriminator_widths": [max(w // divide, 4) for w in row["discriminator_widths"]],
        "discriminator_downsamples": row["discriminator_downsamples"],
    }


def _generator(side: int, divide: int = 16, **kwargs) -> ResNetGenerator:
    settings = {"latent_dim": 8, "upsample": "nearest", "tanh_output": True} | kwargs
    widths = _row(side, divide)["generator_widths"]
    return ResNetGenerator(data_shape=[3, side, side], widths=widths, known_sides=SIDES, **settings)


def _discriminator(
    side: int, divide: int = 16, pack: int = 1, mbstd: int = 0
) -> ResNetDiscriminator:
    row = _row(side, divide)
    return ResNetDiscriminator(
        [3, side, side],
        row["discriminator_widths"],
        row["discriminator_downsamples"],
        SIDES,
        pack,
        mbstd,
    )


@pytest.mark.parametrize("side", list(PARAMETERS))
def test_parameter_counts_are_mimicrys(side: int) -> None:
    generator = _generator(side, divide=1, latent_dim=128)
    discriminator = _discriminator(side, divide=1)
    assert (_count(generator), _count(discriminator)) == PARAMETERS[side]
    for layer in discriminator.modules():
        if isinstance(layer, nn.Linear | nn.Conv2d):
            spectral_norm(layer)
    assert _count(discriminator) == PARAMETERS[side][1]


def test_net_resnet_with_cifar10_picks_the_32_widths(tmp_path: Path) -> None:
    cfg = compose_config(tmp_path, ["net=resnet", "data=cifar10"])
    assert cfg.net.generator_widths == [256, 256, 256, 256]
    assert cfg.net.discriminator_widths == [128, 128, 128, 128]
    assert cfg.net.discriminator_downsamples == 2
    # the widths reach every role, and the nets built from them are sngan_32's
    generator = instantiate(cfg.net.generator, latent_dim=128)
    assert (generator.start, generator.width) == (4, 256)
    assert _count(instantiate(cfg.net.critic)) == PARAMETERS[32][1]
    small = compose_config(
        tmp_path,
        [
            "net=resnet",
            "data=cifar10",
            "data.shape=[3,48,48]",
            "net.generator_widths=[16,8,8,8]",
            "net.discriminator_widths=[8,8,16,16,16]",
        ],
    )
    assert small.net.discriminator_downsamples == 4  # from the 48 row
    assert instantiate(small.net.generator).start == 6
    mu, logvar = instantiate(small.net.encoder)(torch.randn(2, 3, 48, 48))
    assert mu.shape == logvar.shape == (2, small.model.latent_dim)


@pytest.mark.parametrize("side", [32, 48, 64])
def test_output_shapes(side: int) -> None:
    torch.manual_seed(0)
    generator = _generator(side)
    images = generator(torch.randn(4, 8))
    assert images.shape == (4, 3, side, side)
    assert images.abs().max() <= 1
    assert not any(isinstance(m, nn.Tanh) for m in _generator(side, tanh_output=False).modules())
    assert _generator(side, upsample="bilinear")(torch.randn(4, 8)).shape == images.shape
    assert _discriminator(side)(images).shape == (4,)
    row = _row(side, 16)
    encoder = ResNetEncoder(
        [3, side, side], 5, row["discriminator_widths"], row["discriminator_downsamples"], SIDES
    )
    mu, logvar = encoder(images)
    assert mu.shape == logvar.shape == (4, 5)


def test_pack_and_minibatch_std() -> None:
    torch.manual_seed(0)
    x = torch.randn(8, 3, 32, 32)
    packed = _discriminator(32, pack=2)
    assert packed.trunk[0].shortcut[1].in_channels == 6  # two images along channels
    assert packed(x).shape == (4,)
    with_std = _discriminator(32, mbstd=4)
    assert with_std.head.in_features == _row(32, 16)["discriminator_widths"][-1] + 1
    assert with_std(x).shape == (8,)
    assert _discriminator(32, pack=2, mbstd=4)(x).shape == (4,)
    # the std channel sees the batch: a sample's score depends on the others in its group
    alone = with_std(x[:4])
    mixed = with_std(torch.cat([x[:3], 5 * x[4:5]]))
    assert not torch.allclose(alone[:3], mixed[:3])


def test_the_discriminator_has_no_batch_norm_and_every_layer_a_bias() -> None:
    nets = [_generator(32), _discriminator(32)]
    assert not any(isinstance(m, nn.BatchNorm2d) for m in nets[1].modules())
    layers = [m for net in nets for m in net.modules() if isinstance(m, nn.Linear | nn.Conv2d)]
    assert layers and all(layer.bias is not None for layer in layers)


def test_init_is_mimicrys_and_deterministic() -> None:
    torch.manual_seed(3)
    first = _discriminator(32).state_dict()
    torch.manual_seed(3)
    again = _discriminator(32).state_dict()
    assert all(torch.equal(first[k], again[k]) for k in first)
    # xavier_uniform: |w| up to gain * sqrt(6 / (fan_in + fan_out)); sqrt(2) on the residual
    # 3x3 convs, 1 on the 1x1 shortcuts and the first and last layers
    generator = _generator(32, divide=1)
    for name, gain in (
        ("blocks.0.residual.3", RESIDUAL_GAIN),
        ("blocks.0.residual.6", RESIDUAL_GAIN),
        ("blocks.0.shortcut.0", 1.0),
        ("project", 1.0),
        ("out.2", 1.0),
    ):
        weight = generator.get_submodule(name).weight
        fan_in, fan_out = weight[0].numel(), weight.shape[0] * weight[0, 0].numel()
        bound = gain * math.sqrt(6 / (fan_in + fan_out))
        assert 0.99 * bound < weight.abs().max() <= bound, name


def test_an_unsupported_side_is_refused_naming_the_sides(tmp_path: Path) -> None:
    cfg = compose_config(tmp_path, ["net=resnet", "data=cifar10", "data.shape=[3,40,40]"])
    assert cfg.net.generator_widths is None
    for role in ("generator", "discriminator", "critic", "encoder", "decoder"):
        with pytest.raises(InstantiationException) as err:
            instantiate(cfg.net[role])
        message = str(err.value)
        assert "sides 32, 48, 64, 128, not 40" in message, role
        assert "net.generator_widths" in message and "net=dcgan" in message
    with pytest.raises(ValueError, match="sides 32, 48, 64, 128, not 40"):
        ResNetGenerator(8, [3, 40, 40], None, SIDES, "nearest", True)


def test_side_problems() -> None:
    for side, row in TABLE.items():
        assert resnet_side_problem(int(side), SIDES, **row) is None
    assert "not 40" in resnet_side_problem(40, SIDES, None, None, None)
    # widths set by hand: any side the doublings and halvings fit
    assert resnet_side_problem(40, SIDES, [8, 8, 8, 8], [8, 8], 2) is None
    problem = resnet_side_problem(36, SIDES, [8, 8, 8, 8], [8, 8], 2)
    assert problem is not None and "net.generator_widths=[8, 8, 8, 8]" in problem
    problem = resnet_side_problem(32, SIDES, [8, 8], [8, 8], 3)
    assert problem is not None and "net.discriminator_downsamples=3" in problem
    with pytest.raises(ValueError, match="net.discriminator_downsamples=0"):
        ResNetDiscriminator([3, 32, 32], [8, 8], 0, SIDES, 1, 0)
    with pytest.raises(ValueError, match="square images"):
        ResNetGenerator(8, [2], [8, 8], SIDES, "nearest", True)
    with pytest.raises(ValueError, match="unknown upsample 'cubic'"):
        ResNetGenerator(8, [3, 32, 32], [8, 8], SIDES, "cubic", True)
