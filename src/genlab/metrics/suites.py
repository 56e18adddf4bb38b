"""Metric suites: what to extract from each sample and how to score a set against the data.

A suite's `extract` runs per rank on that rank's share of the samples; the callback gathers the
features in sample order and every rank calls `score` on the same full set, so a DDP run scores
exactly what one process would.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch

from genlab.errors import ConfigError
from genlab.metrics import evaluators
from genlab.metrics.content import content_key
from genlab.metrics.coverage import kl_to_uniform, mode_coverage
from genlab.metrics.feature_statistics import (
    GaussianStatistics,
    frechet_distance,
    inception_score,
    kernel_inception_distance,
)
from genlab.metrics.manifold import ManifoldSettings, manifold_metrics, real_subset

log = logging.getLogger(__name__)


class MetricSuite:
    """Base: extract per-sample features, score a full feature set."""

    def check_inputs(self, datamodule: Any) -> None:
        """Raise ConfigError when the suite cannot score `datamodule`'s data or a file it reads
        is missing; run before the run's folder exists, and first thing in setup()."""

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

    def check_inputs(self, datamodule: Any) -> None:
        if datamodule.capability("mixture") is None:
            raise ConfigError(
                f"metrics=coverage needs a 2-D Gaussian mixture (data=ring8 or grid25), not"
                f" data={datamodule.name}; pick metrics=domain or metrics=inception"
            )

    def setup(self, datamodule: Any, cache_dir: str | Path) -> None:
        self.check_inputs(datamodule)
        self.mixture = datamodule.capability("mixture")
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
    # a name of this process's own: jobs running side by side may compute the same file at once
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    torch.save(value, partial)
    partial.replace(path)
    return value


def _batched(fn: Any, images: torch.Tensor, batch_size: int) -> list[Any]:
    return [fn(images[i : i + batch_size]) for i in range(0, len(images), batch_size)]


class EvaluatorSuite(MetricSuite):
    """A suite on the features of a genlab-trained digit classifier (the domain evaluator): it
    trains or loads the evaluator, caches the real features' statistics, and reports FID and
    precision / recall / density / coverage on them, named for the data set (`fid_<data>`, ...)."""

    def __init__(
        self,
        train_steps: int,
        train_batch_size: int,
        train_lr: float,
        num_real_samples: int | None,
        batch_size: int,
        manifold: ManifoldSettings,
    ) -> None:
        self.settings = evaluators.EvaluatorSettings(train_steps, train_batch_size, train_lr)
        self.num_real_samples = num_real_samples
        self.batch_size = batch_size
        self.manifold = manifold

    def _use_evaluator(
        self,
        data: str,
        digits: str,
        images: torch.Tensor,
        labels: torch.Tensor,
        cache_dir: str | Path,
    ) -> None:
        """Score data set `data` with the evaluator of digit set `digits` (trained or cached)."""
        self.data = data
        self.evaluator = obtain_evaluator(digits, images, labels, self.settings, cache_dir)
        self.net = self.evaluator.net

    def _use_real(self, real: torch.Tensor, cache_name: str, cache_dir: str | Path) -> None:
        """The real side of FID and the manifold metrics: `real`'s features, cached under the
        evaluator's hash and what `real` holds (`cache_name` only names the file)."""
        name = f"{cache_name}-{self.evaluator.content_hash}-{content_key(real)}.pt"
        features = cached_tensor(
            Path(cache_dir) / "stats" / name, lambda: self.extract(real)["features"]
        )
        self.real = GaussianStatistics.of(features)
        self.real_manifold = real_subset(features, self.manifold.num_samples)

    def _fid_and_manifold(self, features: torch.Tensor) -> dict[str, float]:
        d = self.data
        manifold = manifold_metrics(features, self.real_manifold, self.manifold)
        return {
            f"fid_{d}": frechet_distance(GaussianStatistics.of(features), self.real),
            **{f"{name}_{d}": value for name, value in manifold.items()},
        }

    def identity(self) -> dict[str, Any]:
        return self.evaluator.identity()


