"""Train the runs of one configuration that differ only in their seed as one batched model.

Each member is still a run of its own: its job folder, config, summary.json, TensorBoard
scalars and pictures, samples.png and last.ckpt are what its plain run writes, and a rerun sweep
plans each member's folder alone (run/rerun.py). What they share is the kernels: one
forward, backward and optimizer step computes every member (genlab.models.members).
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from genlab.run.task import PROGRAMMING_ERRORS, worst_value

log = logging.getLogger("genlab.train")


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
    one_device = devices in (1, "1") or (OmegaConf.is_list(devices) and len(devices) == 1)
    if int(cfg.trainer.get("num_nodes", 1)) > 1 or not one_device:
        return (
            f"trainer.devices={devices}: members train on one device; for DDP train the seeds as"
            " plain runs (hydra.launcher.members=1)"
        )
    if cfg.compile:
        return (
            "compile=true: members are not compiled; set compile=false or hydra.launcher.members=1"
        )
    if cfg.resume is not None:
        return "resume=<run folder>: a run folder resumes as a plain run"
    return None


def build_member(
    cfg: DictConfig,
    seed: int,
    extra_callbacks: list[Any] | None = None,
    purge_step: int | None = None,
    multirun: bool = False,
) -> Any:
    """A member's parts (genlab.run.build.RunParts) as its plain run has them at its first
    step: built from its seed, data set up, configure_model applied (spectral norm draws its u,
    v there)."""
    from genlab.run.build import build_parts

    parts = build_parts(cfg, seed, extra_callbacks, purge_step, multirun)
    parts.datamodule.setup("fit")
    parts.model.configure_model()
    return parts


def build_batched(
    cfg: DictConfig, parts: list[Any], multirun: bool = False
) -> tuple[Any, Any, Any, list[Any]]:
    """(data module, batched model, trainer, member runs) for K members' parts (K >= 2)."""
    from genlab.callbacks.members import MemberCallbacks, MemberRun, MemberStopCheckpoint
    from genlab.callbacks.process_policy import ProcessPolicy
    from genlab.callbacks.stop import StopCheckpoint
    from genlab.data.members import MemberDataModule
    from genlab.models.members import stack_models
    from genlab.run.build import build_trainer, iteration_schedule, log_net_sizes
    from genlab.run.process import apply_process_policy

    members = [
        MemberRun(
            index,
            p.model,
            p.datamodule,
            [c for c in p.callbacks if not isinstance(c, ProcessPolicy | StopCheckpoint)],
            p.loggers,
        )
        for index, p in enumerate(parts)
    ]
    batched = stack_models([m.model for m in members])
    schedule = iteration_schedule(cfg, members[0].callbacks)
    for member in members:
        member.datamodule.configure_loop(
            schedule,
            batches_per_iteration=batched.real_batches_per_iteration,
            completed_iterations=functools.partial(getattr, batched, "iteration"),
        )
    log_net_sizes(members[0].model)
    log.info("members: %d seeds as one batched model", len(members))
    dispatcher = MemberCallbacks(members)
    checkpoints = [
        next(c for c in p.callbacks if isinstance(c, StopCheckpoint)).checkpoint_path for p in parts
    ]
    # after the members' own callbacks; the preemption signal (SLURM) is for plain runs only
    callbacks = [
        ProcessPolicy(apply_process_policy),
        dispatcher,
        MemberStopCheckpoint(dispatcher, checkpoints),
    ]
    trainer = build_trainer(cfg, batched, callbacks, [], multirun)
    return MemberDataModule([m.datamodule for m in members]), batched, trainer, members


def train_members(starts: list[Any]) -> list[float | None]:
    """Train these runs (one configuration, different seeds) as batched models; returns each
    member's swept value. Runs that start afresh train together, and so do runs that resume from
    checkpoints of one iteration; a member that fails to build fails alone; a group of one
    trains as a plain run."""
    groups: dict[int, list[int]] = {}
    for index, start in enumerate(starts):
        groups.setdefault(start.resume.iteration if start.resume else 0, []).append(index)
    results: dict[int, float | None] = {}
    for indices in groups.values():
        values = _train_group([starts[i] for i in indices])
        results.update(zip(indices, values, strict=True))
    return [results[i] for i in range(len(starts))]


def _train_group(starts: list[Any]) -> list[float | None]:
    import torch

    from genlab.callbacks.members import MemberCallbacks
    from genlab.models.members import stack_checkpoints
    from genlab.run.build import assemble, record_facts
    from genlab.run.lifecycle import finish_run, fit_run, record_failure, run_summary

    if len(starts) == 1 and starts[0].resume is not None:  # a plain resume, as train() does
        try:
            fit_run(starts[0])
        except Exception as err:
            return [_failed(starts[0], err)]
        return [finish_run(starts[0])]
    results: dict[int, float | None] = {}
    built: list[tuple[int, Any, Any]] = []  # (index in starts, start, parts)
    for index, start in enumerate(starts):
        try:
            parts = build_member(
                start.cfg, start.seed, [run_summary(start)], start.purge_step, start.job.multirun
            )
        except Exception as err:
            results[index] = _failed(start, err)
            continue
        start.record.facts.update(record_facts(parts.datamodule, parts.callbacks))
        built.append((index, start, parts))
    if not built:
        return [results[i] for i in range(len(starts))]
    cfg, multirun = built[0][1].cfg, built[0][1].job.multirun
    ckpt_path = None
    if len(built) == 1:
        datamodule, model, trainer = assemble(cfg, built[0][2], multirun)
        ckpt_path = str(built[0][1].resume.checkpoint) if built[0][1].resume else None
    else:
        datamodule, model, trainer, members = build_batched(cfg, [b[2] for b in built], multirun)
        if built[0][1].resume is not None:
            checkpoints = [
                torch.load(start.resume.checkpoint, map_location="cpu", weights_only=True)
                for _, start, _ in built
            ]
            for member, checkpoint in zip(members, checkpoints, strict=True):
                member.model.on_load_checkpoint(checkpoint)  # its run state and records
            dispatcher = next(c for c in trainer.callbacks if isinstance(c, MemberCallbacks))
            stacked = stack_checkpoints(checkpoints, dispatcher.state_key)
            path = built[0][1].resume.checkpoint.with_name("members_resume.ckpt.partial")
            torch.save(stacked, path)
            ckpt_path = str(path)
    try:
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    except Exception as err:
        for _, start, _ in built:
            record_failure(start, err)
        if isinstance(err, PROGRAMMING_ERRORS):
            raise
    finally:
        if ckpt_path is not None and ckpt_path.endswith("members_resume.ckpt.partial"):
            Path(ckpt_path).unlink(missing_ok=True)
    for index, start, _ in built:
        results[index] = finish_run(start)
    return [results[i] for i in range(len(starts))]


def _failed(start: Any, err: BaseException) -> float | None:
    from genlab.run.console import job_line
    from genlab.run.folder import read_summary
    from genlab.run.lifecycle import record_failure

    if isinstance(err, PROGRAMMING_ERRORS):
        raise err
    log.error("member seed %s failed before training: %s", start.seed, err)
    record_failure(start, err)
    run_dir = start.record.path.parent
    print(job_line(read_summary(run_dir), run_dir, start.job.number), flush=True)
    if start.cfg.optimized_metric is None:
        return None
    return worst_value(start.cfg.optimized_direction)
