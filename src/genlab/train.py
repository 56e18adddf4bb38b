"""genlab-train: compose -> check -> instantiate -> fit -> summary.json; returns the swept metric.

Lightning, torchvision and the models are imported only when training starts, so `--help`
and config errors come back fast.
"""

from __future__ import annotations

import logging
import math
import random
import sys
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf, open_dict

from genlab.errors import GenlabError
from genlab.run import resolvers
from genlab.run.config_checks import check_config
from genlab.run.console import job_line, run_report
from genlab.run.resume import Resume, prepare_resume
from genlab.run.run_record import (
    RunRecord,
    config_hash,
    environment_facts,
    failure_fields,
    now_iso,
    read_summary,
)
from genlab.run.threads import configure_threads
from genlab.run.train_help import help_text, wants_plain_help

log = logging.getLogger("genlab.train")

# The configs ship inside the package (a wheel install has them); users add folders of their own
# with --config-dir or hydra.searchpath (README, "Your own configs").
CONF_DIR = Path(__file__).resolve().parent / "conf"
resolvers.register()


# Exceptions that mean genlab (or a user's plug-in) is wrong rather than that one job's training
# failed: a sweep fails on them (non-zero exit, traceback) instead of scoring the worst value.
PROGRAMMING_ERRORS = (TypeError, AttributeError, NameError, ImportError, AssertionError)


def resolve_seed(cfg: DictConfig) -> int:
    """The run's seed; `seed: null` draws one and writes it into cfg so it is recorded."""
    if cfg.seed is None:
        with open_dict(cfg):
            cfg.seed = random.SystemRandom().randrange(2**31)
        log.info("seed=null: drew seed %d", cfg.seed)
    return int(cfg.seed)


def _hydra_facts() -> dict[str, Any]:
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return {"overrides": [], "choices": {}, "multirun": False, "job_number": None}
    hydra_cfg = HydraConfig.get()
    return {
        "overrides": list(hydra_cfg.overrides.task),
        "choices": dict(hydra_cfg.runtime.choices),
        "multirun": str(hydra_cfg.mode) == "RunMode.MULTIRUN",
        "job_number": hydra_cfg.job.get("num"),
    }


def _run_config(cfg: DictConfig) -> DictConfig:
    """The config without Hydra's own node, fully resolved."""
    run_keys = [key for key in cfg if key != "hydra"]
    resolved = OmegaConf.to_container(OmegaConf.masked_copy(cfg, run_keys), resolve=True)
    return OmegaConf.create(resolved)


def _what_runs(cfg: DictConfig) -> DictConfig:
    """The resolved config with where-it-runs values (folders, resume) replaced by placeholders,
    so two runs of the same experiment hash alike."""
    placeholder = OmegaConf.masked_copy(cfg, [key for key in cfg if key != "hydra"])
    with open_dict(placeholder):
        for key in placeholder.paths:
            placeholder.paths[key] = f"<paths.{key}>"
        placeholder.resume = None
    return _run_config(placeholder)


def worst_value(direction: str) -> float:
    """What a failed or diverged run reports to a sweeper optimising in `direction`."""
    return math.inf if direction == "minimize" else -math.inf


