"""Image data modules: scikit-learn's bundled digits and torchvision sets, in [-1, 1]."""

from __future__ import annotations

import torch

from genlab.data import torchvision_sets
from genlab.data.base import TensorDataModule

UINT8_SCALE = 2.0 / 255.0  # uint8 pixels -> [-1, 1] with offset -1


class DigitsDataModule(TensorDataModule):
    """scikit-learn's 8x8 digits (1,797 images with 17 grey levels, 0..16), offline."""

    kind = "images"

    def load(self) -> tuple[torch.Tensor, torch.Tensor, float, float]:
        from sklearn.datasets import load_digits

        digits = load_digits()
        images = torch.as_tensor(digits.images, dtype=torch.float32).unsqueeze(1)
        return images, torch.as_tensor(digits.target, dtype=torch.long), 2.0 / 16.0, -1.0


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


class StackedMnistDataModule(TensorDataModule):
    """Stacked MNIST (Metz et al. 2017; PacGAN): three MNIST digits as the R, G, B channels,
    1,000 modes. `num_samples` triples are drawn from the seed; the label is 100 r + 10 g + b."""

    kind = "images"

    def __init__(
        self,
        name: str,
        root: str,
        download: bool,
        num_samples: int,
        seed: int,
        batch_size: int,
        overfit_batches: int,
        shape: list[int],
        bounded: bool,
    ) -> None:
        super().__init__(name, seed, batch_size, overfit_batches, shape, bounded)
        self.root = root
        self.download = download
        self.num_samples = num_samples

    def prepare_data(self) -> None:
        torchvision_sets.ensure_files("mnist", self.root, self.download)

    def digit_images(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The MNIST digits in [-1, 1] (N, 1, 28, 28) and their labels: the evaluator's data."""
        images, labels = torchvision_sets.read_train("mnist", self.root)
        return images.float() * UINT8_SCALE - 1.0, labels

    def load(self) -> tuple[torch.Tensor, torch.Tensor, float, float]:
        images, labels = torchvision_sets.read_train("mnist", self.root)
        generator = torch.Generator().manual_seed(self.seed)
        picks = torch.randint(len(images), (self.num_samples, 3), generator=generator)
        stacked = images[picks].squeeze(2)  # (N, 3, 28, 28)
        modes = labels[picks[:, 0]] * 100 + labels[picks[:, 1]] * 10 + labels[picks[:, 2]]
        return stacked, modes, UINT8_SCALE, -1.0