class DomainSuite(EvaluatorSuite):
    """FID / IS / precision / recall / density / coverage on a genlab-trained classifier of the
    data set, plus class coverage.

    Names carry the data set (fid_digits, is_digits, precision_digits, classes_digits, ...) so
    they are never mistaken for Inception numbers.
    """

    def __init__(self, is_splits: int, **evaluator_suite: Any) -> None:
        super().__init__(**evaluator_suite)
        self.is_splits = is_splits

    def check_inputs(self, datamodule: Any) -> None:
        if datamodule.kind != "images":
            raise ConfigError(
                f"metrics=domain needs a labelled image data set, not data={datamodule.name}"
                f" ({datamodule.kind}); pick metrics=coverage for 2-D mixtures"
            )
        datamodule.setup()
        if datamodule.labels is None:
            raise ConfigError(
                f"metrics=domain trains a classifier of the data's labels, and data="
                f"{datamodule.name} has none (a folder of images has labels when its first-level"
                " subfolders are classes and data.labels=true); pick metrics=inception"
            )

    def setup(self, datamodule: Any, cache_dir: str | Path) -> None:
        self.check_inputs(datamodule)
        images = datamodule.items()
        self._use_evaluator(datamodule.name, datamodule.name, images, datamodule.labels, cache_dir)
        real = images if self.num_real_samples is None else images[: self.num_real_samples]
        self._use_real(real, self.data, cache_dir)

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
        predicted = torch.bincount(logits.argmax(dim=1), minlength=logits.shape[1])
        is_mean, is_std = inception_score(logits, self.is_splits)
        d = self.data
        return {
            **self._fid_and_manifold(features["features"]),
            f"is_{d}": is_mean,
            f"is_{d}_std": is_std,
            f"classes_{d}": float(int((predicted > 0).sum())),
            f"class_kl_{d}": kl_to_uniform(predicted),
        }


