"""genlab-sample: generating from a trained run's checkpoint (grids, samples, singles, latent walks,
VAE reconstructions, 2-D scatters), seeded, with clear errors for bad input; and the pictures of
stacked digits (each sample's three digits side by side, the evaluator's reading under it) that
genlab-sample and the run's SampleLogger draw."""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import train_recorded
from genlab.sample import run as sample
from genlab.sample import slerp

TINY = ["iterations=4", "log_every_n_iterations=2", "metrics=none", "logger=csv"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny trained runs (their checkpoints): GAN MLP, DCGAN, GAN with EMA, VAE on digits; ring8."""
    root = tmp_path_factory.mktemp("runs")
    settings = {
        "gan": ["data=digits", "net=mlp"],
        "dcgan": ["data=digits", "net=dcgan"],
        "ema": ["data=digits", "net=mlp", "fix=ema"],
        "vae": ["data=digits", "net=mlp", "model=vae"],
        "ring8": ["data=ring8"],
    }
    return {
        name: train_recorded(root / name, [*overrides, *TINY], root)
        for name, overrides in settings.items()
    }


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
    from genlab.run.rebuild import rebuild

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
    from genlab.run.rebuild import rebuild

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
        (["min_image_side=0"], "min_image_side=0: needs a whole number >= 1, or null"),
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
    assert missing.value.code == 2 and "no such file; pass a checkpoint of a genlab run" in (
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


# --- stacked digits drawn for people (callbacks/digit_triples.py) -------------------------------


class FixedSamples:
    """A model that samples `images` whatever the noise: what a picture shows is known."""

    iteration = 7

    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def eval_noise(self, n: int) -> torch.Tensor:
        return torch.zeros(n, 4)

    def sample(self, n: int, z: torch.Tensor) -> torch.Tensor:
        return self.images[:n]


def picture_of(tmp_path: Path, images: torch.Tensor, datamodule: object, callbacks: list) -> bytes:
    """samples.png as the run's SampleLogger writes it (64-pixel rule) at the end of training."""
    from genlab.callbacks.samples import SampleLogger

    logger = SampleLogger(5, len(images), 100, 64, str(tmp_path))
    trainer = SimpleNamespace(
        is_global_zero=True,
        fast_dev_run=False,
        loggers=[],
        callbacks=callbacks,
        datamodule=datamodule,
    )
    logger.on_train_end(trainer, FixedSamples(images))  # type: ignore[arg-type]
    return (tmp_path / "samples.png").read_bytes()


def runs_of(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of each run of True in a 1-D mask."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def test_a_stacked_sample_is_drawn_as_its_three_channels_side_by_side_in_grey() -> None:
    from genlab.callbacks.samples import images_picture

    levels = torch.linspace(-0.9, 0.9, 16).reshape(4, 4)  # never white: the paper around them
    patterns = [levels, levels.T, levels.flip(0)]  # three distinct known channels
    samples = torch.stack([torch.stack(patterns), -torch.stack(patterns)])  # (2, 3, 4, 4)
    picture = images_picture(samples, min_side=8, nrow=2, stacked=True).numpy()
    assert picture.dtype == np.uint8 and (picture[0] == picture[1]).all()  # grey: R = G = B
    assert (picture[0] == picture[2]).all()
    grey = picture[0].astype(np.int16)
    rows, columns = runs_of((grey != 255).any(axis=1)), runs_of((grey != 255).any(axis=0))
    assert [b - a for a, b in rows] == [8]  # one row of digits, each enlarged 2x to 8 pixels
    assert [b - a for a, b in columns] == [8] * 6  # 2 samples x 3 digits, left to right
    top, bottom = rows[0]
    for panel, (left, right) in enumerate(columns):
        index, channel = divmod(panel, 3)
        expected = samples[index, channel].repeat_interleave(2, 0).repeat_interleave(2, 1)
        expected = ((expected + 1) / 2 * 255 + 0.5).floor().numpy()
        assert np.abs(grey[top:bottom, left:right] - expected).max() <= 1, (index, channel)
    inside, between = columns[1][0] - columns[0][1], columns[3][0] - columns[2][1]
    assert 0 < inside < between  # a sample's three digits close together, samples apart


def test_the_evaluators_reading_is_written_under_each_stacked_sample() -> None:
    from genlab.callbacks.digit_triples import readings
    from genlab.callbacks.samples import images_picture

    class Reader:
        def __init__(self, digits: list[list[int]]) -> None:
            self.digits = torch.tensor(digits)

        def read_digits(self, samples: torch.Tensor) -> torch.Tensor:
            return self.digits[: len(samples)]

    assert readings(torch.tensor([[3, 7, 1], [0, 0, 9]])) == ["3-7-1", "0-0-9"]
    samples = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    plain = images_picture(samples, 64, nrow=2, stacked=True).numpy()[0]
    read = images_picture(samples, 64, nrow=2, stacked=True, reader=Reader([[3, 7, 1], [0, 5, 9]]))
    read = read.numpy()[0]
    other = images_picture(samples, 64, nrow=2, stacked=True, reader=Reader([[8, 8, 8], [2, 2, 2]]))
    other = other.numpy()[0]
    assert read.shape[1] == plain.shape[1] and read.shape[0] > plain.shape[0] + 12
    digits_bottom = runs_of((plain != 255).any(axis=1))[0][1]
    assert (read[:digits_bottom] == plain[:digits_bottom]).all()  # the digits as without it
    strip, plain_strip = read[digits_bottom:], plain[digits_bottom:]
    assert (plain_strip == 255).all() and (strip < 128).sum() > 50  # dark text under the digits
    cells = runs_of((plain != 255).any(axis=0))
    for index in range(2):
        left, right = cells[3 * index][0], cells[3 * index + 2][1]
        ink = np.flatnonzero((strip < 128).any(axis=0) & (np.arange(strip.shape[1]) >= left))
        ink = ink[ink < right]
        assert len(ink) > 10  # each sample has its caption, centred under its three digits
        assert abs((ink.min() + ink.max()) / 2 - (left + right) / 2) <= 2
    assert not (other[digits_bottom:] == strip).all()  # the caption is the reading given


def test_pictures_of_other_images_are_unchanged(tmp_path: Path) -> None:
    import hashlib

    from genlab.callbacks.samples import EncodedPicture, image_grid
    from genlab.data.images import DigitsDataModule

    images = torch.sin(torch.arange(12 * 64, dtype=torch.float32).reshape(12, 1, 8, 8) * 0.37)
    digits = DigitsDataModule("digits", 0, 64, 0, [1, 8, 8], True)
    png = picture_of(tmp_path, images, digits, [])
    assert png == EncodedPicture.encode(image_grid(images, 64)).png
    pixels = np.asarray(Image.open(io.BytesIO(png)))
    assert pixels.shape == (134, 530, 3)  # the digest: of these pixels as drawn before stacking
    digest = "73583b5a136c694de05c8514fa63c21dccf3fbcb1afa036260bee64efc28ebce"
    assert hashlib.sha256(pixels.tobytes()).hexdigest() == digest


def test_the_runs_stacked_pictures_carry_its_metrics_evaluators_reading(
    tmp_path: Path, evaluator_cache: Path
) -> None:
    from genlab.callbacks.members import MemberRun, MemberTrainer
    from genlab.callbacks.metrics import MetricsCallback
    from genlab.callbacks.samples import EncodedPicture, SampleLogger, images_picture
    from genlab.data.images import StackedDigitsDataModule
    from genlab.metrics.manifold import ManifoldSettings
    from genlab.metrics.suites import StackedDigitsSuite

    data = StackedDigitsDataModule("stacked_digits", 200, 0, 64, 0, [3, 8, 8], True)
    images = data.reference_batch(6)
    suite = StackedDigitsSuite(30, 64, 1e-3, 50, 100, ManifoldSettings(3, 5, 50))
    suite.setup_evaluator(data, evaluator_cache)  # a quick evaluator: only its reading matters
    metrics = MetricsCallback(suite, 5, 50, 50)
    read = picture_of(tmp_path / "read", images, data, [metrics])
    expected = images_picture(images, 64, stacked=True, reader=suite)
    assert read == EncodedPicture.encode(expected).png
    plain = picture_of(tmp_path / "plain", images, data, [])  # metrics=none: digits, no caption
    assert plain == EncodedPicture.encode(images_picture(images, 64, stacked=True)).png
    assert Image.open(io.BytesIO(read)).height > Image.open(io.BytesIO(plain)).height
    # a member of a batched run sees its own callbacks, so its picture is its plain run's
    logger = SampleLogger(5, 6, 100, 64, str(tmp_path / "member"))
    member = MemberRun(0, FixedSamples(images), data, [metrics, logger], [])  # type: ignore[arg-type]
    batched = SimpleNamespace(is_global_zero=True, fast_dev_run=False, callbacks=[])
    logger.on_train_end(MemberTrainer(batched, member), member.model)  # type: ignore[arg-type]
    assert (tmp_path / "member" / "samples.png").read_bytes() == read


def test_genlab_sample_draws_stacked_digits_with_the_runs_evaluator_reading(
    tmp_path: Path, evaluator_cache: Path
) -> None:
    from omegaconf import OmegaConf

    from genlab import CONF_DIR
    from genlab.callbacks.samples import EncodedPicture, images_picture
    from genlab.data.images import StackedDigitsDataModule
    from genlab.metrics.manifold import ManifoldSettings
    from genlab.metrics.suites import StackedDigitsSuite

    folder = tmp_path / "run"
    overrides = [
        "data=stacked_digits",
        "data.num_samples=200",
        "evaluator.train_steps=30",  # a quick evaluator: only where its reading goes matters
        "metrics.num_samples=50",
        "metrics.suite.num_real_samples=50",
        "manifold_metrics.num_samples=50",
        f"paths.cache_dir={evaluator_cache}",
        *[o for o in TINY if o != "metrics=none"],
    ]
    train_recorded(folder, overrides, tmp_path)
    ckpt = f"ckpt_path={folder / 'checkpoints' / 'last.ckpt'}"
    read = sample([ckpt, "n=6", "nrow=3", f"out={tmp_path / 'read'}"])
    plain = sample([ckpt, "n=6", "nrow=3", "metrics=none", f"out={tmp_path / 'plain'}"])
    samples = torch.from_numpy(np.load(read["samples"]))
    assert samples.shape == (6, 3, 8, 8)
    # the reading of the run's evaluator: the one its metrics trained into the cache
    evaluator = OmegaConf.load(CONF_DIR / "train.yaml").evaluator
    suite = StackedDigitsSuite(
        30, evaluator.batch_size, evaluator.lr, 50, 100, ManifoldSettings(3, 5, 50)
    )
    suite.setup_evaluator(
        StackedDigitsDataModule("stacked_digits", 200, 0, 64, 0, [3, 8, 8], True), evaluator_cache
    )
    expected = images_picture(samples, 64, nrow=3, stacked=True, reader=suite)
    assert read["grid"].read_bytes() == EncodedPicture.encode(expected).png
    unread = images_picture(samples, 64, nrow=3, stacked=True)
    assert plain["grid"].read_bytes() == EncodedPicture.encode(unread).png
