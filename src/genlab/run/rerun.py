"""Continuing what a run folder holds: `resume=<run folder>` (the run's own config, its last
checkpoint, and the overrides allowed), and what a sweep job does with a job folder that an
earlier run of the same sweep left behind.

Rerunning a sweep into the same folder (`hydra.sweep.dir=<folder>`) finishes only what is
missing: a completed job is not trained again, an interrupted one resumes from its checkpoint, a
failed or diverged one keeps its record unless `sweep_retry_failed=true`, and a folder that holds
another config is refused.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from genlab.errors import ConfigError
from genlab.run.config import (
    config_hash,
    config_hash_without,
    differing_keys,
    new_nested_switches,
    new_switches,
)
from genlab.run.folder import (
    RECORDED_CONFIG,
    RESOLVED_CONFIG,
    SUMMARY_FILE,
    last_checkpoint,
    read_summary,
)
from genlab.run.rebuild import recorded_config

# Overrides a resume may carry: they change how long or how loudly, not what is trained.
SAFE_KEYS = (
    "iterations",
    "iterations_per_batch",
    "trainer.enable_progress_bar",
    "callbacks.progress_bar.refresh_rate",
)


@dataclass(frozen=True)
class Resume:
    """What a resumed run needs: its config, checkpoint, and the record so far."""

    cfg: DictConfig
    checkpoint: Path
    iteration: int
    previous: dict[str, Any]


def _override_key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


class BrokenCheckpointError(ConfigError):
    """A checkpoint to continue from is truncated or not a genlab checkpoint."""


def load_checkpoint_iteration(path: Path) -> int:
    """The iteration stored in a genlab checkpoint, read with weights_only loading."""
    import torch

    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        return int(checkpoint["genlab"]["iteration"])
    except Exception as err:
        reason = f"{type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}"
        raise BrokenCheckpointError(
            f"checkpoint {path} cannot be read ({reason}): it is truncated or not a genlab"
            " checkpoint, so nothing continues from it. Either start over (a new run, or move"
            f" the folder {path.parent.parent} away before rerunning its sweep), or move the"
            f" file away (mv {path} {path}.broken): a rerun of its sweep then trains that job"
            " again from iteration 0 in its folder"
        ) from err


def prepare_resume(cfg: DictConfig, overrides: list[str]) -> Resume:
    """The config to continue `cfg.resume` with, after checking the folder and the overrides."""
    run_dir = Path(cfg.resume)
    for needed in (run_dir / RECORDED_CONFIG, run_dir / SUMMARY_FILE):
        if not needed.is_file():
            raise ConfigError(
                f"resume={cfg.resume}: {needed} does not exist; resume takes the folder of a run"
                " that saved a checkpoint (logs/runs/<date>_<time>)"
            )
    refused = [
        o for o in overrides if _override_key(o) != "resume" and _override_key(o) not in SAFE_KEYS
    ]
    if refused:
        raise ConfigError(
            f"resume continues a run with its own config; refused overrides: {', '.join(refused)}."
            f" Allowed: {', '.join(k + '=...' for k in SAFE_KEYS)} (e.g. iterations=N for more)"
        )
    previous = read_summary(run_dir)
    run_cfg = recorded_config(run_dir)  # with switches gained since, and the seed it ran with
    checkpoint = last_checkpoint(run_cfg, run_dir)
    if not checkpoint.is_file():
        raise ConfigError(
            f"resume={cfg.resume}: {checkpoint} does not exist; resume takes the folder of a run"
            " that saved a checkpoint (logs/runs/<date>_<time>)"
        )
    with open_dict(run_cfg):
        run_cfg.resume = str(cfg.resume)
        for override in overrides:
            key = _override_key(override)
            if key in SAFE_KEYS:
                OmegaConf.update(run_cfg, key, OmegaConf.select(cfg, key), force_add=True)
    iteration = load_checkpoint_iteration(checkpoint)
    if iteration >= run_cfg.iterations:
        raise ConfigError(
            f"resume={cfg.resume}: the checkpoint is at iteration {iteration} and the run is"
            f" set to iterations={run_cfg.iterations}; pass iterations=N with N > {iteration}"
            " to train longer"
        )
    return Resume(run_cfg, checkpoint, iteration, previous)


log = logging.getLogger(__name__)


class FolderConflictError(ConfigError):
    """A job folder holds the record of a run with another config; it is never reused."""


class JobAction(Enum):
    TRAIN = "train"  # nothing usable in the folder: train from the start
    RESUME = "resume"  # a killed, preempted or stopped run with a checkpoint: continue it
    DONE = "done"  # completed before: report its record, train nothing
    KEEP = "keep"  # failed or diverged before: report its record (sweep_retry_failed=false)


@dataclass(frozen=True)
class JobPlan:
    action: JobAction
    previous: dict[str, Any] | None = None  # the folder's summary.json, if any
    checkpoint: Path | None = None
    iteration: int = 0  # the checkpoint's iteration (RESUME)

    @property
    def reuses_folder(self) -> bool:
        """True when the folder holds an earlier attempt (its TensorBoard events are replaced)."""
        return self.previous is not None


def _refuse(run_dir: Path, cfg: DictConfig, previous: dict[str, Any]) -> FolderConflictError:
    resolved = run_dir / RESOLVED_CONFIG
    keys: list[str] = []
    if resolved.is_file():
        keys = differing_keys(OmegaConf.load(resolved), cfg)
    listed = ", ".join(keys[:12]) + (f" and {len(keys) - 12} more" if len(keys) > 12 else "")
    return FolderConflictError(
        f"job folder {run_dir} holds a run of another config (config_hash"
        f" {previous.get('config_hash')}, this job's {config_hash(cfg)}"
        + (f"; differing keys: {listed}" if listed else "")
        + "). A sweep folder is reused only by the same command: start a new sweep (drop"
        " hydra.sweep.dir, or name a new folder) or move that folder away"
    )


def _only_new_switches(run_dir: Path, cfg: DictConfig, recorded_hash: str | None) -> bool:
    """True when `cfg` is the folder's config plus switches genlab gained since it was written,
    at their shipped defaults (config.new_switches): without them it hashes alike."""
    resolved = run_dir / RESOLVED_CONFIG
    if recorded_hash is None or not resolved.is_file():
        return False
    previous = OmegaConf.load(resolved)
    added = new_switches(previous, cfg) + new_nested_switches(previous, cfg)
    if not added or config_hash_without(cfg, added) != recorded_hash:
        return False
    log.info(
        "job folder %s was written before genlab had %s; at the default: the same config",
        run_dir,
        ", ".join(added),
    )
    return True


def plan_job(run_dir: Path, cfg: DictConfig, retry_failed: bool) -> JobPlan:
    """What to do in `run_dir` for the job configured by `cfg` (its seed already resolved)."""
    if not (run_dir / SUMMARY_FILE).is_file():
        return JobPlan(JobAction.TRAIN)
    previous = read_summary(run_dir)
    if previous.get("config_hash") != config_hash(cfg):
        if previous.get("config_hash") is None and previous.get("status") == "failed":
            # rejected before its run record existed: nothing of it can be reused
            return JobPlan(JobAction.TRAIN if retry_failed else JobAction.KEEP, previous)
        if not _only_new_switches(run_dir, cfg, previous.get("config_hash")):
            raise _refuse(run_dir, cfg, previous)
    status = previous.get("status")
    checkpoint = last_checkpoint(cfg, run_dir)
    if status == "completed":
        return JobPlan(JobAction.DONE, previous)
    if status in ("failed", "diverged"):
        return JobPlan(JobAction.TRAIN if retry_failed else JobAction.KEEP, previous)
    # running: the process that ran it was killed or preempted; interrupted: stopped on request
    if checkpoint.is_file():
        iteration = load_checkpoint_iteration(checkpoint)
        if iteration < int(cfg.iterations):
            return JobPlan(JobAction.RESUME, previous, checkpoint, iteration)
    return JobPlan(JobAction.TRAIN, previous)


def recorded_earlier(run_dir: Path, cfg: DictConfig) -> JobPlan | None:
    """The plan of a rerun sweep job whose folder holds a final record (completed, or failed and
    kept): nothing to train. None when there is work left (planned again under the folder lock,
    which loads its checkpoint once, there)."""
    final = ("completed", "failed", "diverged")
    if not (run_dir / SUMMARY_FILE).is_file() or read_summary(run_dir)["status"] not in final:
        return None
    plan = plan_job(run_dir, cfg, bool(cfg.sweep_retry_failed))
    return plan if plan.action in (JobAction.DONE, JobAction.KEEP) else None


def previous_seed(run_dir: Path) -> int | None:
    """The seed recorded in a job folder's summary.json (a sweep with seed=null reuses it)."""
    if not (run_dir / SUMMARY_FILE).is_file():
        return None
    seed = read_summary(run_dir).get("seed")
    return int(seed) if seed is not None else None
