"""genlab-train: compose -> check -> build -> fit -> record; returns the swept metric.

Lightning, torchvision and the models are imported only when training starts, so `--help`
and config errors come back fast.
"""

from __future__ import annotations

import logging
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf, open_dict

from genlab import CONF_DIR
from genlab.run import resolvers
from genlab.run.build import build, record_facts
from genlab.run.config_checks import check_config
from genlab.run.config_identity import run_config
from genlab.run.console import ignore_harmless_warnings, job_line, run_report
from genlab.run.folder_lock import FolderInUseError, FolderLock
from genlab.run.hydra_job import HydraJob, current_job
from genlab.run.preemption import RunPreempted
from genlab.run.resume import Resume, prepare_resume
from genlab.run.run_record import (
    SUMMARY_FILE,
    RunRecord,
    failure_fields,
    read_summary,
    start_record,
)
from genlab.run.stopping import (
    STOP,
    RunStopped,
    SweepStopped,
    continue_sweep_command,
    exit_code,
)
from genlab.run.sweep_job import RESOLVED_CONFIG, JobAction, JobPlan, plan_job, previous_seed
from genlab.run.task import run_task, sweep_dir, swept_value, worst_value
from genlab.run.threads import configure_threads
from genlab.run.train_help import help_text, wants_plain_help

log = logging.getLogger("genlab.train")
resolvers.register()
__all__ = ["CONF_DIR", "build", "main", "train"]


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
    lock: FolderLock  # held while it trains (genlab.run.folder_lock)


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
        recorded, value = _recorded_earlier(run_dir, cfg, job)  # no lock: no file changes
        if recorded:
            return value
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


def _recorded_earlier(run_dir: Path, cfg: DictConfig, job: HydraJob) -> tuple[bool, float | None]:
    """(True, the swept value) when a rerun sweep job's folder holds a final record (completed,
    or failed and kept), printed as recorded earlier; (False, None) when there is work left."""
    final = ("completed", "failed", "diverged")
    if not (run_dir / SUMMARY_FILE).is_file() or read_summary(run_dir)["status"] not in final:
        return False, None  # planned under the lock (loading its checkpoint once, there)
    plan = plan_job(run_dir, cfg, bool(cfg.sweep_retry_failed))
    if plan.action not in (JobAction.DONE, JobAction.KEEP):
        return False, None
    return True, _report_recorded(plan, run_dir, cfg, job)


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


def record_failure(start: RunStart, err: BaseException) -> None:
    """A run that stopped with `err`: failed in its summary.json unless it recorded an end."""
    run_dir = start.record.path.parent
    summary = read_summary(run_dir) if start.record.path.exists() else None
    if summary is None or summary["status"] == "running":
        done = summary["iterations_done"] if summary else 0
        start.record.write("failed", done, {}, **failure_fields(err))


def finish_run(start: RunStart) -> float | None:
    """The closing report (or a sweep job's line) and the swept value of a trained run."""
    run_dir = start.record.path.parent
    summary = read_summary(run_dir)  # written by rank 0, which may be a spawned process
    job = start.job
    print(job_line(summary, run_dir, job.number) if job.multirun else run_report(summary, run_dir))
    return swept_value(start.cfg, summary)


def train(cfg: DictConfig) -> float | None:
    """Train one run (or finish one sweep job) as configured; returns the swept value, if any."""
    start = start_run(cfg)
    if not isinstance(start, RunStart):
        return start
    try:
        _fit(start)
    except RunPreempted as stop:
        stop.pass_on()  # submitit's handler requeues the job and exits; locally, nothing
        raise
    except RunStopped:
        raise  # recorded interrupted by the run's summary callback
    except BaseException as err:
        record_failure(start, err)
        raise
    finally:
        start.lock.release()
    return finish_run(start)


def run_summary(start: RunStart) -> Any:
    """The RunSummary callback of a run: its record, config and HPARAMS selection."""
    from genlab.callbacks.summary import RunSummary
    from genlab.run.hparams import chosen_settings

    hparams = chosen_settings(start.config, start.job.choices, start.job.overrides)
    return RunSummary(start.record, start.config, hparams)


def _fit(start: RunStart) -> None:
    datamodule, model, trainer = build(
        start.cfg, start.seed, [run_summary(start)], purge_step=start.purge_step
    )
    start.record.facts.update(record_facts(datamodule, trainer.callbacks))
    ckpt_path = str(start.resume.checkpoint) if start.resume else None
    trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="train")
def hydra_main(cfg: DictConfig) -> float | None:
    """The Hydra app: one run, or one job of a sweep, under genlab's error policy (run_task)."""
    return run_task(train, cfg)


def main() -> float | None:
    """Console entry point (genlab-train / python -m genlab.train)."""
    if wants_plain_help(sys.argv[1:]):
        print(help_text(CONF_DIR), end="")
        return None
    ignore_harmless_warnings()
    with STOP.handling():
        try:
            return hydra_main()
        except SweepStopped as stopped:
            print(f"genlab-train: {stopped.report()}", file=sys.stderr, flush=True)
            sys.exit(exit_code(stopped.signum))
        except RunStopped as stopped:  # a sweep's parent, stopped at once (its workers killed)
            print(f"genlab-train: sweep {stopped}", file=sys.stderr, flush=True)
            command = continue_sweep_command(sweep_dir())
            print(f"continue it with: {command}", file=sys.stderr, flush=True)
            sys.exit(exit_code(stopped.signum))


if __name__ == "__main__":
    main()
