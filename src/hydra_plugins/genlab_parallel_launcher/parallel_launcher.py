"""A Hydra launcher that runs a sweep's jobs `n_jobs` at a time in loky worker processes (as
hydra-joblib-launcher does), and stops them cleanly.

On Ctrl-C or SIGTERM to the sweep (genlab.stopping) no job is started any more, the request
goes on to every worker as SIGTERM, each running job saves its checkpoint and records itself
interrupted, the workers are shut down, and the sweep ends with SweepStopped (exit 130 / 143),
naming the stopped jobs and the command that continues them. A second signal kills the workers
at once. The members launcher (hydra_plugins.genlab_members_launcher) is this launcher with
jobs fused into groups.
"""

from __future__ import annotations

import concurrent.futures
import logging
import multiprocessing
import os
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, configure_log, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, open_dict

log = logging.getLogger(__name__)

# what joblib's loky backend also caps in its workers: each job's share of the cores
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
IDLE_WORKER_SECONDS = 300  # joblib's: workers live on between an Optuna sweeper's batches


@dataclass
class GroupOutcome:
    """What one call of the pool did: the Hydra returns of its jobs (None: not run), the jobs a
    stop signal ended, and how many it never started."""

    returns: list[JobReturn | None]
    stopped: list[Any] = field(default_factory=list)  # genlab.stopping.StoppedJob
    not_started: int = 0


@dataclass
class PoolCall:
    """One call of the pool: the sweep jobs `numbers` with their overrides, and what a worker
    process needs to run them as Hydra would."""

    numbers: list[int]
    overrides: list[Sequence[str]]
    hydra_context: HydraContext
    config: DictConfig
    task_function: TaskFunction
    singleton_state: dict[Any, Any]


def sweep_config(
    hydra_context: HydraContext, config: DictConfig, overrides: Sequence[str], number: int
) -> DictConfig:
    """The config of sweep job `number` with `overrides`, as Hydra's launchers build it."""
    job_config = hydra_context.config_loader.load_sweep_config(config, list(overrides))
    with open_dict(job_config):
        job_config.hydra.job.id = f"{job_config.hydra.job.name}_{number}"
        job_config.hydra.job.num = number
    return job_config


def run_sweep_job(config: DictConfig, hydra_context: HydraContext, task: TaskFunction) -> JobReturn:
    """One job in its folder, with Hydra's job set-up (log files, .hydra/)."""
    HydraConfig.instance().set_config(config)
    return run_job(
        hydra_context=hydra_context,
        config=config,
        task_function=task,
        job_dir_key="hydra.sweep.dir",
        job_subdir_key="hydra.sweep.subdir",
    )


def run_jobs(call: PoolCall) -> GroupOutcome:
    """A pool call of the parallel launcher: its jobs one by one (one, unless given more)."""
    from genlab.stopping import STOP, SweepStopped

    numbers = call.numbers
    outcome = GroupOutcome([None] * len(numbers))
    for index, (job_overrides, number) in enumerate(zip(call.overrides, numbers, strict=True)):
        if STOP.requested:
            outcome.not_started += len(numbers) - index
            break
        job_config = sweep_config(call.hydra_context, call.config, job_overrides, number)
        try:
            outcome.returns[index] = run_sweep_job(
                job_config, call.hydra_context, call.task_function
            )
        except SweepStopped as stopped:
            outcome.stopped += stopped.stopped
            outcome.not_started += len(numbers) - index - 1 + (0 if stopped.stopped else 1)
            break
    return outcome


def _run_call(worker: Callable[[PoolCall], GroupOutcome], call: PoolCall) -> GroupOutcome:
    """`worker(call)` in a process set up as Hydra sets up one that runs sweep jobs."""
    setup_globals()
    Singleton.set_state(call.singleton_state)
    return worker(call)


def _enter_worker() -> None:
    """A pool worker's first act: stop on its parent's SIGTERM, ignore the terminal's SIGINT."""
    from genlab.stopping import STOP

    STOP.enter(worker=True)


