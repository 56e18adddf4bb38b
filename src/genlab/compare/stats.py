"""Grouping the jobs of a sweep and the per-group statistics of their final values."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from genlab.compare.jobs import CompareError, Job
from genlab.run.config import WHERE_AND_HOW
from genlab.run.folder import STATUSES

METRIC_PREFIX = "metrics/"
# the coverage protocol's own order; other metrics follow alphabetically, evaluation time last
PREFERRED = ("modes", "high_quality", "mode_kl", "frechet_2d")
LAST = ("seconds",)
FRACTIONS = {"metrics/high_quality"}
NO_KEY = "(unset)"
CONFIDENCE = 0.95
# The t interval of a mean needs a sample std: from 2 values on (it is then very wide, as it
# should be). A bootstrap of 1 or 2 values only reshuffles them: its intervals start at 3.
MIN_RUNS_FOR_INTERVAL = 2
MIN_RUNS_FOR_BOOTSTRAP = 3
# Below this many completed seeds per arm the table warns: the protocol's 10 (the mode-collapse
# papers' count), where Welch's t-test at the 5% level has 80% power for a difference of about
# 1.3 sd (2 sd at 5 seeds); see docs/studies.md, "Study protocol".
RECOMMENDED_RUNS = 10
RESAMPLES = 9999
BOOTSTRAP_SEED = 0
IQM_CUT = 0.25  # the interquartile mean drops the lowest and highest quarter (rliable's IQM)

HIGHER, LOWER = 1, -1
# Which way a metric improves, by its name without the metrics/ prefix: the first pattern (fnmatch)
# that matches decides; a metric no pattern matches has no direction. The one place this is said.
DIRECTIONS: tuple[tuple[tuple[str, ...], int | None], ...] = (
    (("*_std",), None),  # a score's spread over splits or subsets: neither way is better
    (
        (
            "modes",
            "*_modes",
            "high_quality",
            "classes_*",
            "is",
            "is_*",
            "precision*",
            "recall*",
            "density*",
            "coverage*",
        ),
        HIGHER,
    ),
    (("mode_kl", "*_kl", "*_kl_*", "fid", "fid_*", "frechet*", "kid", "kid_*"), LOWER),
)


def _finite(values: list[float]) -> list[float]:
    return [v for v in values if math.isfinite(v)]


def patterns_of(way: int | None) -> list[str]:
    """The name patterns of DIRECTIONS that give a metric the direction `way`."""
    return [pattern for patterns, found in DIRECTIONS if found == way for pattern in patterns]


def direction(metric: str) -> int | None:
    """HIGHER or LOWER when that way is better for the metric (DIRECTIONS), else None."""
    name = short_name(metric)
    for patterns, way in DIRECTIONS:
        if any(fnmatchcase(name, pattern) for pattern in patterns):
            return way
    return None


def t_interval(values: list[float]) -> tuple[float, float]:
    """95% Student-t interval of the mean of n >= 2 values: mean ± t(0.975, n-1) s / sqrt(n)."""
    from scipy.stats import t

    n = len(values)
    mean, std = statistics.fmean(values), statistics.stdev(values)
    half = float(t.ppf(0.5 + CONFIDENCE / 2, n - 1)) * std / math.sqrt(n)
    return mean - half, mean + half


def welch_interval(values: list[float], baseline: list[float]) -> tuple[float, float]:
    """95% Welch interval of mean(values) - mean(baseline) (n >= 2 each): the difference ±
    t(0.975, df) sqrt(s1^2/n1 + s2^2/n2), df by Welch-Satterthwaite; a point when both
    samples are constant."""
    from scipy.stats import t

    terms = [statistics.variance(x) / len(x) for x in (values, baseline)]
    value = statistics.fmean(values) - statistics.fmean(baseline)
    if sum(terms) == 0:
        return value, value
    df = sum(terms) ** 2 / sum(
        term**2 / (len(x) - 1) for term, x in zip(terms, (values, baseline), strict=True)
    )
    half = float(t.ppf(0.5 + CONFIDENCE / 2, df)) * math.sqrt(sum(terms))
    return value - half, value + half


def iqm(values: list[float]) -> float:
    """Interquartile mean: the mean of the values left after dropping the lowest and highest
    quarter (int(n / 4) each side; scipy.stats.trim_mean(x, 0.25), as rliable defines it)."""
    from scipy.stats import trim_mean

    return float(trim_mean(values, IQM_CUT))


def probability_of_improvement(
    values: list[float], baseline: list[float], way: int | None
) -> float:
    """P(X better than Y) + 0.5 P(X = Y) over all pairs of a value X of `values` and Y of
    `baseline` (the Mann-Whitney U statistic / (n m), rliable's probability of improvement);
    better is higher unless `way` is LOWER (no direction: higher)."""
    sign = -1.0 if way == LOWER else 1.0
    wins = sum(
        1.0 if sign * x > sign * y else 0.5 if x == y else 0.0 for x in values for y in baseline
    )
    return wins / (len(values) * len(baseline))


def _iqm_statistic(sample: Any, axis: int = -1) -> Any:
    from scipy.stats import trim_mean

    return trim_mean(sample, IQM_CUT, axis=axis)


def _improvement_statistic(sign: float) -> Any:
    import numpy as np

    def statistic(values: Any, baseline: Any, axis: int = -1) -> Any:
        x = np.moveaxis(sign * values, axis, -1)[..., :, None]
        y = np.moveaxis(sign * baseline, axis, -1)[..., None, :]
        return ((x > y) + 0.5 * (x == y)).mean(axis=(-2, -1))

    return statistic


def bootstrap_interval(statistic: Any, *samples: list[float]) -> tuple[float, float]:
    """95% percentile-bootstrap interval (scipy.stats.bootstrap, 9,999 resamples, seeded) of a
    vectorised statistic of one or more samples, each resampled on its own."""
    import numpy as np
    from scipy.stats import bootstrap

    result = bootstrap(
        tuple(np.asarray(sample, dtype=np.float64) for sample in samples),
        statistic,
        confidence_level=CONFIDENCE,
        n_resamples=RESAMPLES,
        batch=1000,  # bounds the pairwise comparisons of the probability of improvement
        method="percentile",
        vectorized=True,
        paired=False,
        rng=np.random.default_rng(BOOTSTRAP_SEED),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def iqm_interval(values: list[float]) -> tuple[float, float]:
    """95% percentile-bootstrap interval of the IQM over the values (rliable's stratified
    bootstrap with one task)."""
    if len(set(values)) == 1:  # every resample is the same: a point
        return values[0], values[0]
    return bootstrap_interval(_iqm_statistic, values)


def improvement_interval(
    values: list[float], baseline: list[float], way: int | None
) -> tuple[float, float]:
    """95% percentile-bootstrap interval of probability_of_improvement, each sample resampled
    on its own."""
    if len(set(values)) == 1 and len(set(baseline)) == 1:
        point = probability_of_improvement(values, baseline, way)
        return point, point
    sign = -1.0 if way == LOWER else 1.0
    return bootstrap_interval(_improvement_statistic(sign), values, baseline)


@dataclass(frozen=True)
class Stat:
    """Mean, sample standard deviation (ddof=1; 0 for one value) and 95% t interval of the
    mean (NaN below MIN_RUNS_FOR_INTERVAL values) of n finite values; with `robust`, also
    their interquartile mean and its 95% bootstrap interval (NaN below MIN_RUNS_FOR_BOOTSTRAP)."""

    mean: float
    std: float
    n: int
    low: float = math.nan
    high: float = math.nan
    iqm: float = math.nan
    iqm_low: float = math.nan
    iqm_high: float = math.nan

    @property
    def has_interval(self) -> bool:
        return not (math.isnan(self.low) or math.isnan(self.high))

    @property
    def has_iqm_interval(self) -> bool:
        return not (math.isnan(self.iqm_low) or math.isnan(self.iqm_high))

    @classmethod
    def of(cls, values: list[float], interval: bool = True, robust: bool = False) -> Stat:
        finite = _finite(values)
        if not finite:
            return cls(math.nan, math.nan, 0)
        n = len(finite)
        std = statistics.stdev(finite) if n > 1 else 0.0
        low = high = iqm_value = iqm_low = iqm_high = math.nan
        if interval and n >= MIN_RUNS_FOR_INTERVAL:
            low, high = t_interval(finite)
        if robust:
            iqm_value = iqm(finite)
            if interval and n >= MIN_RUNS_FOR_BOOTSTRAP:
                iqm_low, iqm_high = iqm_interval(finite)
        return cls(statistics.fmean(finite), std, n, low, high, iqm_value, iqm_low, iqm_high)


@dataclass(frozen=True)
class Difference:
    """A group against the baseline over their finite values: mean(group) - mean(baseline)
    with its 95% Welch interval (both groups with MIN_RUNS_FOR_INTERVAL values or more), and
    the probability of improvement (`direction`: which way is better, None: P(group >
    baseline)) with its 95% bootstrap interval (from MIN_RUNS_FOR_BOOTSTRAP values each)."""

    value: float
    low: float
    high: float
    n: int
    n_baseline: int
    direction: int | None = None
    improvement: float = math.nan
    improvement_low: float = math.nan
    improvement_high: float = math.nan

    @property
    def has_interval(self) -> bool:
        return min(self.n, self.n_baseline) >= MIN_RUNS_FOR_INTERVAL

    @property
    def has_improvement_interval(self) -> bool:
        return min(self.n, self.n_baseline) >= MIN_RUNS_FOR_BOOTSTRAP

    @property
    def excludes_zero(self) -> bool:
        return self.has_interval and (self.low > 0 or self.high < 0)

    @property
    def conclusion(self) -> str:
        """`better` / `worse` than the baseline when the interval excludes 0 (`higher` /
        `lower` for a metric without a direction), `no difference` when it holds 0, `n<2`
        without an interval."""
        if not self.has_interval:
            return f"n<{MIN_RUNS_FOR_INTERVAL}"
        if not self.excludes_zero:
            return "no difference"
        up = self.low > 0
        if self.direction is None:
            return "higher" if up else "lower"
        return "better" if up == (self.direction == HIGHER) else "worse"

    @classmethod
    def of(
        cls, values: list[float], baseline: list[float], way: int | None = None
    ) -> Difference | None:
        group, base = _finite(values), _finite(baseline)
        if not group or not base:
            return None
        value = statistics.fmean(group) - statistics.fmean(base)
        low = high = improvement_low = improvement_high = math.nan
        if min(len(group), len(base)) >= MIN_RUNS_FOR_INTERVAL:
            low, high = welch_interval(group, base)
        if min(len(group), len(base)) >= MIN_RUNS_FOR_BOOTSTRAP:
            improvement_low, improvement_high = improvement_interval(group, base, way)
        improvement = probability_of_improvement(group, base, way)
        return cls(
            value,
            low,
            high,
            len(group),
            len(base),
            way,
            improvement,
            improvement_low,
            improvement_high,
        )


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
    """Override keys whose values differ across jobs, other than seed and the keys that say
    where or how a job ran (a rerun's sweep_retry_failed=true), in first-seen order."""
    keys = list(dict.fromkeys(key for job in jobs for key in job.overrides))
    return [
        key
        for key in keys
        if key != "seed"
        and key not in WHERE_AND_HOW
        and len({job.overrides.get(key, NO_KEY) for job in jobs}) > 1
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
            metric: Stat.of(
                [job.values[metric] for job in completed if metric in job.values], robust=True
            )
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
        row.label: {
            m: Difference.of(row.values(m), baseline.values(m), direction(m)) for m in metrics
        }
        for row in rows
        if row is not baseline
    }
