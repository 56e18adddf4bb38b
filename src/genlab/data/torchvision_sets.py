"""Files, download and readers for the torchvision image sets genlab trains on."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from genlab.errors import DatasetMissingError


def _read_idx_pair(folder: Path, images: str, labels: str) -> tuple[torch.Tensor, torch.Tensor]:
    from torchvision.datasets.mnist import read_image_file, read_label_file

    return read_image_file(str(folder / images)).unsqueeze(1), read_label_file(str(folder / labels))


def _read_mnist_train(folder: Path) -> tuple[torch.Tensor, torch.Tensor]:
    return _read_idx_pair(folder, "train-images-idx3-ubyte", "train-labels-idx1-ubyte")


def _read_cifar_train(folder: Path) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = [], []
    for i in range(1, 6):
        with open(folder / f"data_batch_{i}", "rb") as f:
            batch = pickle.load(f, encoding="latin1")
        images.append(np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        labels.extend(batch["labels"])
    return torch.from_numpy(np.concatenate(images)), torch.tensor(labels, dtype=torch.long)


@dataclass(frozen=True)
class TorchvisionSet:
    """Where a set's training split lives under the data root, and how to get and read it."""

    torchvision_class: str
    folder: str
    train_files: tuple[str, ...]
    read_train: Callable[[Path], tuple[torch.Tensor, torch.Tensor]]


MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
SETS: dict[str, TorchvisionSet] = {
    "mnist": TorchvisionSet("MNIST", "MNIST/raw", MNIST_FILES, _read_mnist_train),
    "fashion_mnist": TorchvisionSet(
        "FashionMNIST", "FashionMNIST/raw", MNIST_FILES, _read_mnist_train
    ),
    "cifar10": TorchvisionSet(
        "CIFAR10",
        "cifar-10-batches-py",
        tuple(f"data_batch_{i}" for i in range(1, 6)),
        _read_cifar_train,
    ),
}


def lookup(name: str) -> TorchvisionSet:
    """The registry entry for a set name, or a clear error listing the known names."""
    if name not in SETS:
        raise ValueError(f"unknown torchvision data set {name!r}: use one of {', '.join(SETS)}")
    return SETS[name]


def missing_files(name: str, root: str | Path) -> list[str]:
    """The training files of `name` that are not under `root`."""
    spec = lookup(name)
    folder = Path(root) / spec.folder
    return [f for f in spec.train_files if not (folder / f).is_file()]


def download(name: str, root: str | Path) -> None:
    """Fetch the set with torchvision (needs internet)."""
    import torchvision.datasets as tvd

    getattr(tvd, lookup(name).torchvision_class)(str(root), train=True, download=True)


def ensure_files(name: str, root: str | Path, allow_download: bool) -> None:
    """Make sure the training files are on disk, downloading them if allowed.

    Raises DatasetMissingError naming the folder and the files expected, before any training.
    """
    missing = missing_files(name, root)
    if not missing:
        return
    reason = "download is off (data.download=false)"
    if allow_download:
        try:
            download(name, root)
        except Exception as err:  # no network, refused, partial file, ...
            reason = f"the download failed ({type(err).__name__}: {err})"
        missing = missing_files(name, root)
        if not missing:
            return
    folder = (Path(root) / lookup(name).folder).resolve()
    raise DatasetMissingError(
        f"data set {name!r} is not on disk and {reason}.\n"
        f"  expected in {folder}: {', '.join(missing)}\n"
        f"  fix: copy those files there (e.g. from a machine with internet, where"
        f" `genlab-train data={name}` downloads them), or point paths.data_dir at the folder"
        f" that holds {lookup(name).folder.split('/')[0]}/"
    )


def read_train(name: str, root: str | Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Training images (N, C, H, W) uint8 and labels (N,) int64."""
    spec = lookup(name)
    return spec.read_train(Path(root) / spec.folder)