def _worker_env(n_jobs: int) -> dict[str, str]:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    share = str(max(1, (cores or 1) // n_jobs))
    return {name: os.environ.get(name, share) for name in THREAD_VARIABLES}


def _worker_pids() -> list[int]:
    return [p.pid for p in multiprocessing.active_children() if p.pid is not None]


def run_pool(
    calls: list[PoolCall], worker: Callable[[PoolCall], GroupOutcome], n_jobs: int
) -> list[GroupOutcome | None]:
    """`worker(call)` for each call, `n_jobs` at a time in loky workers (1: in this process,
    in order); a stop signal ends the dispatch (None: a call never made) and the workers."""
    from genlab.stopping import STOP

    outcomes: list[GroupOutcome | None] = [None] * len(calls)
    if n_jobs == 1:
        for index, call in enumerate(calls):
            if STOP.requested:
                break
            outcomes[index] = _run_call(worker, call)
        return outcomes
    from joblib.externals.loky import get_reusable_executor

    executor = get_reusable_executor(
        max_workers=n_jobs,
        timeout=IDLE_WORKER_SECONDS,
        initializer=_enter_worker,
        env=_worker_env(n_jobs),
    )
    waiting = list(enumerate(calls))
    running: dict[concurrent.futures.Future, int] = {}
    with STOP.forwarding(_worker_pids):
        try:
            while waiting or running:
                while waiting and len(running) < n_jobs and not STOP.requested:
                    index, call = waiting.pop(0)
                    running[executor.submit(_run_call, worker, call)] = index
                if not running:
                    break
                done, _ = concurrent.futures.wait(
                    running, timeout=0.5, return_when=concurrent.futures.FIRST_COMPLETED
                )
                for future in done:
                    outcomes[running.pop(future)] = future.result()
        finally:
            if STOP.requested:  # none is left running, nor reused by a later sweep
                executor.shutdown(wait=True, kill_workers=bool(running))
    return outcomes


def stop_sweep_if_requested(
    outcomes: list[GroupOutcome | None], calls: list[PoolCall], sweep_dir: str
) -> None:
    """Raise SweepStopped (which genlab-train reports) when a stop signal ended the sweep."""
    from genlab.stopping import STOP, SweepStopped

    stopped = [job for o in outcomes if o is not None for job in o.stopped]
    if not (STOP.requested or stopped):
        return
    not_started = sum(o.not_started for o in outcomes if o is not None)
    not_started += sum(len(c.numbers) for o, c in zip(outcomes, calls, strict=True) if o is None)
    raise SweepStopped(STOP.signum or signal.SIGTERM, stopped, not_started, sweep_dir)


class ParallelLauncher(Launcher):
    """See the module docstring; configured by conf/hydra/launcher/parallel.yaml."""

    def __init__(self, n_jobs: int) -> None:
        from genlab.run.process import available_cores, joblib_workers

        if n_jobs == 0:
            raise ValueError("hydra.launcher.n_jobs=0: use N >= 1, or -1 for one job per core")
        self.n_jobs = joblib_workers(n_jobs, available_cores())  # -1: a core each, as joblib
        self.config: DictConfig | None = None
        self.task_function: TaskFunction | None = None
        self.hydra_context: HydraContext | None = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.task_function = task_function

    def groups(self, job_overrides: Sequence[Sequence[str]]) -> list[list[int]]:
        """The jobs each pool call runs, in the order they start: here one job a call."""
        return [[index] for index in range(len(job_overrides))]

    worker: Callable[[PoolCall], GroupOutcome] = staticmethod(run_jobs)

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        setup_globals()
        assert self.config is not None and self.hydra_context is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        sweep_dir = str(self.config.hydra.sweep.dir)
        Path(sweep_dir).mkdir(parents=True, exist_ok=True)
        groups = self.groups(job_overrides)
        calls = [
            PoolCall(
                [initial_job_idx + i for i in group],
                [job_overrides[i] for i in group],
                self.hydra_context,
                self.config,
                self.task_function,
                Singleton.get_state(),
            )
            for group in groups
        ]
        outcomes = run_pool(calls, self.worker, self.n_jobs)
        stop_sweep_if_requested(outcomes, calls, sweep_dir)
        returns: list[JobReturn | None] = [None] * len(job_overrides)
        for group, outcome in zip(groups, outcomes, strict=True):
            assert outcome is not None
            for index, ret in zip(group, outcome.returns, strict=True):
                returns[index] = ret
        return returns  # type: ignore[return-value]
