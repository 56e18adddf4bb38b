"""Which metrics a run shows first (closing report, progress bar, job lines) and how."""

from __future__ import annotations

import math
from typing import Any

# Headline metrics first in the closing report and the progress bar, then the rest by name.
HEADLINE = (
    "metrics/modes",
    "metrics/stacked_modes",
    "metrics/stacked_kl",
    "metrics/high_quality",
    "metrics/mode_kl",
)


def ordered_metrics(values: dict[str, Any]) -> list[tuple[str, float]]:
    """The run's final `metrics/*` values, headline first, as (short name, value)."""
    metrics = {
        k: v for k, v in values.items() if k.startswith("metrics/") and k != "metrics/seconds"
    }
    order = sorted(
        metrics, key=lambda k: (HEADLINE.index(k) if k in HEADLINE else len(HEADLINE), k)
    )
    return [(k.removeprefix("metrics/"), float(metrics[k])) for k in order]


def number(value: float) -> str:
    """Four significant digits."""
    return f"{value:.4g}" if math.isfinite(value) else str(value)