def obtain_evaluator(
    data: str,
    images: torch.Tensor,
    labels: torch.Tensor,
    settings: evaluators.EvaluatorSettings,
    cache_dir: str | Path,
) -> evaluators.Evaluator:
    """The cached evaluator of `data`, trained (with a progress bar) and cached when missing."""
    path = evaluators.evaluator_path(cache_dir, data, settings, images, labels)
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
    num_samples and num_real_samples match theirs, e.g. 50k), and precision / recall / density /
    coverage on the same 2048-d pool features (named *_inception: the papers that define them
    use VGG-16 features, so these are not their numbers)."""

    def __init__(
        self,
        inception_weights: str | None,
        reference_stats: str | None,
        num_real_samples: int | None,
        is_splits: int,
        kid_subsets: int,
        kid_subset_size: int,
        batch_size: int,
        manifold: ManifoldSettings,
    ) -> None:
        self.inception_weights = inception_weights
        self.reference_stats = reference_stats
        self.reference_source: str | None = None
        self.num_real_samples = num_real_samples
        self.is_splits = is_splits
        self.kid_subsets = kid_subsets
        self.kid_subset_size = kid_subset_size
        self.batch_size = batch_size
        self.manifold = manifold

    def check_inputs(self, datamodule: Any) -> None:
        from genlab.metrics.inception import load_reference, resolve_weights

        if datamodule is not None and datamodule.kind != "images":  # None: reference_stats only
            raise ConfigError(
                f"metrics=inception scores images, not data={datamodule.name}"
                f" ({datamodule.kind}); pick metrics=coverage for 2-D mixtures"
            )
        resolve_weights(self.inception_weights)  # downloads them where there is internet
        if self.reference_stats is not None:
            load_reference(self.reference_stats)

    def setup(self, datamodule: Any, cache_dir: str | Path) -> None:
        from genlab.metrics.inception import InceptionFeatures, load_reference, resolve_weights

        self.check_inputs(datamodule)
        weights = resolve_weights(self.inception_weights)
        self.net = InceptionFeatures(weights)
        if self.reference_stats is not None:  # computed once by genlab-fid --save-stats
            self.real_features, self.reference_source = load_reference(self.reference_stats)
        else:  # the training images, cached under what they are
            datamodule.setup()
            n = len(datamodule.data) if self.num_real_samples is None else self.num_real_samples
            real = datamodule.items(slice(0, n))
            self.real_features = cached_tensor(
                Path(cache_dir) / "stats" / f"{datamodule.name}-inception-{content_key(real)}.pt",
                lambda: self.extract(real)["pool"],
            )
        self.real = GaussianStatistics.of(self.real_features)
        self.real_manifold = real_subset(self.real_features, self.manifold.num_samples)

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
        manifold = manifold_metrics(features["pool"], self.real_manifold, self.manifold)
        return {
            "fid": frechet_distance(GaussianStatistics.of(features["pool"]), self.real),
            "is": is_mean,
            "is_std": is_std,
            "kid": kid_mean,
            "kid_std": kid_std,
            **{f"{name}_inception": value for name, value in manifold.items()},
        }

    def identity(self) -> dict[str, Any]:
        identity = {"inception_weights": "pt_inception-2015-12-05 (torch-fidelity)"}
        if self.reference_source is not None:
            identity["reference_stats"] = f"{self.reference_stats} ({self.reference_source})"
        return identity


class StackedDigitsSuite(EvaluatorSuite):
    """Stacked digits (Stacked MNIST, stacked 8x8 digits): each colour channel classified by the
    domain evaluator of the digit set, the three digits give one of 1,000 modes.

    Reported: modes hit (of 1,000), KL of the mode histogram to uniform (nats), and FID /
    precision / recall / density / coverage on the three channels' evaluator features side by
    side (3 x 128-d), named for the data set (fid_stacked_digits, ...): domain numbers, not
    Inception ones.
    """

    num_modes = 1000

    def check_inputs(self, datamodule: Any) -> None:
        if datamodule.capability("digit_set") is None:
            raise ConfigError(
                f"metrics=stacked_digits / stacked_mnist need stacked digits (data=stacked_digits"
                f" or data=stacked_mnist), not data={datamodule.name}"
            )

    def setup(self, datamodule: Any, cache_dir: str | Path) -> None:
        self.setup_evaluator(datamodule, cache_dir)
        real = datamodule.reference_batch(self.num_real_samples)
        self._use_real(real, f"{self.data}-{datamodule.seed}", cache_dir)

    def setup_evaluator(self, datamodule: Any, cache_dir: str | Path) -> None:
        """Only the evaluator that reads each channel (cached, or trained and cached, as `setup`
        does): enough for `read_digits`, not for `score`."""
        self.check_inputs(datamodule)
        digit_set = datamodule.capability("digit_set")
        digits = digit_set()
        self._use_evaluator(datamodule.name, digits.name, digits.images, digits.labels, cache_dir)

    def read_digits(self, samples: torch.Tensor) -> torch.Tensor:
        """Each sample's three digits (N, 3) as the evaluator reads them: its counted mode."""
        mode = self.extract(samples)["mode"]
        return torch.stack([mode // 100, mode // 10 % 10, mode % 10], dim=1)

    @torch.no_grad()
    def extract(self, samples: torch.Tensor) -> dict[str, torch.Tensor]:
        device = next(self.net.parameters()).device
        features, digits = [], []
        for channel in range(3):
            parts = _batched(
                lambda b, c=channel: self.net(b[:, c : c + 1].to(device)), samples, self.batch_size
            )
            features.append(torch.cat([f for f, _ in parts]).cpu())
            digits.append(torch.cat([lg.argmax(dim=1) for _, lg in parts]).cpu())
        return {
            "features": torch.cat(features, dim=1),
            "mode": digits[0] * 100 + digits[1] * 10 + digits[2],
        }

    def score(self, features: dict[str, torch.Tensor]) -> dict[str, float]:
        counts = torch.bincount(features["mode"], minlength=self.num_modes)
        return {
            "stacked_modes": float(int((counts > 0).sum())),
            "stacked_kl": kl_to_uniform(counts),
            **self._fid_and_manifold(features["features"]),
        }
