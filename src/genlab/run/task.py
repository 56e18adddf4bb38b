"""The error policy of genlab's entry points, held once: what the user sees when a run or a
sweep job fails, and what a sweep gets back."""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from genlab.errors import GenlabError
from genlab.run.console import job_line
from genlab.run.folder import RunRecord, now_iso, read_summary
from genlab.run.process import HydraJob, current_job
from genlab.run.rerun import BrokenCheckpointError, FolderConflictError
from genlab.stopping import RunPreempted, RunStopped, StoppedJob, SweepStopped, exit_code

log = logging.getLogger("genlab.train")

# Exceptions that mean genlab (or a user's plug-in) is wrong rather than that one job's training
# failed: a sweep fails on them (non-zero exit, traceback) instead of scoring the worst value.
PROGRAMMING_ERRORS = (TypeError, AttributeError, NameError, ImportError, AssertionError)
EXIT_BAD_INPUT = 2
EXIT_PREEMPTED = 3  # stopped on the preemption signal, checkpoint saved: rerun to continue


def worst_value(direction: str) -> float:
    """What a failed or diverged run reports to a sweeper optimising in `direction`."""
    return math.inf if direction == "minimize" else -math.inf


def swept_value(cfg: DictConfig, summary: dict[str, Any]) -> float | None:
    """The value named by cfg.optimized_metric; the worst one for a failed or diverged run."""
    if cfg.optimized_metric is None:
        return None
    value = summary.get(cfg.optimized_metric)
    if summary["status"] != "completed" or value is None or not math.isfinite(value):
        worst = worst_value(cfg.optimized_direction)
        log.warning(
            "%s=%s, status %s: returning %s", cfg.optimized_metric, value, summary["status"], worst
        )
        return worst
    return float(value)


def log_traceback_to_files(err: BaseException) -> None:
    """The full traceback goes to the run's log file only; the screen gets one message."""
    record = logging.LogRecord(
        log.name, logging.ERROR, __file__, 0, "error details", None,
        (type(err), err, err.__traceback__),
    )  # fmt: skip
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


def record_failed_job(cfg: DictConfig, err: BaseException, job: HydraJob) -> float:
    """A failed sweep job: its failed summary.json (written here when the job stopped before its
    run record existed, e.g. a rejected config), its one console line, the worst value."""
    log_traceback_to_files(err)
    run_dir = Path(cfg.paths.output_dir)
    try:
        facts = {key: job.choices.get(key) for key in ("model", "data", "net")}
        facts.update(seed=cfg.seed, overrides=job.overrides, started_at=now_iso())
        record = RunRecord(run_dir, facts)
        if not record.path.exists():
            record.write("failed", 0, {}, **RunRecord.failure_fields(err))
        summary = read_summary(run_dir)
    except Exception as record_err:  # the sweep goes on even when the folder is unusable
        log.error("could not record the failure: %s: %s", type(record_err).__name__, record_err)
        summary = {"status": "failed", "overrides": job.overrides}
    print(job_line(summary, run_dir, job.number), flush=True)
    return worst_value(cfg.optimized_direction)


def run_task(task: Callable[[DictConfig], float | None], cfg: DictConfig) -> float | None:
    """`task(cfg)` under genlab's error policy.

    Bad input exits with code 2 and one message. Inside a sweep (-m) a job that fails in
    training (divergence, out of memory, bad data, a rejected config) is recorded as failed, with
    its traceback, and reports the worst value, so the sweep goes on; a programming error
    (PROGRAMMING_ERRORS) is recorded too but re-raised, so the sweep exits non-zero with it. A
    job folder holding another config, or a checkpoint that cannot be read, stops the whole
    sweep (exit 2), and so does the
    preemption signal (exit 3, after the checkpoint is saved). A stop signal (SIGINT, SIGTERM)
    ends a run with 128 + its number and says how to continue; in a sweep it becomes
    SweepStopped, which ends the sweep (genlab.stopping).
    """
    job = current_job()
    try:
        return task(cfg)
    except RunStopped as stop:
        if job.multirun:
            stopped = [StoppedJob(job.number or 0, tuple(job.overrides), stop.iteration)]
            raise SweepStopped(
                stop.signum, stopped if stop.started else [], None, sweep_dir()
            ) from None
        print(f"genlab-train: {stop}", file=sys.stderr, flush=True)
        if stop.started:
            run_dir = cfg.paths.output_dir  # a resumed run's too: it continues in its folder
            print(f"continue it with: genlab-train resume={run_dir}", file=sys.stderr, flush=True)
        sys.exit(exit_code(stop.signum))
    except RunPreempted as stop:
        print(f"genlab-train: {stop}", file=sys.stderr, flush=True)
        sys.exit(EXIT_PREEMPTED)
    except GenlabError as err:
        if job.multirun and not isinstance(err, FolderConflictError | BrokenCheckpointError):
            return record_failed_job(cfg, err, job)
        print(f"genlab-train: error: {err}", file=sys.stderr)
        log_traceback_to_files(err)
        sys.exit(EXIT_BAD_INPUT)
    except Exception as err:
        if not job.multirun:
            raise
        worst = record_failed_job(cfg, err, job)
        if isinstance(err, PROGRAMMING_ERRORS):
            raise
        return worst


def sweep_dir() -> str | None:
    """The folder of the sweep this process runs (None outside one)."""
    from hydra.core.hydra_config import HydraConfig

    return str(HydraConfig.get().sweep.dir) if HydraConfig.initialized() else None
