"""A run's life, held once for plain runs and member groups: start (checks, threads, resume or
a rerun sweep job's plan, seed, folder lock, record), fit, and finish or record the failure."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from genlab import CONF_DIR
from genlab.run.build import build, record_facts
from genlab.run.checks import check_config
from genlab.run.config import run_config
from genlab.run.console import job_line, run_report
from genlab.run.folder import (
    RESOLVED_CONFIG,
    FolderInUseError,
    FolderLock,
    RunRecord,
    read_summary,
    start_record,
)
from genlab.run.process import HydraJob, configure_threads, current_job
from genlab.run.rerun import (
    JobAction,
    JobPlan,
    Resume,
    plan_job,
    prepare_resume,
    previous_seed,
    recorded_earlier,
)
from genlab.run.task import swept_value, worst_value
from genlab.stopping import STOP

log = logging.getLogger("genlab.train")


def resolve_seed(cfg: DictConfig, recorded: int | None = None) -> int:
    """The run's seed; `seed: null` takes `recorded` (a rerun sweep job's) or draws one, and
    writes it into cfg so it is recorded."""
    if cfg.seed is None:
        with open_dict(cfg):
            cfg.seed = recorded if recorded is not None else random.SystemRandom().randrange(2**31)
        log.info("seed=null: %s seed %d", "reused" if recorded is not None else "drew", cfg.seed)
    return int(cfg.seed)


@dataclass
class RunStart:
    """A run (or sweep job) ready to train: its config, seed, record and what it continues."""

    cfg: DictConfig
    seed: int
    record: RunRecord
    config: dict[str, Any]  # the resolved config, as recorded
    job: HydraJob
    resume: Resume | None
    purge_step: int | None
    lock: FolderLock  # held while it trains (genlab.run.folder)


def start_run(cfg: DictConfig) -> RunStart | float | None:
    """Everything before training: checks, threads, resume, a rerun sweep job's plan, the seed,
    the run folder and its record. Returns the swept value instead when a sweep job is done."""
    STOP.raise_if_requested()
    job = current_job()
    resume: Resume | None = prepare_resume(cfg, job.overrides) if cfg.resume is not None else None
    if resume is not None:
        cfg = resume.cfg
    check_config(cfg)
    num_threads = configure_threads(cfg)
    run_dir = Path(cfg.paths.output_dir)
    if job.multirun and resume is None:  # a rerun sweep finishes only what is missing
        resolve_seed(cfg, previous_seed(run_dir))
        plan = recorded_earlier(run_dir, cfg)  # no lock: no file changes
        if plan is not None:
            return _report_recorded(plan, run_dir, cfg, job)
    try:
        lock = FolderLock.acquire(run_dir)
    except FolderInUseError as busy:
        if not job.multirun:
            raise
        print(f"job {job.number} [{' '.join(job.overrides)}] running elsewhere: {busy.holder}"
              f" (left alone) -> {run_dir}", flush=True)  # fmt: skip
        return None if cfg.optimized_metric is None else worst_value(cfg.optimized_direction)
    try:
        return _start_locked(cfg, job, resume, run_dir, num_threads, lock)
    except BaseException:
        lock.release()
        raise


def _report_recorded(plan: JobPlan, run_dir: Path, cfg: DictConfig, job: HydraJob) -> float | None:
    print(job_line(plan.previous, run_dir, job.number, note="recorded earlier"), flush=True)
    return swept_value(cfg, plan.previous)


def _start_locked(
    cfg: DictConfig,
    job: HydraJob,
    resume: Resume | None,
    run_dir: Path,
    num_threads: int,
    lock: FolderLock,
) -> RunStart | float | None:
    reused_folder = False
    if job.multirun and resume is None:  # planned again under the lock: the authoritative view
        plan = plan_job(run_dir, cfg, bool(cfg.sweep_retry_failed))
        if plan.action in (JobAction.DONE, JobAction.KEEP):  # another process finished it
            lock.release()
            return _report_recorded(plan, run_dir, cfg, job)
        if plan.action is JobAction.RESUME:
            resume = Resume(cfg, plan.checkpoint, plan.iteration, plan.previous)
        reused_folder = plan.reuses_folder
    seed = resolve_seed(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    resolved = run_config(cfg)
    (run_dir / RESOLVED_CONFIG).write_text(OmegaConf.to_yaml(resolved))
    record = start_record(cfg, seed, job, resume, num_threads, code_dir=CONF_DIR.parent)
    purge_step = resume.iteration + 1 if resume else (0 if reused_folder else None)
    config = OmegaConf.to_container(resolved)
    return RunStart(cfg, seed, record, config, job, resume, purge_step, lock)


def run_summary(start: RunStart) -> Any:
    """The RunSummary callback of a run: its record, config and HPARAMS selection."""
    from genlab.callbacks.summary import RunSummary
    from genlab.run.config import chosen_settings

    hparams = chosen_settings(start.config, start.job.choices, start.job.overrides)
    return RunSummary(start.record, start.config, hparams)


def fit_run(start: RunStart) -> None:
    """Build the run's parts from its seed and train them (from its checkpoint when resumed)."""
    datamodule, model, trainer = build(
        start.cfg,
        start.seed,
        [run_summary(start)],
        purge_step=start.purge_step,
        multirun=start.job.multirun,
    )
    start.record.facts.update(record_facts(datamodule, trainer.callbacks))
    ckpt_path = str(start.resume.checkpoint) if start.resume else None
    trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)


def record_failure(start: RunStart, err: BaseException) -> None:
    """A run that stopped with `err`: failed in its summary.json unless it recorded an end."""
    run_dir = start.record.path.parent
    summary = read_summary(run_dir) if start.record.path.exists() else None
    if summary is None or summary["status"] == "running":
        done = summary["iterations_done"] if summary else 0
        start.record.write("failed", done, {}, **RunRecord.failure_fields(err))


def finish_run(start: RunStart) -> float | None:
    """The closing report (or a sweep job's line) and the swept value of a trained run."""
    run_dir = start.record.path.parent
    summary = read_summary(run_dir)  # written by rank 0, which may be a spawned process
    job = start.job
    print(job_line(summary, run_dir, job.number) if job.multirun else run_report(summary, run_dir))
    return swept_value(start.cfg, summary)
