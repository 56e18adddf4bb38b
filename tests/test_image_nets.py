"""The image nets: the reference DCGAN's layout and parameter counts, and the nets of every
documented experiment unchanged by it (also for run folders saved before it)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from hydra.utils import instantiate

from conftest import compose_config, train_recorded
from genlab.nets.dcgan import DCGANDiscriminator, DCGANGenerator
from genlab.nets.sides import dcgan_auto_stages, dcgan_side_problem
from genlab.train import train


def _count(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def test_dcgan_64_has_the_reference_parameter_counts() -> None:
    # PyTorch's DCGAN example: latent 100, 64 base channels, RGB, no conv biases
    generator = DCGANGenerator(100, [3, 64, 64], 64, None, False, "conv", "dcgan", True)
    discriminator = DCGANDiscriminator([3, 64, 64], 64, None, False, "conv", "dcgan", "batch", 1, 0)
    assert _count(generator) == 3_576_704 and _count(discriminator) == 2_765_568
    # 4x4 -> 64x64 in four stride-2 stages, widths 512, 256, 128, 64
    first = generator.project[0]
    assert isinstance(first, torch.nn.ConvTranspose2d) and first.kernel_size == (4, 4)
    widths = [
        m.out_channels for m in generator.modules() if isinstance(m, torch.nn.ConvTranspose2d)
    ]
    assert widths == [512, 256, 128, 64, 3]
    assert generator(torch.randn(2, 100)).shape == (2, 3, 64, 64)
    assert discriminator(torch.randn(2, 3, 64, 64)).shape == (2,)
    weights = torch.cat([m.weight.flatten() for m in generator.modules() if hasattr(m, "stride")])
    assert abs(weights.std().item() - 0.02) < 1e-3  # N(0, 0.02), Radford et al.


@pytest.mark.parametrize(
    ("side", "stages", "start"), [(8, 1, 4), (28, 2, 7), (32, 3, 4), (48, 3, 6), (128, 5, 4)]
)
def test_dcgan_starts_at_4x4_where_the_side_allows(side: int, stages: int, start: int) -> None:
    assert dcgan_auto_stages(side) == stages
    generator = DCGANGenerator(16, [1, side, side], 4, None, False, "conv", "dcgan", True)
    assert generator.project(torch.randn(2, 16, 1, 1)).shape[-1] == start
    assert generator(torch.randn(2, 16)).shape == (2, 1, side, side)


def test_sides_a_dcgan_cannot_build_are_named() -> None:
    assert "cannot build side 33" in dcgan_side_problem(33, None)
    assert "cannot build side 6" in dcgan_side_problem(6, None)
    assert "divisible by 16, not 40" in dcgan_side_problem(40, 4)
    assert dcgan_side_problem(40, 3) is None


# Parameter counts and outputs (sums, sums of magnitudes; seed 0 weights, seed 1 inputs) of the
# nets of the documented experiments, measured on main 07e58aa before the reference layout.
DOCUMENTED = {
    "dcgan_digits": ["experiment=dcgan_digits"],
    "stacked_digits_vanilla": ["experiment=mode_collapse_stacked_digits", "fix=vanilla"],
    "stacked_digits_pack2": ["experiment=mode_collapse_stacked_digits", "fix=pack2"],
    "stacked_digits_mbstd": ["experiment=mode_collapse_stacked_digits", "fix=minibatch_std"],
    "stacked_digits_wgan_gp": ["experiment=mode_collapse_stacked_digits", "fix=wgan_gp"],
    "stacked_digits_vae": ["experiment=mode_collapse_stacked_digits", "fix=vae"],
    "stacked_mnist_vanilla": ["experiment=mode_collapse_stacked_mnist", "fix=vanilla"],
}
BEFORE = {
    "dcgan_digits": {
        "generator_params": 150_209,
        "discriminator_params": 133_057,
        "generator_out": (-54.68295555838267, 93.62912270138622),
        "discriminator_out": (-0.08117470145225525, 0.16623640805482864),
    },
    "stacked_digits_vanilla": {
        "generator_params": 187_075,
        "discriminator_params": 9_201,
        "generator_out": (94.02898623023066, 163.13841046436573),
        "discriminator_out": (0.5287460871040821, 0.5287460871040821),
    },
    "stacked_digits_pack2": {
        "generator_params": 187_075,
        "discriminator_params": 9_969,
        "generator_out": (94.02898623023066, 163.13841046436573),
        "discriminator_out": (0.4411579445004463, 0.4411579445004463),
    },
    "stacked_digits_mbstd": {
        "generator_params": 187_075,
        "discriminator_params": 9_205,
        "generator_out": (94.02898623023066, 163.13841046436573),
        "discriminator_out": (0.5210084579885006, 0.5210084579885006),
    },
    "stacked_digits_wgan_gp": {
        "generator_params": 187_075,
        "discriminator_params": 9_201,
        "generator_out": (94.02898623023066, 163.13841046436573),
        "discriminator_out": (-0.7190975844860077, 1.5814385116100311),
    },
    "stacked_digits_vae": {
        "encoder_params": 237_192,
        "decoder_params": 187_075,
        "encoder_out": (-9.347328837146051, 65.72412988205906),
        "decoder_out": (-59.43640239816159, 205.76001402642578),
    },
    "stacked_mnist_vanilla": {
        "generator_params": 780_355,
        "discriminator_params": 10_641,
        "generator_out": (278.7947624681983, 1984.5874853579444),
        "discriminator_out": (-0.1281410977244377, 0.3375742770731449),
    },
}


@pytest.mark.parametrize("case", list(DOCUMENTED))
def test_the_nets_of_documented_experiments_are_unchanged(tmp_path: Path, case: str) -> None:
    cfg = compose_config(tmp_path, DOCUMENTED[case])
    torch.manual_seed(0)
    model = instantiate(cfg.model, _convert_="all")
    model.configure_model()
    model.eval()
    generator = torch.Generator().manual_seed(1)
    z = torch.randn(8, cfg.model.latent_dim, generator=generator)
    x = torch.rand(8, *cfg.data.shape, generator=generator) * 2 - 1
    expected = BEFORE[case]
    for name, net in model.named_nets():
        assert _count(net) == expected[f"{name}_params"], name
        with torch.no_grad():
            out = net(z if name in ("generator", "decoder") else x)
        out = torch.cat([t.flatten() for t in out]) if isinstance(out, tuple) else out.flatten()
        total, magnitude = expected[f"{name}_out"]
        assert out.double().sum().item() == pytest.approx(total, rel=1e-5, abs=1e-6), name
        assert out.double().abs().sum().item() == pytest.approx(magnitude, rel=1e-5), name


def test_a_dcgan_run_saved_before_the_layout_and_augment_switches_resumes(tmp_path: Path) -> None:
    args = [
        "data=digits",  # with the fast tests' 8 channels
        "metrics=none",
        "logger=csv",
        "net.stages=2",
        "net.ends=linear",
        "net.conv_bias=true",
        "net.init=torch",
        "callbacks.samples=null",
    ]
    run = tmp_path / "logs" / "old"
    train_recorded(run, [*args, "iterations=20"], tmp_path)
    # the config as a genlab without net.stages / ends / conv_bias / init and model.augment
    # recorded it
    config_file = run / ".hydra" / "config.yaml"
    config = yaml.safe_load(config_file.read_text())
    del config["model"]["augment"]
    for node in [config["net"], *(v for v in config["net"].values() if isinstance(v, dict))]:
        for key in ("stages", "ends", "conv_bias", "init"):
            node.pop(key, None)
    config_file.write_text(yaml.safe_dump(config))
    train(compose_config(run, [f"resume={run}", "iterations=40"]))
    summary = yaml.safe_load((run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["iterations_done"] == 40
