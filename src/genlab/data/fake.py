"""Tiny stand-ins for downloaded data sets, in the formats torchvision reads, and folders of
images: for the tests, the bench and the GPU check; never used by a run."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np


def write_idx_images(path: Path, images: np.ndarray) -> None:
    """MNIST's idx3 file of uint8 images (N, H, W)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n, h, w = images.shape
    path.write_bytes(struct.pack(">IIII", 2051, n, h, w) + images.astype(np.uint8).tobytes())


def write_idx_labels(path: Path, labels: np.ndarray) -> None:
    """MNIST's idx1 file of uint8 labels (N,)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(struct.pack(">II", 2049, len(labels)) + labels.astype(np.uint8).tobytes())


def make_fake_mnist(root: Path, folder: str = "MNIST", n: int = 40) -> np.ndarray:
    """`n` random 28x28 digits and labels as torchvision's raw training files of `folder`
    (MNIST, FashionMNIST) under root, seeded; returns the images."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    raw = root / folder / "raw"
    write_idx_images(raw / "train-images-idx3-ubyte", images)
    write_idx_labels(raw / "train-labels-idx1-ubyte", rng.integers(0, 10, size=n))
    return images


def make_fake_cifar10(root: Path, per_batch: int = 8) -> None:
    """CIFAR-10's five pickled training batches of `per_batch` random images each, seeded."""
    rng = np.random.default_rng(0)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(1, 6):
        batch = {
            "data": rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8),
            "labels": rng.integers(0, 10, size=per_batch).tolist(),
        }
        with open(folder / f"data_batch_{i}", "wb") as f:
            pickle.dump(batch, f)


def write_random_images(root: Path, count: int, side: int) -> None:
    """`count` random RGB PNG images of side x side under root (seeded; written once)."""
    from PIL import Image

    done = root / ".complete"
    if done.is_file():
        return
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for index in range(count):
        pixels = rng.integers(0, 256, size=(side, side, 3), dtype=np.uint8)
        Image.fromarray(pixels, "RGB").save(root / f"{index:05d}.png")
    done.touch()  # hidden: not an image of the folder


# A folder of real images as a user would have it: MNIST-5k digits in class subfolders.
IMAGE_FOLDER_FORMATS = ("png_grey", "jpeg_rgb", "png_rgba", "png_wide", "bmp_tall")


def make_image_folder(root: Path, per_class: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """`per_class` MNIST-5k digits of each class under root/<digit>/, cycling through
    IMAGE_FOLDER_FORMATS: grey PNG, RGB JPEG, RGBA PNG (white, the digit in the alpha channel),
    and non-square ones (the digit centred on a black 28x36 / 36x28 canvas); plus a note that is
    not an image. Returns the digits (N, 28, 28) uint8 and labels, in the folder's sorted order."""
    from PIL import Image

    from genlab.data.mnist5k import read_mnist5k

    images, labels = read_mnist5k()
    digits, kept = [], []
    for label in range(10):
        picks = (labels == label).nonzero().flatten()[:per_class]
        for i, index in enumerate(picks.tolist()):
            digit = images[index, 0].numpy()
            kind = IMAGE_FOLDER_FORMATS[i % len(IMAGE_FOLDER_FORMATS)]
            folder = root / str(label)
            folder.mkdir(parents=True, exist_ok=True)
            name = folder / f"{i:03d}"
            if kind == "png_grey":
                Image.fromarray(digit, "L").save(f"{name}.png")
            elif kind == "jpeg_rgb":
                Image.fromarray(np.stack([digit] * 3, -1), "RGB").save(f"{name}.jpg", quality=95)
            elif kind == "png_rgba":
                white = np.full((28, 28, 3), 255, np.uint8)
                Image.fromarray(np.dstack([white, digit]), "RGBA").save(f"{name}.png")
            else:
                wide = kind == "png_wide"
                canvas = np.zeros((28, 36) if wide else (36, 28), np.uint8)
                canvas[:, 4:32] = digit if wide else 0
                if not wide:
                    canvas[4:32, :] = digit
                Image.fromarray(canvas, "L").save(f"{name}.{'png' if wide else 'bmp'}")
            digits.append(digit)
            kept.append(label)
    (root / "README.txt").write_text("not an image\n")
    return np.stack(digits), np.array(kept)
