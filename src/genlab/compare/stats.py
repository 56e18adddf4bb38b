"""Grouping the jobs of a sweep and the per-group statistics of their final values."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from genlab.compare.jobs import CompareError, Job
from genlab.run.run_record import STATUSES

METRIC_PREFIX = "metrics/"
# the coverage protocol's own order; other metrics follow alphabetically, evaluation time last
PREFERRED = ("modes", "high_quality", "mode_kl", "frechet_2d")
LAST = ("seconds",)
FRACTIONS = {"metrics/high_quality"}
NO_KEY = "(unset)"
# Fewer runs than this give no interval: a bootstrap of 1 or 2 values only reshuffles them.
MIN_RUNS_FOR_INTERVAL = 3
CONFIDENCE = 0.95
RESAMPLES = 9999
BOOTSTRAP_SEED = 0


def _finite(values: list[float]) -> list[float]:
    return [v for v in values if math.isfinite(v)]


def bootstrap_interval(*samples: list[float]) -> tuple[float, float]:
    """95% percentile-bootstrap interval (scipy.stats.bootstrap, seeded) of the mean of one
    sample, or of mean(samples[0]) - mean(samples[1]) with each sample resampled on its own."""
    import numpy as np
    from scipy.stats import bootstrap

    if all(len(set(sample)) == 1 for sample in samples):  # nothing to resample: a point
        point = samples[0][0] - (samples[1][0] if len(samples) > 1 else 0.0)
        return point, point

    def statistic(*arrays: np.ndarray, axis: int = -1) -> np.ndarray:
        means = [np.mean(a, axis=axis) for a in arrays]
        return means[0] - means[1] if len(means) > 1 else means[0]

    result = bootstrap(
        tuple(np.asarray(sample, dtype=np.float64) for sample in samples),
        statistic,
        confidence_level=CONFIDENCE,
        n_resamples=RESAMPLES,
        method="percentile",
        vectorized=True,
        paired=False,
        rng=np.random.default_rng(BOOTSTRAP_SEED),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


@dataclass(frozen=True)
class Stat:
    """Mean, sample standard deviation (ddof=1; 0 for one value) and 95% bootstrap interval of
    the mean (NaN with fewer than MIN_RUNS_FOR_INTERVAL values) of n finite values."""

    mean: float
    std: float
    n: int
    low: float = math.nan
    high: float = math.nan

    @property
    def has_interval(self) -> bool:
        return not (math.isnan(self.low) or math.isnan(self.high))

    @classmethod
    def of(cls, values: list[float], interval: bool = True) -> Stat:
        finite = _finite(values)
        if not finite:
            return cls(math.nan, math.nan, 0)
        std = statistics.stdev(finite) if len(finite) > 1 else 0.0
        low = high = math.nan
        if interval and len(finite) >= MIN_RUNS_FOR_INTERVAL:
            low, high = bootstrap_interval(finite)
        return cls(statistics.fmean(finite), std, len(finite), low, high)


@dataclass(frozen=True)
class Difference:
    """mean(group) - mean(baseline) over their finite values, with a 95% bootstrap interval
    (each group resampled on its own) when both have MIN_RUNS_FOR_INTERVAL values or more."""

    value: float
    low: float
    high: float
    n: int
    n_baseline: int

    @property
    def has_interval(self) -> bool:
        return min(self.n, self.n_baseline) >= MIN_RUNS_FOR_INTERVAL

    @property
    def excludes_zero(self) -> bool:
        return self.has_interval and (self.low > 0 or self.high < 0)

    @classmethod
    def of(cls, values: list[float], baseline: list[float]) -> Difference | None:
        group, base = _finite(values), _finite(baseline)
        if not group or not base:
            return None
        value = statistics.fmean(group) - statistics.fmean(base)
        low = high = math.nan
        if min(len(group), len(base)) >= MIN_RUNS_FOR_INTERVAL:
            low, high = bootstrap_interval(group, base)
        return cls(value, low, high, len(group), len(base))


@dataclass(frozen=True)
class GroupRow:
    """One group of jobs: its label, the statistics of each metric, and the status counts."""

    label: str
    jobs: list[Job]
    stats: dict[str, Stat]
    counts: dict[str, int]

    @property
    def completed(self) -> list[Job]:
        return [job for job in self.jobs if job.status == "completed"]

    def values(self, metric: str) -> list[float]:
        """The metric's final values of the completed jobs that logged it."""
        return [job.values[metric] for job in self.completed if metric in job.values]


def short_name(metric: str) -> str:
    """The metric's name without the `metrics/` prefix."""
    return metric.removeprefix(METRIC_PREFIX)


