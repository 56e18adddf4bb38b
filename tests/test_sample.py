"""genlab-sample: generating from a trained run's checkpoint (grids, samples, singles, latent walks,
VAE reconstructions, 2-D scatters), seeded, with clear errors for bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import FAST, FAST_CONV, genlab_train_cli
from genlab.sample import run as sample
from genlab.sample import slerp

TINY = ["iterations=4", "log_every_n_iterations=2", "metrics=none", "logger=csv"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny trained runs (their checkpoints): GAN MLP, DCGAN, GAN with EMA, VAE on digits; ring8."""
    root = tmp_path_factory.mktemp("runs")
    settings = {
        "gan": ["data=digits", "net=mlp", *FAST],
        "dcgan": ["data=digits", "net=dcgan", *FAST_CONV],
        "ema": ["data=digits", "net=mlp", "fix=ema", *FAST],
        "vae": ["data=digits", "net=mlp", "model=vae", *FAST],
        "ring8": ["data=ring8", *FAST],
    }
    checkpoints = {}
    for name, overrides in settings.items():
        folder = root / name
        result = genlab_train_cli(root, *overrides, *TINY, f"hydra.run.dir={folder}")
        assert result.returncode == 0, result.stderr[-3000:]
        checkpoints[name] = folder / "checkpoints" / "last.ckpt"
    return checkpoints


def test_the_same_seed_gives_the_same_bytes_and_every_picture_has_its_shape(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    options = ["n=12", "nrow=4", "singles=true", "walk=5", "walk_rows=3"]
    first = sample([f"ckpt_path={runs['gan']}", *options, f"out={tmp_path / 'a'}"])
    again = sample([f"ckpt_path={runs['gan']}", *options, f"out={tmp_path / 'b'}"])
    other = sample([f"ckpt_path={runs['gan']}", *options, "seed=1", f"out={tmp_path / 'c'}"])
    for name in ("samples", "grid", "walk"):
        assert first[name].read_bytes() == again[name].read_bytes()
    assert first["samples"].read_bytes() != other["samples"].read_bytes()
    samples = np.load(first["samples"])
    assert samples.shape == (12, 1, 8, 8) and samples.dtype == np.float32
    assert samples.min() >= -1 and samples.max() <= 1  # tanh output: the data's model space
    cell = 64 + 2  # 8x8 digits enlarged 8x to the runs' 64 pixels, make_grid's 2-pixel padding
    assert Image.open(first["grid"]).size == (4 * cell + 2, 3 * cell + 2)
    assert Image.open(first["walk"]).size == (5 * cell + 2, 3 * cell + 2)
    singles = sorted(first["images"].glob("*.png"))
    assert len(singles) == 12 and Image.open(singles[0]).size == (64, 64)
    assert first["grid"].parent == tmp_path / "a"


def test_a_dcgan_samples_from_its_checkpoint(runs: dict[str, Path], tmp_path: Path) -> None:
    written = sample([f"ckpt_path={runs['dcgan']}", "n=6", f"out={tmp_path}"])
    assert np.load(written["samples"]).shape == (6, 1, 8, 8)
    assert written["grid"].is_file()


def test_a_run_with_ema_samples_from_its_ema_generator(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    from genlab.run.from_checkpoint import rebuild

    written = sample([f"ckpt_path={runs['ema']}", "n=8", "seed=3", f"out={tmp_path}"])
    model = rebuild(runs["ema"], []).model
    z = torch.randn(8, model.latent_dim, generator=torch.Generator().manual_seed(3))
    assert model.generator_ema is not None
    with torch.no_grad():
        model.eval()
        from_ema = model.generator_ema(z)
        from_generator = model.generator(z)
    samples = torch.from_numpy(np.load(written["samples"]))
    assert torch.equal(samples, from_ema.float())
    assert not torch.equal(samples, from_generator.float())  # the EMA weights differ


def test_a_vae_writes_its_reconstructions_beside_the_originals(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    from genlab.run.from_checkpoint import rebuild

    written = sample([f"ckpt_path={runs['vae']}", "n=4", "reconstructions=5", f"out={tmp_path}"])
    cell = 64 + 2
    # 5 pairs, 8 images (4 pairs) a row: original, reconstruction, original, ...
    assert Image.open(written["reconstructions"]).size == (8 * cell + 2, 2 * cell + 2)
    run = rebuild(runs["vae"], [])
    real = run.datamodule.reference_batch(5)
    rebuilt = run.model.reconstruct(real).detach()
    assert rebuilt.shape == real.shape
    picture = np.asarray(Image.open(written["reconstructions"]).convert("L"), dtype=np.int16)

    def cell_at(row: int, column: int) -> np.ndarray:
        top, left = 2 + row * cell, 2 + column * cell
        return picture[top : top + 64, left : left + 64]

    def as_pixels(image: torch.Tensor) -> np.ndarray:  # (1, 8, 8) in [-1, 1] -> 64x64 grey levels
        grey = ((image[0].clamp(-1, 1) + 1) / 2 * 255 + 0.5).floor().numpy().astype(np.int16)
        return grey.repeat(8, axis=0).repeat(8, axis=1)

    for i, (row, column) in enumerate([(0, 0), (0, 2), (0, 4), (0, 6), (1, 0)]):
        assert np.abs(cell_at(row, column) - as_pixels(real[i])).max() <= 1
        assert np.abs(cell_at(row, column + 1) - as_pixels(rebuilt[i])).max() <= 1


def test_2d_data_gets_the_scatter_the_run_draws(runs: dict[str, Path], tmp_path: Path) -> None:
    written = sample([f"ckpt_path={runs['ring8']}", "n=500", f"out={tmp_path}"])
    assert np.load(written["samples"]).shape == (500, 2)
    assert Image.open(written["scatter"]).size == (450, 450)
    assert "grid" not in written


def test_samples_go_into_the_run_folder_by_default(runs: dict[str, Path]) -> None:
    written = sample([f"ckpt_path={runs['ring8']}", "n=10", "seed=7"])
    assert written["samples"].parent == runs["ring8"].parent.parent / "samples" / "last_seed7"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["n=0"], "n=0, nrow=8: both must be at least 1"),
        (["n=ten"], "n=ten: needs a whole number"),
        (["walk=1"], "a walk needs at least 2 frames"),
        (["model.nope=1"], "nope"),
    ],
)
def test_bad_options_exit_2_with_a_message(
    runs: dict[str, Path],
    tmp_path: Path,
    args: list[str],
    message: str,
    capsys: pytest.CaptureFixture,
) -> None:
    with pytest.raises(SystemExit) as stopped:
        sample([f"ckpt_path={runs['gan']}", *args, f"out={tmp_path}"])
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "samples.npy").exists()


