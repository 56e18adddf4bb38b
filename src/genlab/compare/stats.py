"""Grouping the jobs of a sweep and the per-group statistics of their final values."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from genlab.compare.jobs import CompareError, Job
from genlab.run_record import STATUSES

METRIC_PREFIX = "metrics/"
# the coverage protocol's own order; other metrics follow alphabetically, evaluation time last
PREFERRED = ("modes", "high_quality", "mode_kl", "frechet_2d")
LAST = ("seconds",)
FRACTIONS = {"metrics/high_quality"}
NO_KEY = "(unset)"


@dataclass(frozen=True)
class Stat:
    """Mean and sample standard deviation (ddof=1; 0 for one value) of n values."""

    mean: float
    std: float
    n: int

    @classmethod
    def of(cls, values: list[float]) -> Stat:
        finite = [v for v in values if math.isfinite(v)]
        if not finite:
            return cls(math.nan, math.nan, 0)
        std = statistics.stdev(finite) if len(finite) > 1 else 0.0
        return cls(statistics.fmean(finite), std, len(finite))


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