def is_fraction(metric: str) -> bool:
    """Whether the metric is a fraction shown as a percentage."""
    return metric in FRACTIONS


def varying_keys(jobs: list[Job]) -> list[str]:
    """Override keys whose values differ across jobs, other than seed, in first-seen order."""
    keys = list(dict.fromkeys(key for job in jobs for key in job.overrides))
    return [
        key
        for key in keys
        if key != "seed" and len({job.overrides.get(key, NO_KEY) for job in jobs}) > 1
    ]


def check_group_keys(keys: list[str], jobs: list[Job]) -> None:
    """Raise unless every key is an override key of some job."""
    known = list(dict.fromkeys(key for job in jobs for key in job.overrides))
    unknown = [key for key in keys if key not in known]
    if unknown:
        raise CompareError(
            f"--by {' '.join(unknown)}: not an override of any job; available: "
            f"{', '.join(known) or '(the jobs have no overrides)'}"
        )


def group_jobs(jobs: list[Job], keys: list[str]) -> dict[str, list[Job]]:
    """Jobs by their values of `keys` (label `k=v,k2=v2`, or `all` without keys), job order."""
    groups: dict[str, list[Job]] = {}
    for job in jobs:
        label = ",".join(f"{key}={job.overrides.get(key, NO_KEY)}" for key in keys) or "all"
        groups.setdefault(label, []).append(job)
    return groups


def _metric_order(metric: str) -> tuple[int, int, str]:
    name = short_name(metric)
    if metric.startswith(METRIC_PREFIX) and name in PREFERRED:
        return (0, PREFERRED.index(name), name)
    if metric.startswith(METRIC_PREFIX) and name in LAST:
        return (2, 0, name)
    return (1, 0, metric)


def available_metrics(jobs: list[Job]) -> list[str]:
    """Every final value of the completed jobs, coverage metrics first."""
    names = {key for job in jobs if job.status == "completed" for key in job.values}
    return sorted(names, key=_metric_order)


def default_metrics(jobs: list[Job]) -> list[str]:
    """The `metrics/*` values of the completed jobs, in a stable order."""
    return [m for m in available_metrics(jobs) if m.startswith(METRIC_PREFIX)]


def resolve_metrics(names: list[str], jobs: list[Job]) -> list[str]:
    """Summary keys for metric names given with or without the `metrics/` prefix."""
    available = available_metrics(jobs)
    resolved, unknown = [], []
    for name in names:
        if name in available:
            resolved.append(name)
        elif METRIC_PREFIX + name in available:
            resolved.append(METRIC_PREFIX + name)
        else:
            unknown.append(name)
    if unknown:
        raise CompareError(
            f"--metrics {' '.join(unknown)}: no completed job has it; available: "
            f"{', '.join(short_name(m) for m in available) or '(no completed job yet)'}"
        )
    return list(dict.fromkeys(resolved))


def group_rows(groups: dict[str, list[Job]], metrics: list[str]) -> list[GroupRow]:
    """Statistics over each group's completed jobs, and how many jobs are in each status."""
    rows = []
    for label, jobs in groups.items():
        completed = [job for job in jobs if job.status == "completed"]
        stats = {
            metric: Stat.of([job.values[metric] for job in completed if metric in job.values])
            for metric in metrics
        }
        counts = {status: sum(job.status == status for job in jobs) for status in STATUSES}
        rows.append(GroupRow(label, jobs, stats, counts))
    return rows


def pick_baseline(rows: list[GroupRow], name: str | None) -> GroupRow | None:
    """The row named `name` (a whole label such as `fix=vanilla`, or one value of it such as
    `vanilla`); by default the row whose overrides say vanilla, else the first; None for a
    single group. Raises for a name no group has."""
    if name is None:
        if len(rows) < 2:
            return None
        vanilla = [row for row in rows if "vanilla" in _label_values(row.label)]
        return vanilla[0] if vanilla else rows[0]
    matches = [row for row in rows if row.label == name] or [
        row for row in rows if name in _label_values(row.label)
    ]
    if len(matches) != 1:
        why = "matches several groups" if matches else "is no group of this sweep"
        raise CompareError(
            f"--baseline {name} {why}; groups: {', '.join(row.label for row in rows)}"
        )
    return matches[0]


def _label_values(label: str) -> list[str]:
    return [part.partition("=")[2] for part in label.split(",")]


def differences(
    rows: list[GroupRow], baseline: GroupRow, metrics: list[str]
) -> dict[str, dict[str, Difference | None]]:
    """Per group label (baseline excluded) and metric: its difference to the baseline."""
    return {
        row.label: {m: Difference.of(row.values(m), baseline.values(m)) for m in metrics}
        for row in rows
        if row is not baseline
    }
