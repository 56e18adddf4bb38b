"""Metric suites: what to extract from each sample and how to score a set against the data.

A suite's `extract` runs per rank on that rank's share of the samples; the callback gathers the
features in sample order and every rank calls `score` on the same full set, so a DDP run scores
exactly what one process would.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from genlab.errors import ConfigError
from genlab.metrics import evaluators
from genlab.metrics.coverage import mode_coverage
from genlab.metrics.feature_statistics import (
    GaussianStatistics,
    frechet_distance,
    inception_score,
    kernel_inception_distance,
)

log = logging.getLogger(__name__)


class MetricSuite:
    """Base: extract per-sample features, score a full feature set."""

    def setup(self, datamodule: Any, cache_dir: str | Path) -> None:
        """Load or train extractors and compute the real data's statistics, on the CPU, before
        training (a missing evaluator or weights file stops the run here)."""

    def to(self, device: torch.device) -> None:
        """Move the extractor, if any, to the training device."""
        net = getattr(self, "net", None)
        if net is not None:
            net.to(device)

    def extract(self, samples: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def score(self, features: dict[str, torch.Tensor]) -> dict[str, float]:
        raise NotImplementedError

    def identity(self) -> dict[str, Any]:
        """Facts about the extractor for summary.json."""
        return {}


class CoverageSuite(MetricSuite):
    """Modes captured, high-quality fraction, mode KL, and the Frechet distance of 2-D samples."""

    def __init__(self, high_quality_stds: float, num_real_samples: int) -> None:
        self.high_quality_stds = high_quality_stds
        self.num_real_samples = num_real_samples

    def setup(self, datamodule: Any, cache_dir: str | Path) -> None:
        mixture = getattr(datamodule, "mixture", None)
        if mixture is None:
            raise ConfigError(
                f"metrics=coverage needs a 2-D Gaussian mixture (data=ring8 or grid25), not"
                f" data={datamodule.name}; pick metrics=domain or metrics=inception"
            )
        self.mixture = mixture
        self.real = GaussianStatistics.of(datamodule.reference_batch(self.num_real_samples))

    def extract(self, samples: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"points": samples.reshape(len(samples), -1).float()}

    def score(self, features: dict[str, torch.Tensor]) -> dict[str, float]:
        points = features["points"]
        coverage = mode_coverage(
            points, self.mixture.centres, self.mixture.std, self.high_quality_stds
        )
        finite = points[torch.isfinite(points).all(dim=1)]
        frechet = (
            frechet_distance(GaussianStatistics.of(finite), self.real)
            if len(finite) >= 2
            else float("inf")
        )
        return {
            "modes": float(coverage.modes),
            "high_quality": coverage.high_quality,
            "mode_kl": coverage.mode_kl,
            "frechet_2d": frechet,
        }


def cached_tensor(path: Path, compute: Any) -> torch.Tensor:
    """A tensor cached in `path` (written atomically), computed on a miss."""
    if path.is_file():
        return torch.load(path, map_location="cpu", weights_only=True)
    value = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    torch.save(value, partial)
    partial.replace(path)
    return value


def _batched(fn: Any, images: torch.Tensor, batch_size: int) -> list[Any]:
    return [fn(images[i : i + batch_size]) for i in range(0, len(images), batch_size)]


class DomainSuite(MetricSuite):
    """FID / IS on a genlab-trained classifier of the data set, plus class coverage.

    Names carry the data set (fid_digits, is_digits, classes_digits, class_kl_digits) so they are
    never mistaken for Inception numbers.
    """

    def __init__(
        self,
        train_steps: int,
        train_batch_size: int,
        train_lr: float,
        num_real_samples: int | None,
        is_splits: int,
        batch_size: int,
    ) -> None:
        self.settings = evaluators.EvaluatorSettings(train_steps, train_batch_size, train_lr)
        self.num_real_samples = num_real_samples
        self.is_splits = is_splits
        self.batch_size = batch_size

    def setup(self, datamodule: Any, cache_dir: str | Path) -> None:
        datamodule.setup()
        self.data = datamodule.name
        if datamodule.labels is None or datamodule.kind != "images":
            raise ConfigError(
                f"metrics=domain needs a labelled image data set, not data={self.data}"
            )
        images = datamodule.items()
        self.evaluator = obtain_evaluator(
            self.data, images, datamodule.labels, self.settings, cache_dir
        )
        self.net = self.evaluator.net
        real = images if self.num_real_samples is None else images[: self.num_real_samples]
        name = f"{self.data}-{self.evaluator.content_hash}-{len(real)}.pt"
        features = cached_tensor(
            Path(cache_dir) / "stats" / name, lambda: self.extract(real)["features"]
        )
        self.real = GaussianStatistics.of(features)

    @torch.no_grad()
    def extract(self, samples: torch.Tensor) -> dict[str, torch.Tensor]:
        device = next(self.net.parameters()).device
        parts = _batched(lambda b: self.net(b.to(device)), samples, self.batch_size)
        return {
            "features": torch.cat([f for f, _ in parts]).cpu(),
            "logits": torch.cat([lg for _, lg in parts]).cpu(),
        }

    def score(self, features: dict[str, torch.Tensor]) -> dict[str, float]:
        logits = features["logits"]
        predicted = torch.bincount(logits.argmax(dim=1), minlength=logits.shape[1]).double()
        p = predicted / predicted.sum()
        nonzero = p > 0
        class_kl = float((p[nonzero] * (p[nonzero] * len(p)).log()).sum())
        is_mean, is_std = inception_score(logits, self.is_splits)
        d = self.data
        return {
            f"fid_{d}": frechet_distance(GaussianStatistics.of(features["features"]), self.real),
            f"is_{d}": is_mean,
            f"is_{d}_std": is_std,
            f"classes_{d}": float(int(nonzero.sum())),
            f"class_kl_{d}": class_kl,
        }

    def identity(self) -> dict[str, Any]:
        return self.evaluator.identity()


def obtain_evaluator(
    data: str,
    images: torch.Tensor,
    labels: torch.Tensor,
    settings: evaluators.EvaluatorSettings,
    cache_dir: str | Path,
) -> evaluators.Evaluator:
    """The cached evaluator of `data`, trained (with a progress bar) and cached when missing."""
    path = evaluators.evaluator_path(cache_dir, data, settings)
    if path.is_file():
        return evaluators.load_evaluator(path)
    log.info("no %s evaluator in %s: training one (deterministic)", data, path.parent)
    evaluator = evaluators.train_evaluator(data, images, labels, settings)
    evaluators.save_evaluator(evaluator, path)
    log.info(
        "%s evaluator: held-out accuracy %.4f, hash %s",
        data,
        evaluator.accuracy,
        evaluator.content_hash,
    )
    return evaluator


class InceptionSuite(MetricSuite):
    """FID / IS / KID on torch-fidelity's Inception-v3 protocol (comparable with papers when
    num_samples and num_real_samples match theirs, e.g. 50k)."""

    def __init__(
        self,
        inception_weights: str | None,
        num_real_samples: int | None,
        is_splits: int,
        kid_subsets: int,
        kid_subset_size: int,
        batch_size: int,
    ) -> None:
        self.inception_weights = inception_weights
        self.num_real_samples = num_real_samples
        self.is_splits = is_splits
        self.kid_subsets = kid_subsets
        self.kid_subset_size = kid_subset_size
        self.batch_size = batch_size

    def setup(self, datamodule: Any, cache_dir: str | Path) -> None:
        from genlab.metrics.inception import InceptionFeatures, resolve_weights

        weights = resolve_weights(self.inception_weights)
        self.net = InceptionFeatures(weights)
        datamodule.setup()
        n = len(datamodule.data) if self.num_real_samples is None else self.num_real_samples
        real = datamodule.items(slice(0, n))
        self.real_features = cached_tensor(
            Path(cache_dir) / "stats" / f"{datamodule.name}-inception-{n}.pt",
            lambda: self.extract(real)["pool"],
        )
        self.real = GaussianStatistics.of(self.real_features)

    @torch.no_grad()
    def extract(self, samples: torch.Tensor) -> dict[str, torch.Tensor]:
        from genlab.metrics.inception import to_uint8

        device = next(self.net.parameters()).device
        parts = _batched(lambda b: self.net(to_uint8(b.to(device))), samples, self.batch_size)
        return {
            "pool": torch.cat([p for p, _ in parts]).cpu(),
            "logits": torch.cat([lg for _, lg in parts]).cpu(),
        }

    def score(self, features: dict[str, torch.Tensor]) -> dict[str, float]:
        is_mean, is_std = inception_score(features["logits"], self.is_splits)
        kid_mean, kid_std = kernel_inception_distance(
            features["pool"], self.real_features, self.kid_subsets, self.kid_subset_size
        )
        return {
            "fid": frechet_distance(GaussianStatistics.of(features["pool"]), self.real),
            "is": is_mean,
            "is_std": is_std,
            "kid": kid_mean,
            "kid_std": kid_std,
        }

    def identity(self) -> dict[str, Any]:
        return {"inception_weights": "pt_inception-2015-12-05 (torch-fidelity)"}


class StackedMnistSuite(MetricSuite):
    """Stacked MNIST modes: each colour channel classified by the MNIST evaluator, the three
    digits give one of 1,000 modes. Reported: modes hit (of 1,000) and KL of the mode histogram
    to uniform (nats)."""

    num_modes = 1000

    def __init__(self, train_steps: int, train_batch_size: int, train_lr: float, batch_size: int):
        self.settings = evaluators.EvaluatorSettings(train_steps, train_batch_size, train_lr)
        self.batch_size = batch_size

    def setup(self, datamodule: Any, cache_dir: str | Path) -> None:
        mnist = getattr(datamodule, "digit_images", None)
        if mnist is None:
            raise ConfigError(
                f"metrics=stacked_mnist needs data=stacked_mnist, not data={datamodule.name}"
            )
        images, labels = datamodule.digit_images()
        self.evaluator = obtain_evaluator("mnist", images, labels, self.settings, cache_dir)
        self.net = self.evaluator.net

    @torch.no_grad()
    def extract(self, samples: torch.Tensor) -> dict[str, torch.Tensor]:
        device = next(self.net.parameters()).device
        digits = []
        for channel in range(3):
            parts = _batched(
                lambda b, c=channel: self.net(b[:, c : c + 1].to(device))[1].argmax(dim=1),
                samples,
                self.batch_size,
            )
            digits.append(torch.cat(parts).cpu())
        return {"mode": digits[0] * 100 + digits[1] * 10 + digits[2]}

    def score(self, features: dict[str, torch.Tensor]) -> dict[str, float]:
        counts = torch.bincount(features["mode"], minlength=self.num_modes).double()
        p = counts / counts.sum()
        nonzero = p > 0
        kl = float((p[nonzero] * (p[nonzero] * self.num_modes).log()).sum())
        return {"stacked_modes": float(int(nonzero.sum())), "stacked_kl": kl}

    def identity(self) -> dict[str, Any]:
        return self.evaluator.identity()
