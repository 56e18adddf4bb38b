"""genlab-train: compose -> check -> build -> fit -> record; returns the swept metric.

Lightning, torchvision and the models are imported only when training starts, so `--help`
and config errors come back fast.
"""

from __future__ import annotations

import logging
import random
import sys
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf, open_dict

from genlab import CONF_DIR
from genlab.run import resolvers
from genlab.run.build import build
from genlab.run.config_checks import check_config
from genlab.run.config_identity import run_config
from genlab.run.console import ignore_harmless_warnings, job_line, run_report
from genlab.run.hydra_job import HydraJob, current_job
from genlab.run.preemption import RunPreempted
from genlab.run.resume import Resume, prepare_resume
from genlab.run.run_record import RunRecord, failure_fields, read_summary, start_record
from genlab.run.sweep_job import RESOLVED_CONFIG, JobAction, plan_job, previous_seed
from genlab.run.task import run_task, swept_value
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


def train(cfg: DictConfig) -> float | None:
    """Train one run (or finish one sweep job) as configured; returns the swept value, if any."""
    check_config(cfg)
    num_threads = configure_threads(cfg)
    job = current_job()
    resume: Resume | None = prepare_resume(cfg, job.overrides) if cfg.resume is not None else None
    if resume is not None:
        cfg = resume.cfg
        check_config(cfg)
    run_dir = Path(cfg.paths.output_dir)
    reused_folder = False
    if job.multirun and resume is None:  # a rerun sweep finishes only what is missing
        resolve_seed(cfg, previous_seed(run_dir))
        plan = plan_job(run_dir, cfg, bool(cfg.sweep_retry_failed))
        if plan.action in (JobAction.DONE, JobAction.KEEP):
            print(job_line(plan.previous, run_dir, job.number, note="recorded earlier"), flush=True)
            return swept_value(cfg, plan.previous)
        if plan.action is JobAction.RESUME:
            resume = Resume(cfg, plan.checkpoint, plan.iteration, plan.previous)
        reused_folder = plan.reuses_folder
    seed = resolve_seed(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    resolved = run_config(cfg)
    (run_dir / RESOLVED_CONFIG).write_text(OmegaConf.to_yaml(resolved))
    record = start_record(cfg, seed, job, resume, num_threads, code_dir=CONF_DIR.parent)
    purge_step = resume.iteration + 1 if resume else (0 if reused_folder else None)
    try:
        _fit(cfg, seed, record, OmegaConf.to_container(resolved), job, resume, purge_step)
    except RunPreempted as stop:
        stop.pass_on()  # submitit's handler requeues the job and exits; locally, nothing
        raise
    except BaseException as err:
        summary = read_summary(run_dir) if record.path.exists() else None
        if summary is None or summary["status"] == "running":
            done = summary["iterations_done"] if summary else 0
            record.write("failed", done, {}, **failure_fields(err))
        raise
    summary = read_summary(run_dir)  # written by rank 0, which may be a spawned process
    print(job_line(summary, run_dir, job.number) if job.multirun else run_report(summary, run_dir))
    return swept_value(cfg, summary)


def _fit(
    cfg: DictConfig,
    seed: int,
    record: RunRecord,
    config: dict[str, Any],
    job: HydraJob,
    resume: Resume | None,
    purge_step: int | None,
) -> None:
    from genlab.callbacks.metrics import MetricsCallback
    from genlab.callbacks.summary import RunSummary
    from genlab.run.hparams import chosen_settings

    hparams = chosen_settings(config, job.choices, job.overrides)
    summary = RunSummary(record, config, hparams)
    datamodule, model, trainer = build(cfg, seed, [summary], tensorboard_purge_step=purge_step)
    for callback in trainer.callbacks:
        if isinstance(callback, MetricsCallback):  # the evaluator's identity joins the record
            record.facts.update(callback.suite.identity())
    ckpt_path = str(resume.checkpoint) if resume else None
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
    return hydra_main()


if __name__ == "__main__":
    main()
