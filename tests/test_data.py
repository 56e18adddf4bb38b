"""Data modules: toy mixtures, torchvision files made by the test, the offline message."""

from __future__ import annotations

import pickle
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import make_fake_cifar10, make_fake_mnist
from genlab.data import torchvision_sets
from genlab.data.images import TorchvisionDataModule
from genlab.data.tensor_batches import IterationSchedule, TensorBatches
from genlab.data.toy import GaussianMixture2D, GaussianMixtureDataModule
from genlab.errors import DatasetMissingError


def test_ring_and_grid_mixtures_follow_the_protocol() -> None:
    ring = GaussianMixture2D.ring(8, 1.0, 0.01)
    assert torch.allclose(ring.centres.norm(dim=1), torch.ones(8))
    grid = GaussianMixture2D.grid(25, 2.0, 0.05)
    assert sorted(set(grid.centres[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]
    points, modes = grid.sample(5000, torch.Generator().manual_seed(0))
    distance = (points - grid.centres[modes]).norm(dim=1)
    assert distance.mean().item() == pytest.approx(0.05 * (np.pi / 2) ** 0.5, rel=0.05)
    with pytest.raises(ValueError, match="square number"):
        GaussianMixture2D.grid(24, 2.0, 0.05)


def test_toy_data_is_fixed_by_the_seed() -> None:
    def load(seed: int) -> torch.Tensor:
        dm = GaussianMixtureDataModule(
            "ring", 8, 1.0, None, 0.01, 1000, "ring8", seed, 64, 0, [2], False
        )
        dm.setup()
        return dm.data

    assert torch.equal(load(0), load(0))
    assert not torch.equal(load(0), load(1))


def test_tensor_batches_blocks_and_exact_resume() -> None:
    data = torch.arange(50, dtype=torch.float32).unsqueeze(1)

    def batches(start: int = 0, per_batch: int = 1) -> TensorBatches:
        schedule = IterationSchedule(100, per_batch, [])
        return TensorBatches(data, 8, 3, schedule, 0, 1.0, 0.0, shuffle=True, start=lambda: start)

    stream = iter(batches())
    blocks = [next(stream)[0] for _ in range(7)]
    assert blocks[0].shape == (3, 8, 1)
    # one epoch is 6 batches of 8 distinct items out of 50 (drop-last), then a new order
    first_epoch = torch.cat([b.flatten() for b in blocks[:2]])
    assert len(set(first_epoch.tolist())) == 48
    second_epoch = torch.cat([b.flatten() for b in blocks[2:4]])
    assert not torch.equal(first_epoch, second_epoch)
    # a loader started at iteration 4 yields exactly what the straight stream yields from 4
    resumed = iter(batches(start=4))
    for expected in blocks[4:]:
        assert torch.equal(next(resumed)[0], expected)
    # several iterations per batch hold the same data, iteration by iteration
    chunked = next(iter(batches(start=2, per_batch=4)))
    assert chunked.shape == (4, 3, 8, 1)
    for i in range(4):
        assert torch.equal(chunked[i], blocks[2 + i])
    with pytest.raises(ValueError, match="batch_size 64 is larger"):
        TensorBatches(data, 64, 1, IterationSchedule(1, 1, []), 0, 1.0, 0.0, True)


def test_the_training_loaders_are_resumable_in_lightnings_terms() -> None:
    """Lightning calls a loader resumable when it has state_dict / load_state_dict (else a
    mid-epoch resume warns); genlab's hold no state: they continue at the model's iteration."""
    from lightning.fabric.utilities.types import _Stateful

    from genlab.data.members import MemberBatches

    data = torch.arange(50, dtype=torch.float32).unsqueeze(1)
    plain = TensorBatches(data, 8, 1, IterationSchedule(10, 1, []), 0, 1.0, 0.0, True)
    for loader in (plain, MemberBatches([plain, plain])):
        assert isinstance(loader, _Stateful)
        assert loader.state_dict() == {}
        loader.load_state_dict({})


def test_iteration_schedule_ends_batches_at_every_cadence() -> None:
    schedule = IterationSchedule(total=23, iterations_per_batch=8, cadences=[5, 10])
    ends, start = [], 0
    while (length := schedule.batch_length(start)) > 0:
        start += length
        ends.append(start)
    assert ends == [5, 10, 15, 20, 23]
    assert schedule.num_batches() == 5 and schedule.num_batches(start=20) == 1
    wide = IterationSchedule(total=100, iterations_per_batch=25, cadences=[50, 1000])
    assert wide.num_batches() == 4 and wide.batch_length(90) == 10
    with pytest.raises(ValueError, match="iterations_per_batch must be >= 1"):
        IterationSchedule(10, 0, [])


@pytest.mark.parametrize(
    ("name", "folder"), [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")]
)
def test_fake_mnist_idx_files_load(tmp_path: Path, name: str, folder: str) -> None:
    images = make_fake_mnist(tmp_path, folder)
    dm = TorchvisionDataModule(name, str(tmp_path), False, 0, 16, 0, [1, 28, 28], True)
    dm.prepare_data()
    dm.setup()
    assert dm.data.shape == (40, 1, 28, 28) and dm.data.dtype == torch.uint8
    assert np.array_equal(dm.data[:, 0].numpy(), images)
    batch = dm.reference_batch(5)
    assert batch.min() >= -1 and batch.max() <= 1


def test_fake_cifar10_batches_load(tmp_path: Path) -> None:
    make_fake_cifar10(tmp_path)
    dm = TorchvisionDataModule("cifar10", str(tmp_path), False, 0, 8, 0, [3, 32, 32], True)
    dm.prepare_data()
    dm.setup()
    assert dm.data.shape == (40, 3, 32, 32)
    with open(tmp_path / "cifar-10-batches-py" / "data_batch_1", "rb") as f:
        first = pickle.load(f)["data"][0]  # CIFAR rows: the red plane, then green, then blue
    assert np.array_equal(dm.data[0].numpy(), first.reshape(3, 32, 32))


def test_missing_dataset_offline_names_folder_and_files(tmp_path: Path) -> None:
    dm = TorchvisionDataModule("mnist", str(tmp_path), False, 0, 16, 0, [1, 28, 28], True)
    with pytest.raises(DatasetMissingError) as err:
        dm.prepare_data()
    message = str(err.value)
    assert str((tmp_path / "MNIST" / "raw").resolve()) in message
    assert "train-images-idx3-ubyte" in message and "train-labels-idx1-ubyte" in message
    assert "data.download=false" in message and "paths.data_dir" in message


def test_failed_download_is_reported_with_its_reason(tmp_path: Path, monkeypatch) -> None:
    def offline(name: str, root: str) -> None:
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torchvision_sets, "download", offline)
    with pytest.raises(DatasetMissingError, match="download failed.*no network"):
        torchvision_sets.ensure_files("cifar10", tmp_path, allow_download=True)


@pytest.mark.parametrize(
    ("data", "maker"),
    [
        ("mnist", make_fake_mnist),
        ("fashion_mnist", lambda r: make_fake_mnist(r, "FashionMNIST")),
        ("cifar10", make_fake_cifar10),
    ],
)
@pytest.mark.parametrize("model", ["gan", "wgan_gp", "vae"])
def test_torchvision_sets_train_on_fake_files(run_train, tmp_path, data, maker, model) -> None:
    maker(tmp_path / "data")
    summary = run_train(
        f"data={data}",
        f"model={model}",
        "iterations=2",
        "data.batch_size=8",
        "data.download=false",
        "metrics=none",
    )
    assert summary["status"] == "completed" and summary["iterations_done"] == 2
