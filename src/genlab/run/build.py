"""Seed, then instantiate a run's parts from its checked config: data, model, callbacks,
loggers, trainer (Lightning and the models are imported here, when training starts)."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig

from genlab.run.folder import last_checkpoint

log = logging.getLogger("genlab.train")


def metrics_callback(cfg: DictConfig, datamodule: Any) -> Any:
    """The metrics callback with its suite set up (extractors, real statistics), or None."""
    import torch
    from hydra.utils import instantiate

    from genlab.callbacks.metrics import MetricsCallback

    if cfg.metrics.suite is None:
        return None
    suite = instantiate(cfg.metrics.suite)
    with torch.random.fork_rng():  # building extractors must not move the run's RNG streams
        suite.setup(datamodule, cfg.paths.cache_dir)
    return MetricsCallback(
        suite,
        every_n_iterations=int(cfg.metrics.every_n_iterations),
        num_samples=int(cfg.metrics.num_samples),
        batch_size=int(cfg.metrics.batch_size),
    )


def instantiate_callbacks(cfg: DictConfig, show_progress_bar: bool) -> list[Any]:
    """The callbacks of `cfg.callbacks` (no progress bar unless show_progress_bar)."""
    from hydra.utils import instantiate
    from lightning.pytorch.callbacks import ProgressBar

    callbacks = [instantiate(c) for c in (cfg.callbacks or {}).values() if c is not None]
    if not show_progress_bar:
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
    return callbacks


def instantiate_loggers(cfg: DictConfig, purge_step: int | None, multirun: bool) -> list[Any]:
    """The loggers of `cfg.logger`. With purge_step set (a resumed or restarted run in a used
    folder), TensorBoard hides the events an earlier attempt logged from that step on, so the
    curves continue on one step axis, and genlab's MLflow / W&B loggers continue the logger run
    of a resumed run (genlab.loggers.run_logger)."""
    from hydra.utils import get_class, instantiate
    from lightning.pytorch.loggers import TensorBoardLogger

    from genlab.loggers.run_logger import RunLogger

    loggers = []
    for logger_cfg in (cfg.logger or {}).values():
        if logger_cfg is None:
            continue
        extra: dict[str, Any] = {}
        logger_class = get_class(logger_cfg._target_)
        tensorboard = purge_step is not None and issubclass(logger_class, TensorBoardLogger)
        if tensorboard or issubclass(logger_class, RunLogger):
            extra["purge_step"] = purge_step
        if issubclass(logger_class, RunLogger):
            extra["multirun"] = multirun
        loggers.append(instantiate(logger_cfg, **extra))
    return loggers


@dataclass
class RunParts:
    """A run's parts before its trainer: data, model, callbacks (in order) and loggers."""

    datamodule: Any
    model: Any
    callbacks: list[Any]
    loggers: list[Any]


def build_parts(
    cfg: DictConfig,
    seed: int,
    extra_callbacks: list[Any] | None = None,
    purge_step: int | None = None,
    multirun: bool = False,
) -> RunParts:
    """Seed, then instantiate the data module, model, callbacks and loggers of a checked config
    (`multirun`: a sweep's job, which prints a line instead of a progress bar)."""
    import lightning as L
    from hydra.utils import instantiate

    from genlab.callbacks.process_policy import ProcessPolicy
    from genlab.callbacks.scalars import ScalarLogger
    from genlab.callbacks.stop import StopCheckpoint
    from genlab.run.process import apply_process_policy

    apply_process_policy()
    L.seed_everything(seed, workers=True, verbose=False)
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()  # missing data sets stop the run here, before any model work
    metrics = metrics_callback(cfg, datamodule)  # so do missing Inception weights
    model = instantiate(cfg.model, _convert_="all")
    if cfg.compile:
        model.compile_nets()
    # one switch, trainer.enable_progress_bar, for the bar; a sweep's jobs print a line instead
    show_bar = bool(cfg.trainer.get("enable_progress_bar", True)) and not multirun
    callbacks = [ProcessPolicy(apply_process_policy), ScalarLogger(int(cfg.log_every_n_iterations))]
    callbacks += [metrics] if metrics is not None else []
    callbacks += instantiate_callbacks(cfg, show_bar)
    callbacks += extra_callbacks or []  # the summary is written after the final checkpoint
    checkpoint = last_checkpoint(cfg)
    preemption = str(cfg.preemption_signal) if cfg.preemption_signal is not None else None
    callbacks.append(StopCheckpoint(checkpoint, preemption))
    loggers = instantiate_loggers(cfg, purge_step, multirun)
    return RunParts(datamodule, model, callbacks, loggers)


