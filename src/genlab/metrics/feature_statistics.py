"""FID, IS and KID from feature sets, in float64, on torch-fidelity's protocol.

- FID: Frechet distance of Gaussians fitted to two feature sets (mean, unbiased covariance);
  trace of the matrix square root from the eigenvalues of sigma_1 sigma_2, as torch-fidelity does.
- IS: exp(E KL(p(y|x) || p(y))) from logits, over `splits` equal chunks after a fixed shuffle
  (numpy RandomState(2020) permutation), mean and std over the chunks.
- KID: unbiased MMD^2 with the cubic polynomial kernel (gamma = 1 / dim, coef0 = 1), mean and std
  over `subsets` random subsets of `subset_size` (RandomState(2020)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

PROTOCOL_SEED = 2020  # torch-fidelity's rng_seed, for the IS shuffle and the KID subsets


@dataclass(frozen=True)
class GaussianStatistics:
    """Mean and covariance of a feature set, float64."""

    mu: np.ndarray
    sigma: np.ndarray
    count: int

    @classmethod
    def of(cls, features: torch.Tensor | np.ndarray) -> GaussianStatistics:
        feats = np.asarray(features.cpu() if torch.is_tensor(features) else features, np.float64)
        if feats.ndim != 2 or feats.shape[0] < 2:
            raise ValueError(f"need a (N >= 2, D) feature matrix, got shape {feats.shape}")
        return cls(feats.mean(axis=0), np.cov(feats, rowvar=False), feats.shape[0])


def frechet_distance(a: GaussianStatistics, b: GaussianStatistics) -> float:
    """||mu_a - mu_b||^2 + tr(S_a) + tr(S_b) - 2 tr((S_a S_b)^(1/2))."""
    diff = a.mu - b.mu
    eigenvalues = np.linalg.eigvals(np.atleast_2d(a.sigma).dot(np.atleast_2d(b.sigma)))
    tr_covmean = np.sum(np.sqrt(eigenvalues.astype(np.complex128)).real)
    return float(
        diff.dot(diff)
        + np.trace(np.atleast_2d(a.sigma))
        + np.trace(np.atleast_2d(b.sigma))
        - 2 * tr_covmean
    )


def inception_score(logits: torch.Tensor, splits: int) -> tuple[float, float]:
    """(mean, std) of the Inception Score over `splits` chunks of a fixed shuffle."""
    n = logits.shape[0]
    if n < splits:
        raise ValueError(f"inception score needs at least {splits} samples, got {n}")
    order = np.random.RandomState(PROTOCOL_SEED).permutation(n)
    logits = logits.detach().cpu()[torch.from_numpy(order)].double()
    p, log_p = logits.softmax(dim=1), logits.log_softmax(dim=1)
    scores = []
    for i in range(splits):
        chunk = slice(i * n // splits, (i + 1) * n // splits)
        marginal = p[chunk].mean(dim=0, keepdim=True)
        kl = (p[chunk] * (log_p[chunk] - marginal.log())).sum(dim=1).mean()
        scores.append(kl.exp().item())
    return float(np.mean(scores)), float(np.std(scores))


def _polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def _unbiased_mmd2(k_xx: np.ndarray, k_xy: np.ndarray, k_yy: np.ndarray) -> float:
    m = k_xx.shape[0]
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2 * k_xy.sum() / (m * m))


def kernel_inception_distance(
    features_a: torch.Tensor, features_b: torch.Tensor, subsets: int, subset_size: int
) -> tuple[float, float]:
    """(mean, std) of the unbiased polynomial-kernel MMD^2 over random subsets."""
    a = np.asarray(features_a.cpu(), np.float64)
    b = np.asarray(features_b.cpu(), np.float64)
    if min(len(a), len(b)) < subset_size:
        raise ValueError(
            f"KID subset_size {subset_size} is larger than a feature set ({len(a)}, {len(b)});"
            " lower metrics.kid_subset_size or raise metrics.num_samples"
        )
    rng = np.random.RandomState(PROTOCOL_SEED)
    values = []
    for _ in range(subsets):
        x = a[rng.choice(len(a), subset_size, replace=False)]
        y = b[rng.choice(len(b), subset_size, replace=False)]
        values.append(
            _unbiased_mmd2(
                _polynomial_kernel(x, x), _polynomial_kernel(x, y), _polynomial_kernel(y, y)
            )
        )
    return float(np.mean(values)), float(np.std(values))
