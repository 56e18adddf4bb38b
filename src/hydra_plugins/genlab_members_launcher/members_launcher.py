"""A Hydra launcher that fuses a sweep's jobs which differ only in `seed` into member groups.

Each group of up to `members` jobs (same overrides but the seed) trains as one batched model in
one process (genlab.run.members); `n_jobs` groups run at a time, in loky worker processes, and
stop on Ctrl-C / SIGTERM as on the parallel launcher (hydra_plugins.genlab_parallel_launcher),
which this one extends. Every job keeps its number, folder, `.hydra/`
record and return value, so sweepers, `genlab-compare` and reruns see the jobs they would see
on the other launchers. A group of one, and a job whose config cannot train as members
(genlab.run.members.members_refusal), run as plain jobs. With several workers, groups start
longest first (by optimizer steps: WGAN-GP's critic steps count), so that a long group does not
start last.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus, configure_log
from omegaconf import DictConfig

from hydra_plugins.genlab_parallel_launcher.parallel_launcher import (
    GroupOutcome,
    ParallelLauncher,
    PoolCall,
    run_jobs,
    run_sweep_job,
    sweep_config,
)

log = logging.getLogger(__name__)


def _seedless(overrides: Sequence[str]) -> tuple[str, ...]:
    return tuple(o for o in overrides if o.split("=", 1)[0].lstrip("+~") != "seed")


def member_groups(job_overrides: Sequence[Sequence[str]], members: int) -> list[list[int]]:
    """Indices of the jobs that train together: same overrides but the seed, in sweep order,
    up to `members` per group."""
    by_key: dict[tuple[str, ...], list[list[int]]] = {}
    groups: list[list[int]] = []
    for index, overrides in enumerate(job_overrides):
        chunks = by_key.setdefault(_seedless(overrides), [])
        if not chunks or len(chunks[-1]) >= members:
            chunks.append([])
            groups.append(chunks[-1])
        chunks[-1].append(index)
    return groups


def optimizer_steps(config: DictConfig) -> int:
    """Optimizer steps a job's training takes (iterations x steps per iteration): the order
    groups start in, longest first, so that the last group to finish is not a long one."""
    model = config.get("model") or {}
    per_iteration = 1 + int(model.get("n_critic", model.get("d_steps", 0)) or 0)
    return int(config.get("iterations", 0) or 0) * per_iteration


def run_group(call: PoolCall) -> GroupOutcome:
    """Run one group's jobs: each prepared in its own folder with Hydra's job set-up, then
    trained together (in a worker process, or in this one)."""
    from genlab.run.lifecycle import RunStart
    from genlab.run.members import members_refusal, train_members
    from genlab.run.task import run_task
    from genlab.stopping import RunStopped, StoppedJob, SweepStopped

    numbers, overrides, hydra_context = call.numbers, call.overrides, call.hydra_context
    configs = [
        sweep_config(hydra_context, call.config, o, n)
        for o, n in zip(overrides, numbers, strict=True)
    ]
    if len(configs) == 1 or members_refusal(configs[0]) is not None:
        if len(configs) > 1:
            log.warning("members: %s; these jobs run one by one", members_refusal(configs[0]))
        return run_jobs(call)
    returns: list[JobReturn] = []
    try:
        for job_config in configs:
            prepare = lambda cfg: run_task(_start_member, cfg)  # noqa: E731
            returns.append(run_sweep_job(job_config, hydra_context, prepare))
    except SweepStopped:  # asked to stop while the group was being prepared
        for ret in returns:
            if ret.status is JobStatus.COMPLETED and isinstance(ret.return_value, RunStart):
                ret.return_value.lock.release()
        return GroupOutcome([None] * len(configs), not_started=len(configs))
    members = [
        index
        for index, r in enumerate(returns)
        if r.status is JobStatus.COMPLETED and isinstance(r.return_value, RunStart)
    ]
    HydraConfig.instance().set_config(configs[0])
    _log_to_every_member(configs, returns)
    starts = [returns[i].return_value for i in members]
    try:
        values = iter(train_members(starts))
    except RunStopped as stop:
        stopped = [StoppedJob(numbers[i], tuple(overrides[i]), stop.iteration) for i in members]
        return GroupOutcome(list(returns), stopped=stopped)
    finally:
        for start in starts:
            start.lock.release()
    for index in members:
        returns[index].return_value = next(values)
    return GroupOutcome(list(returns))


def _start_member(cfg: DictConfig) -> Any:
    """start_run, with the config's interpolations resolved while its own job is Hydra's
    current one (its folder: the members train after every job has been prepared)."""
    from omegaconf import OmegaConf

    from genlab.run.lifecycle import RunStart, start_run

    start = start_run(cfg)
    if isinstance(start, RunStart):
        OmegaConf.resolve(start.cfg)
    return start


def _log_to_every_member(configs: list[DictConfig], returns: list[JobReturn]) -> None:
    """The group's log lines go to each member's log file (what run_job set up for the last
    member goes to the first member's, and the others gain a handler each)."""
    from genlab.callbacks.members import CURRENT_MEMBER

    configure_log(configs[0].hydra.job_logging, configs[0].hydra.verbose)
    root = logging.getLogger()
    template = next((h for h in root.handlers if isinstance(h, logging.FileHandler)), None)
    if template is None:
        return
    template.addFilter(_MemberFilter(0, CURRENT_MEMBER))
    for index, ret in enumerate(returns[1:], start=1):
        path = Path(ret.hydra_cfg.hydra.runtime.output_dir) / Path(template.baseFilename).name
        handler = logging.FileHandler(path)
        handler.setFormatter(template.formatter)
        handler.setLevel(template.level)
        handler.addFilter(_MemberFilter(index, CURRENT_MEMBER))
        root.addHandler(handler)


class _MemberFilter(logging.Filter):
    """Passes the lines of the whole group and of one member's callbacks."""

    def __init__(self, index: int, current: Any) -> None:
        super().__init__()
        self.index = index
        self.current = current

    def filter(self, record: logging.LogRecord) -> bool:
        member = self.current.get()
        return member is None or member == self.index


class MembersLauncher(ParallelLauncher):
    """See the module docstring; configured by conf/hydra/launcher/members.yaml."""

    def __init__(self, members: int, n_jobs: int) -> None:
        if members < 1 or n_jobs < 1:
            raise ValueError(
                f"hydra.launcher.members={members}, n_jobs={n_jobs}: both must be >= 1"
            )
        super().__init__(n_jobs)
        self.members = members

    worker = staticmethod(run_group)

    def groups(self, job_overrides: Sequence[Sequence[str]]) -> list[list[int]]:
        assert self.config is not None and self.hydra_context is not None
        groups = member_groups(job_overrides, self.members)
        log.info(
            "members: %d jobs in %d groups of up to %d, %d at a time",
            len(job_overrides),
            len(groups),
            self.members,
            self.n_jobs,
        )
        if self.n_jobs > 1 and len(groups) > self.n_jobs:  # longest first (job numbers stay)
            steps = [
                optimizer_steps(
                    self.hydra_context.config_loader.load_sweep_config(
                        self.config, list(job_overrides[group[0]])
                    )
                )
                for group in groups
            ]
            groups = [g for _, g in sorted(zip(steps, groups, strict=True), key=lambda s: -s[0])]
        return groups