def test_a_missing_or_foreign_checkpoint_exits_2(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    with pytest.raises(SystemExit) as missing:
        sample([f"ckpt_path={tmp_path / 'none' / 'checkpoints' / 'last.ckpt'}"])
    assert missing.value.code == 2 and "needs a checkpoint inside a genlab run folder" in (
        capsys.readouterr().err
    )
    foreign = tmp_path / "gan_run"
    shutil.copytree(runs["gan"].parent.parent, foreign)
    shutil.copy(runs["vae"], foreign / "checkpoints" / "last.ckpt")  # a VAE's weights
    with pytest.raises(SystemExit) as wrong:
        sample([f"ckpt_path={foreign / 'checkpoints' / 'last.ckpt'}", f"out={tmp_path / 'o'}"])
    assert wrong.value.code == 2
    assert "do not fit the GAN of this run's config" in capsys.readouterr().err


def test_slerp_keeps_the_ends_and_walks_on_the_sphere() -> None:
    z0, z1 = torch.randn(3, 16), torch.randn(3, 16)
    path = slerp(z0, z1, 7)
    assert path.shape == (3, 7, 16)
    assert torch.allclose(path[:, 0], z0, atol=1e-5) and torch.allclose(path[:, -1], z1, atol=1e-5)
    unit = path / path.norm(dim=2, keepdim=True)
    middle = unit[:, 3]  # halfway: equally far from both ends' directions
    u0, u1 = z0 / z0.norm(dim=1, keepdim=True), z1 / z1.norm(dim=1, keepdim=True)
    assert torch.allclose((middle * u0).sum(1), (middle * u1).sum(1), atol=1e-5)
