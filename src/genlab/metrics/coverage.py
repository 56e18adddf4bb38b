"""Mode coverage of a 2-D Gaussian mixture (PacGAN / VEEGAN protocol).

A sample is high-quality when its distance to the nearest centre is under
`high_quality_stds` standard deviations; a mode is captured when at least one high-quality
sample lands on it. Reported: modes captured, the fraction of high-quality samples, and the KL
divergence of the high-quality samples' mode histogram to uniform (nats; inf-free: modes with no
samples contribute 0, and with no high-quality sample at all the KL is log K).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Coverage:
    modes: int
    high_quality: float
    mode_kl: float


def mode_coverage(
    samples: torch.Tensor, centres: torch.Tensor, std: float, high_quality_stds: float
) -> Coverage:
    """Coverage of `samples` (N, 2) on the mixture with `centres` (K, 2) and `std`."""
    samples = samples.detach().double().cpu()
    centres = centres.double().cpu()
    distance, nearest = torch.cdist(samples, centres).min(dim=1)
    good = torch.isfinite(distance) & (distance < high_quality_stds * std)
    counts = torch.bincount(nearest[good], minlength=len(centres)).double()
    total = counts.sum().item()
    kl = math.log(len(centres)) if total == 0 else kl_to_uniform(counts)
    return Coverage(int((counts > 0).sum()), total / len(samples), kl)


def kl_to_uniform(counts: torch.Tensor) -> float:
    """KL (nats) of the histogram `counts` (K bins, total > 0) to the uniform distribution on K."""
    p = counts.double() / counts.sum()
    nonzero = p > 0
    return float((p[nonzero] * (p[nonzero] * len(p)).log()).sum())
