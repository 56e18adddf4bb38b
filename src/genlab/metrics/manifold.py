"""Precision / recall and density / coverage of generated features against real features.

- precision / recall (Kynkaanniemi et al. 2019): torch-fidelity's `metric_prc` (k-NN balls,
  `<=`), generated = features_1, real = features_2, as torch-fidelity's own `calculate_prc`.
- density / coverage (Naeem et al. 2020): the authors' `prdc` package (`compute_prdc`).

Both score the first `num_samples` generated features against a fixed subset of `num_samples`
real features (RandomState(2020), the protocol seed of IS / KID), so every evaluation of a run and
every run of a sweep compares the same real set.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

import numpy as np
import torch

from genlab.metrics.feature_statistics import PROTOCOL_SEED

NAMES = ("precision", "recall", "density", "coverage")


@dataclass(frozen=True)
class ManifoldSettings:
    """Neighbourhood sizes of the two metric pairs and how many samples each set keeps."""

    precision_recall_k: int
    density_coverage_k: int
    num_samples: int

    def __post_init__(self) -> None:
        if min(self.precision_recall_k, self.density_coverage_k) < 1:
            raise ValueError(
                "manifold_metrics.precision_recall_k and density_coverage_k must be >= 1, got"
                f" {self.precision_recall_k} and {self.density_coverage_k}"
            )
        needed = max(self.precision_recall_k, self.density_coverage_k) + 2
        if self.num_samples < needed:
            raise ValueError(
                f"manifold_metrics.num_samples={self.num_samples} is too small for its k-NN balls;"
                f" use at least {needed}"
            )


def real_subset(features: torch.Tensor, num_samples: int) -> torch.Tensor:
    """A fixed subset (at most `num_samples`, original order) of the real features."""
    if len(features) <= num_samples:
        return features
    picks = np.random.RandomState(PROTOCOL_SEED).choice(len(features), num_samples, replace=False)
    return features[torch.from_numpy(np.sort(picks))]


def manifold_metrics(
    generated: torch.Tensor, real: torch.Tensor, settings: ManifoldSettings
) -> dict[str, float]:
    """precision, recall, density and coverage of `generated` (N, D) against `real` (M, D).

    `real` should already be the fixed subset (`real_subset`); `generated` is cut to its first
    `settings.num_samples` rows. Non-finite generated rows count as failures: they lie in no
    real ball (precision, density) and cover nothing (recall, coverage).
    """
    from prdc import compute_prdc
    from torch_fidelity.metric_prc import calculate_precision_recall_full

    generated = generated[: settings.num_samples].float().cpu()
    real = real.float().cpu()
    finite = torch.isfinite(generated).all(dim=1)
    kept = generated[finite]
    share = float(finite.float().mean())
    if len(kept) < settings.precision_recall_k + 2:
        return dict.fromkeys(NAMES, 0.0)
    precision, recall = calculate_precision_recall_full(
        kept, real, settings.precision_recall_k, batch_size=10000
    )
    with contextlib.redirect_stdout(io.StringIO()):  # compute_prdc prints the set sizes
        dc = compute_prdc(real.numpy(), kept.numpy(), settings.density_coverage_k)
    return {
        "precision": precision * share,
        "recall": recall,
        "density": float(dc["density"]) * share,
        "coverage": float(dc["coverage"]),
    }