def record_facts(datamodule: Any, callbacks: list[Any]) -> dict[str, Any]:
    """What a run's record adds once its parts are built: the data's facts (a folder's image
    count and cache key) and the metric evaluator's identity."""
    from genlab.callbacks.metrics import MetricsCallback

    facts = dict(datamodule.record_facts())
    for callback in callbacks:
        if isinstance(callback, MetricsCallback):
            facts.update(callback.suite.identity())
    return facts


def iteration_schedule(cfg: DictConfig, callbacks: list[Any]) -> Any:
    """The iterations per Lightning batch: up to iterations_per_batch, ending at every cadence."""
    from genlab.callbacks.iteration import IterationCallback
    from genlab.data.tensor_batches import IterationSchedule

    cadences = [c.every_n_iterations for c in callbacks if isinstance(c, IterationCallback)]
    return IterationSchedule(int(cfg.iterations), int(cfg.iterations_per_batch), cadences)


def log_net_sizes(model: Any) -> None:
    sizes = [
        f"{name} {type(net).__name__} {sum(p.numel() for p in net.parameters()):,} parameters"
        for name, net in model.named_nets()
    ]
    log.info("%s: %s", type(model).__name__, "; ".join(sizes))


def build_trainer(
    cfg: DictConfig, model: Any, callbacks: list[Any], loggers: list[Any], multirun: bool
) -> Any:
    """The Lightning trainer of `cfg.trainer` with these callbacks and loggers."""
    from hydra.utils import instantiate
    from lightning.pytorch.callbacks import ProgressBar

    from genlab.run.process import choose_strategy

    return instantiate(
        cfg.trainer,
        # the bar in `callbacks` (none when show_bar is off, or with callbacks=none): Lightning's
        # own would count epochs and batches, not iterations
        enable_progress_bar=any(isinstance(c, ProgressBar) for c in callbacks),
        strategy=choose_strategy(cfg.trainer.get("strategy", "auto"), multirun),
        callbacks=callbacks,
        logger=loggers or False,
        max_steps=int(cfg.iterations) * model.optimizer_steps_per_iteration,
    )


def build(
    cfg: DictConfig,
    seed: int,
    extra_callbacks: list[Any] | None = None,
    purge_step: int | None = None,
    multirun: bool = False,
) -> tuple[Any, ...]:
    """Seed, then instantiate (datamodule, model, trainer) from a checked config."""
    return assemble(cfg, build_parts(cfg, seed, extra_callbacks, purge_step, multirun), multirun)


def assemble(cfg: DictConfig, parts: RunParts, multirun: bool) -> tuple[Any, ...]:
    """(datamodule, model, trainer) of a plain run from its parts."""
    model = parts.model
    parts.datamodule.configure_loop(
        iteration_schedule(cfg, parts.callbacks),
        batches_per_iteration=model.real_batches_per_iteration,
        # picklable (ddp_spawn sends data module and model to each process in one pickle)
        completed_iterations=functools.partial(getattr, model, "iteration"),
    )
    log_net_sizes(model)
    trainer = build_trainer(cfg, model, parts.callbacks, parts.loggers, multirun)
    return parts.datamodule, model, trainer
