"""The jobs of a Hydra multirun folder as records: status, overrides, final values, config."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from genlab.errors import GenlabError
from genlab.run.folder import STATUSES, SUMMARY_FILE

OVERRIDES_FILE = Path(".hydra") / "overrides.yaml"
CONFIG_FILE = "resolved_config.yaml"
SAMPLES_FILE = "samples.npy"
NOT_RESULTS = {"seed", "iterations", "iterations_done", "diverged_at_iteration"}


class CompareError(GenlabError):
    """The folder or options given to genlab-compare cannot be compared."""


@dataclass(frozen=True)
class Job:
    """One job folder of a sweep; a job without summary.json counts as running."""

    folder: Path
    status: str
    overrides: dict[str, str]
    values: dict[str, float] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None

    @property
    def name(self) -> str:
        return self.folder.name


def parse_overrides(overrides: list[str]) -> dict[str, str]:
    """`key=value` override strings as a dict (`+`/`++` prefixes dropped)."""
    parsed: dict[str, str] = {}
    for item in overrides:
        key, _, value = str(item).partition("=")
        parsed[key.lstrip("+")] = value
    return parsed


def _is_job_folder(folder: Path) -> bool:
    return (folder / OVERRIDES_FILE).is_file() or (folder / SUMMARY_FILE).is_file()


def _job_order(folder: Path) -> tuple[bool, int, str]:
    return (
        not folder.name.isdigit(),
        int(folder.name) if folder.name.isdigit() else 0,
        folder.name,
    )


def _final_values(summary: dict[str, Any]) -> dict[str, float]:
    """The numbers a run produced: logged values (metrics/modes, train/g_loss) and its costs
    (wall_seconds, ...), not the settings and progress that describe it."""
    return {
        key: float(value)
        for key, value in summary.items()
        if key not in NOT_RESULTS and isinstance(value, int | float) and not isinstance(value, bool)
    }


def read_job(folder: Path) -> Job:
    """The record of one job folder."""
    summary: dict[str, Any] = {}
    if (folder / SUMMARY_FILE).is_file():
        try:
            summary = json.loads((folder / SUMMARY_FILE).read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise CompareError(f"cannot read {folder / SUMMARY_FILE}: {err}") from None
    if (folder / OVERRIDES_FILE).is_file():
        overrides = yaml.safe_load((folder / OVERRIDES_FILE).read_text()) or []
    else:
        overrides = summary.get("overrides") or []
    config = {}
    if (folder / CONFIG_FILE).is_file():
        config = yaml.safe_load((folder / CONFIG_FILE).read_text()) or {}
    status = summary.get("status", "running")
    if status not in STATUSES:
        status = "failed"  # a status this version does not know is no finished run either
    parsed = parse_overrides(overrides)
    seed = summary.get("seed", config.get("seed"))
    if not isinstance(seed, int) and parsed.get("seed", "").lstrip("-").isdigit():
        seed = int(parsed["seed"])  # a job still starting: only its overrides name the seed
    return Job(
        folder=folder,
        status=status,
        overrides=parsed,
        values=_final_values(summary),
        config=config,
        seed=seed if isinstance(seed, int) else None,
    )


def _has_jobs(folder: Path) -> bool:
    return any(p.is_dir() and _is_job_folder(p) for p in folder.iterdir())


def _what_it_is(root: Path) -> str:
    """Why a folder without job folders is not a sweep's, and what to pass instead."""
    if _is_job_folder(root):
        return ": it is the folder of a single run or job; pass the multirun folder that holds it"
    sweeps = [p.name for p in sorted(root.iterdir()) if p.is_dir() and _has_jobs(p)]
    if sweeps:
        return f": it holds sweeps; pass one of them, e.g. {root / sweeps[-1]}"
    return (
        " (subfolders with .hydra/overrides.yaml or summary.json); pass the folder of a -m sweep,"
        " e.g. logs/multirun/<date>_<time>"
    )


def load_jobs(root: Path) -> list[Job]:
    """The jobs of a multirun folder, in job-number order."""
    if not root.is_dir():
        raise CompareError(
            f"{root} is not a folder; pass a multirun folder such as logs/multirun/<date>_<time>"
        )
    folders = sorted(
        (p for p in root.iterdir() if p.is_dir() and _is_job_folder(p)), key=_job_order
    )
    if not folders:
        raise CompareError(f"{root} holds no job folders{_what_it_is(root)}")
    return [read_job(folder) for folder in folders]


def read_curves(job: Job, tags: list[str]) -> dict[str, list[tuple[int, float]]]:
    """(iteration, value) pairs of each tag in the job's TensorBoard events; finite values only."""
    event_dirs = sorted({p.parent for p in job.folder.rglob("events.out.tfevents.*")})
    if not event_dirs or not tags:
        return {}
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    # A resumed run re-logs the steps after its checkpoint; TensorBoard keeps those and drops
    # the orphaned earlier ones, warning of "a TensorFlow restart" for each: expected here.
    tensorboard_log = logging.getLogger("tensorboard")
    level = tensorboard_log.level
    tensorboard_log.setLevel(logging.ERROR)
    curves: dict[str, list[tuple[int, float]]] = {}
    try:
        for event_dir in event_dirs:
            events = EventAccumulator(
                str(event_dir),
                size_guidance={"scalars": 0, "images": 1, "tensors": 1, "histograms": 1},
            )
            events.Reload()
            for tag in set(tags) & set(events.Tags()["scalars"]):
                points = [(e.step, e.value) for e in events.Scalars(tag) if math.isfinite(e.value)]
                curves.setdefault(tag, []).extend(points)
    finally:
        tensorboard_log.setLevel(level)
    return {tag: sorted(points) for tag, points in curves.items()}


def read_samples(job: Job) -> Any:
    """The job's final generated 2-D points (numpy (N, 2)), or None without samples.npy."""
    path = job.folder / SAMPLES_FILE
    if not path.is_file():
        return None
    import numpy as np

    return np.load(path)
