"""Train the runs of one configuration that differ only in their seed as one batched model.

Each member is still a run of its own: its job folder, config, summary.json, TensorBoard
scalars and pictures, samples.png and last.ckpt are what its plain run writes, and a rerun sweep
plans each member's folder alone (run/sweep_job.py). What they share is the kernels: one
forward, backward and optimizer step computes every member (genlab.models.members).
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from omegaconf import DictConfig

from genlab.errors import ConfigError
from genlab.run.task import PROGRAMMING_ERRORS, worst_value

log = logging.getLogger("genlab.train")


class MembersRefused(ConfigError):
    """Settings under which K seeds cannot train exactly as one batched model."""


def members_refusal(cfg: DictConfig) -> str | None:
    """Why this config cannot train as members (None: it can), naming the switch."""
    precision = str(cfg.trainer.get("precision", "32-true"))
    if precision.startswith("16"):
        return (
            f"trainer.precision={precision}: fp16's GradScaler skips the step of every member"
            " when one member overflows; use bf16-mixed or 32-true, or train the seeds as plain"
            " runs (hydra.launcher.members=1)"
        )
    devices = cfg.trainer.get("devices", 1)
    if int(cfg.trainer.get("num_nodes", 1)) > 1 or devices not in (1, "1", [0], "auto"):
        return (
            f"trainer.devices={devices}: members train on one device; for DDP train the seeds as"
            " plain runs (hydra.launcher.members=1)"
        )
    if cfg.compile:
        return (
            "compile=true: members are not compiled; set compile=false or hydra.launcher.members=1"
        )
    if cfg.resume is not None:
        return "resume=...: a run folder resumes as a plain run; drop hydra.launcher.members"
    return None


def train_members(starts: list[Any]) -> list[float | None]:
    """Train these runs (one configuration, different seeds) as one batched model; returns each
    member's swept value. A member that fails to build fails alone."""
    from genlab.callbacks.members import MemberCallbacks, MemberRun
    from genlab.callbacks.metrics import MetricsCallback
    from genlab.callbacks.preemption import PreemptionCheckpoint
    from genlab.data.members import MemberDataModule
    from genlab.models.members import stack_models
    from genlab.run.build import build_parts, build_trainer, iteration_schedule, log_net_sizes
    from genlab.run.process import ProcessPolicy
    from genlab.train import finish_run, record_failure, run_summary

    results: dict[int, float | None] = {}
    members: list[MemberRun] = []
    built: list[Any] = []  # the starts of `members`, in order
    plain_callbacks: list[Any] = []  # the first member's, for a plain run of it
    for i, start in enumerate(starts):
        try:
            parts = build_parts(start.cfg, start.seed, [run_summary(start)], start.purge_step)
            # what Lightning does before a plain run's first step (spectral norm draws its u, v)
            parts.datamodule.setup("fit")
            parts.model.configure_model()
        except Exception as err:
            results[i] = _failed(start, err)
            continue
        for callback in parts.callbacks:
            if isinstance(callback, MetricsCallback):
                start.record.facts.update(callback.suite.identity())
        callbacks = [
            c for c in parts.callbacks if not isinstance(c, ProcessPolicy | PreemptionCheckpoint)
        ]
        members.append(
            MemberRun(len(members), parts.model, parts.datamodule, callbacks, parts.loggers)
        )
        built.append(start)
        plain_callbacks = plain_callbacks or parts.callbacks
    if len(members) == 1:
        log.info("one member left to train: a plain run")
    if members:
        cfg = built[0].cfg
        batched = stack_models([m.model for m in members]) if len(members) > 1 else None
        model = batched if batched is not None else members[0].model
        schedule = iteration_schedule(cfg, members[0].callbacks)
        for member in members:
            member.datamodule.configure_loop(
                schedule,
                batches_per_iteration=model.real_batches_per_iteration,
                completed_iterations=functools.partial(getattr, model, "iteration"),
            )
        log_net_sizes(members[0].model)
        if batched is None:  # one member: a plain run of it, with its own callbacks
            datamodule, callbacks, loggers = (
                members[0].datamodule,
                plain_callbacks,
                members[0].loggers,
            )
        else:
            datamodule = MemberDataModule([m.datamodule for m in members])
            callbacks, loggers = [ProcessPolicy(), MemberCallbacks(members)], []
        trainer = build_trainer(cfg, model, callbacks, loggers)
        try:
            trainer.fit(model, datamodule=datamodule, weights_only=True)
        except Exception as err:
            for start in built:
                record_failure(start, err)
            if isinstance(err, PROGRAMMING_ERRORS):
                raise
        for start in built:
            results[next(i for i, s in enumerate(starts) if s is start)] = finish_run(start)
    return [results[i] for i in range(len(starts))]


def _failed(start: Any, err: BaseException) -> float | None:
    from genlab.run.console import job_line
    from genlab.run.run_record import read_summary
    from genlab.train import record_failure

    if isinstance(err, PROGRAMMING_ERRORS):
        raise err
    log.error("member seed %s failed before training: %s", start.seed, err)
    record_failure(start, err)
    run_dir = start.record.path.parent
    print(job_line(read_summary(run_dir), run_dir, start.job.number), flush=True)
    if start.cfg.optimized_metric is None:
        return None
    return worst_value(start.cfg.optimized_direction)