def train(cfg: DictConfig) -> float | None:
    """Train one run as configured; returns the value named by cfg.optimized_metric, if any."""
    check_config(cfg)
    num_threads = configure_threads(cfg)
    hydra_facts = _hydra_facts()
    resume: Resume | None = None
    if cfg.resume is not None:
        resume = prepare_resume(cfg, hydra_facts["overrides"])
        cfg = resume.cfg
        check_config(cfg)
    seed = resolve_seed(cfg)
    run_dir = Path(cfg.paths.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    resolved = _run_config(cfg)
    resolved_yaml = OmegaConf.to_yaml(resolved)
    (run_dir / "resolved_config.yaml").write_text(resolved_yaml)
    if resume is None:
        choices = hydra_facts["choices"]
        facts = {
            "model": choices.get("model"),
            "data": choices.get("data"),
            "net": choices.get("net"),
            "seed": seed,
            "overrides": hydra_facts["overrides"],
            "started_at": now_iso(),
            "resumed_at": [],
        }
        prior_seconds = 0.0
    else:
        keep = ("model", "data", "net", "seed", "overrides", "started_at", "resumed_at")
        facts = {key: resume.previous.get(key) for key in keep}
        facts["resumed_at"] = [
            *(facts["resumed_at"] or []),
            {"iteration": resume.iteration, "time": now_iso()},
        ]
        prior_seconds = float(resume.previous.get("wall_seconds", 0.0))
    facts.update(
        iterations=int(cfg.iterations),
        num_threads=num_threads,
        run_dir=str(run_dir.resolve()),
        config_hash=config_hash(OmegaConf.to_yaml(_what_runs(cfg))),
        **environment_facts(CONF_DIR.parent),
    )
    record = RunRecord(run_dir, facts, prior_wall_seconds=prior_seconds)
    try:
        _fit(cfg, seed, record, OmegaConf.to_container(resolved), hydra_facts, resume)
    except BaseException as err:
        summary = read_summary(run_dir) if record.path.exists() else None
        if summary is None or summary["status"] == "running":
            done = summary["iterations_done"] if summary else 0
            record.write("failed", done, {}, **failure_fields(err))
        raise

    summary = read_summary(run_dir)
    if hydra_facts["multirun"]:
        print(job_line(summary, run_dir, hydra_facts["job_number"]), flush=True)
    else:
        print(run_report(summary, run_dir))
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


def _fit(
    cfg: DictConfig,
    seed: int,
    record: RunRecord,
    config: dict[str, Any],
    hydra_facts: dict[str, Any],
    resume: Resume | None,
) -> None:
    from genlab.callbacks.summary import RunSummary
    from genlab.run.hparams import chosen_settings

    hparams = chosen_settings(config, hydra_facts["choices"], hydra_facts["overrides"])
    datamodule, model, trainer = build(
        cfg,
        seed,
        extra_callbacks=[RunSummary(record, config, hparams)],
        resume_iteration=resume.iteration if resume else None,
    )
    from genlab.callbacks.metrics import MetricsCallback

    sizes = [
        f"{name} {type(child).__name__} {sum(p.numel() for p in child.parameters()):,} parameters"
        for name, child in model.named_children()
        if any(True for _ in child.parameters())
    ]
    log.info("%s: %s", type(model).__name__, "; ".join(sizes))
    for callback in trainer.callbacks:
        if isinstance(callback, MetricsCallback):  # the evaluator's identity joins the record
            record.facts.update(callback.suite.identity())
    ckpt_path = str(resume.checkpoint) if resume else None
    trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)


def build(
    cfg: DictConfig,
    seed: int,
    extra_callbacks: list[Any] | None = None,
    resume_iteration: int | None = None,
) -> tuple[Any, ...]:
    """Seed, then instantiate (datamodule, model, trainer) from a checked config.

    For a resumed run, TensorBoard drops events logged after the checkpoint (purge_step), so
    the curves continue on one step axis.
    """
    import lightning as L
    from hydra.utils import instantiate

    from genlab.run.process import ProcessPolicy, apply_process_policy

    apply_process_policy()
    from genlab.callbacks.iteration import IterationCallback
    from genlab.callbacks.scalars import ScalarLogger
    from genlab.data.tensor_batches import IterationSchedule

    L.seed_everything(seed, workers=True, verbose=False)
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()  # missing data sets stop the run here, before any model work
    metrics = _metrics_callback(cfg, datamodule)  # so do missing Inception weights
    model = instantiate(cfg.model, _convert_="all")
    callbacks = [ProcessPolicy(), ScalarLogger(int(cfg.log_every_n_iterations))]
    callbacks += [metrics] if metrics is not None else []
    configured = [instantiate(c) for c in (cfg.callbacks or {}).values() if c is not None]
    # one switch, trainer.enable_progress_bar, for the bar; a sweep's jobs print a line instead
    show_bar = cfg.trainer.get("enable_progress_bar", True) and not _hydra_facts()["multirun"]
    if not show_bar:
        from lightning.pytorch.callbacks import ProgressBar

        configured = [c for c in configured if not isinstance(c, ProgressBar)]
    callbacks += configured
    callbacks += extra_callbacks or []  # last: the summary is written after the final checkpoint
    cadences = [c.every_n_iterations for c in callbacks if isinstance(c, IterationCallback)]
    schedule = IterationSchedule(int(cfg.iterations), int(cfg.iterations_per_batch), cadences)
    datamodule.configure_loop(schedule, batches_per_iteration=model.real_batches_per_iteration)
    loggers = []
    for logger_cfg in (cfg.logger or {}).values():
        if logger_cfg is None:
            continue
        tensorboard = str(logger_cfg.get("_target_", "")).endswith("TensorBoardLogger")
        if resume_iteration is not None and tensorboard:
            loggers.append(instantiate(logger_cfg, purge_step=resume_iteration + 1))
        else:
            loggers.append(instantiate(logger_cfg))
    from genlab.run.launch import choose_strategy

    strategy = choose_strategy(cfg.trainer.get("strategy", "auto"), _hydra_facts()["multirun"])
    trainer = instantiate(
        cfg.trainer,
        enable_progress_bar=show_bar,
        strategy=strategy,
        callbacks=callbacks,
        logger=loggers or False,
        max_steps=int(cfg.iterations) * model.optimizer_steps_per_iteration,
    )
    return datamodule, model, trainer


def _metrics_callback(cfg: DictConfig, datamodule: Any) -> Any:
    """The metrics callback with its suite set up (extractors, real statistics), or None."""
    from hydra.utils import instantiate

    from genlab.callbacks.metrics import MetricsCallback

    if cfg.metrics.suite is None:
        return None
    import torch

    suite = instantiate(cfg.metrics.suite)
    with torch.random.fork_rng():  # building extractors must not move the run's RNG streams
        suite.setup(datamodule, cfg.paths.cache_dir)
    return MetricsCallback(
        suite,
        every_n_iterations=int(cfg.metrics.every_n_iterations),
        num_samples=int(cfg.metrics.num_samples),
        batch_size=int(cfg.metrics.batch_size),
    )


def _log_traceback_to_files(err: BaseException) -> None:
    """The full traceback goes to the run's log file only; the screen gets one message."""
    record = logging.LogRecord(
        log.name,
        logging.ERROR,
        __file__,
        0,
        "error details",
        None,
        (type(err), err, err.__traceback__),
    )
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


def _fail_job(cfg: DictConfig, err: BaseException) -> float:
    """A failed sweep job: its failed summary.json (written here when the job stopped before its
    run record existed, e.g. a rejected config), its one console line, the worst value."""
    _log_traceback_to_files(err)
    hydra_facts = _hydra_facts()
    run_dir = Path(cfg.paths.output_dir)
    try:
        choices = hydra_facts["choices"]
        facts = {key: choices.get(key) for key in ("model", "data", "net")}
        facts.update(seed=cfg.seed, overrides=hydra_facts["overrides"], started_at=now_iso())
        record = RunRecord(run_dir, facts)
        if not record.path.exists():
            record.write("failed", 0, {}, **failure_fields(err))
        summary = read_summary(run_dir)
    except Exception as record_err:  # the sweep goes on even when the folder is unusable
        log.error("could not record the failure: %s: %s", type(record_err).__name__, record_err)
        summary = {"status": "failed", "overrides": hydra_facts["overrides"]}
    print(job_line(summary, run_dir, hydra_facts["job_number"]), flush=True)
    return worst_value(cfg.optimized_direction)


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="train")
def hydra_main(cfg: DictConfig) -> float | None:
    """The Hydra app: one run (or one job of a sweep).

    Bad input exits with code 2 and one message. Inside a sweep (-m) a job that fails in
    training (divergence, out of memory, bad data, a rejected config) is recorded as failed, with
    its traceback, and reports the worst value, so the sweep goes on; a programming error
    (PROGRAMMING_ERRORS) is recorded too but re-raised, so the sweep exits non-zero with it.
    """
    multirun = _hydra_facts()["multirun"]
    try:
        return train(cfg)
    except GenlabError as err:
        if multirun:
            return _fail_job(cfg, err)
        print(f"genlab-train: error: {err}", file=sys.stderr)
        _log_traceback_to_files(err)
        sys.exit(2)
    except Exception as err:
        if not multirun:
            raise
        worst = _fail_job(cfg, err)
        if isinstance(err, PROGRAMMING_ERRORS):
            raise
        return worst


def main() -> float | None:
    """Console entry point (genlab-train / python -m genlab.train)."""
    if wants_plain_help(sys.argv[1:]):
        print(help_text(CONF_DIR), end="")
        return None
    return hydra_main()


if __name__ == "__main__":
    main()
