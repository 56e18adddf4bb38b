"""The process a run trains in: what Hydra says about the job, torch's threads, the DDP
launcher a run may use, and process-wide settings.

The Hydra job (`current_job`): its overrides, group choices, sweep mode and number; read once
per run, by genlab.run.lifecycle, and passed on.

Threads: `num_threads: null` (the default) sets a count only where a launcher runs several jobs
at once on this machine: under genlab's parallel launcher (hydra/launcher=parallel), hydra's
joblib launcher and the members launcher (hydra/launcher=members) each of their n_jobs jobs gets
cores // n_jobs threads (the share their loky workers also put in OMP_NUM_THREADS); under
submitit's local executor (hydra/launcher=local) each job gets its cpus_per_task, which that
executor does not enforce. Elsewhere torch's default stands: the basic launcher runs one job at
a time, SLURM confines each job to its CPUs. An integer num_threads=N sets N threads for every
run.

DDP: Lightning's `ddp` launcher re-runs `sys.argv` in each child: fine for a single
command-line run (Lightning passes the parent's Hydra run folder to the children), wrong in a
Hydra multirun (each rank would run the whole sweep, and with Optuna train different trials) and
wherever sys.argv is not genlab-train's (pytest, a notebook: use the `ddp_spawn` strategies
there, as trainer=ddp_cpu does). Processes started by srun (SLURM) or torchrun already exist:
Lightning joins them and launches nothing.

Process-wide settings, each with its reason, in one place: `apply_process_policy()` runs in the
main process when a run is built and, through the ProcessPolicy callback's `setup`
(genlab.callbacks.process_policy), in every
DDP worker a spawn launcher starts (workers import Lightning afresh, which sets its environment
again).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig

from genlab.run.console import quiet_third_party


@dataclass(frozen=True)
class HydraJob:
    """The job as Hydra started it (outside Hydra, e.g. a test calling train(): a plain run)."""

    overrides: list[str] = field(default_factory=list)
    choices: dict[str, str] = field(default_factory=dict)
    multirun: bool = False
    number: int | None = None


def current_job() -> HydraJob:
    """The running Hydra job's facts."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return HydraJob()
    hydra_cfg = HydraConfig.get()
    return HydraJob(
        overrides=list(hydra_cfg.overrides.task),
        choices=dict(hydra_cfg.runtime.choices),
        multirun=str(hydra_cfg.mode) == "RunMode.MULTIRUN",
        number=hydra_cfg.job.get("num"),
    )


log = logging.getLogger(__name__)

JOBLIB = "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"
SUBMITIT_LOCAL = "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher"
MEMBERS = "hydra_plugins.genlab_members_launcher.members_launcher.MembersLauncher"
PARALLEL = "hydra_plugins.genlab_parallel_launcher.parallel_launcher.ParallelLauncher"


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def joblib_workers(n_jobs: int | None, cores: int) -> int:
    """How many jobs joblib runs at once for `n_jobs` (-1: one per core, -2: all but one...)."""
    if n_jobs is None:
        return 1
    return max(1, cores + 1 + n_jobs) if n_jobs < 0 else max(1, n_jobs)


def launcher_threads(launcher: Mapping[str, Any] | None, cores: int) -> tuple[int | None, str]:
    """The per-job thread count the Hydra launcher implies (None: none) and why."""
    target = launcher.get("_target_") if launcher is not None else None
    if target in (JOBLIB, PARALLEL, MEMBERS):
        workers = joblib_workers(launcher.get("n_jobs"), cores)
        if workers > 1:
            return max(1, cores // workers), f"{workers} parallel joblib jobs on {cores} cores"
    elif target == SUBMITIT_LOCAL and launcher.get("cpus_per_task"):
        return int(launcher["cpus_per_task"]), "hydra.launcher.cpus_per_task of submitit local"
    return None, "torch's default"


def _launcher_config() -> Mapping[str, Any] | None:
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    return HydraConfig.get().launcher


def configure_threads(cfg: DictConfig) -> int:
    """Apply cfg.num_threads (null: what the launcher implies); returns torch's thread count."""
    import torch

    if cfg.num_threads is not None:
        threads, why = int(cfg.num_threads), "num_threads"
    else:
        threads, why = launcher_threads(_launcher_config(), available_cores())
    if threads is not None:
        torch.set_num_threads(threads)
        log.info("torch intra-op threads: %d (%s)", threads, why)
    return torch.get_num_threads()


def externally_launched(env: Mapping[str, str]) -> bool:
    """True under torchrun, or under srun with more than one task."""
    if "TORCHELASTIC_RUN_ID" in env:
        return True
    return int(env.get("SLURM_NTASKS", "1")) > 1 and "SLURM_JOB_ID" in env


def choose_strategy(
    strategy: object, multirun: bool, env: Mapping[str, str] | None = None
) -> object:
    """`strategy` with a re-exec'ing `ddp*` swapped for `ddp_spawn*` where re-exec is wrong."""
    env = os.environ if env is None else env
    if not isinstance(strategy, str) or not strategy.startswith("ddp") or "spawn" in strategy:
        return strategy
    if externally_launched(env):
        return strategy
    if multirun:
        spawned = strategy.replace("ddp", "ddp_spawn", 1)
        log.info("strategy %s -> %s: no re-running sys.argv in a sweep", strategy, spawned)
        return spawned
    return strategy


def apply_process_policy() -> None:
    """Quiet third-party output (run/console.py) and drop Lightning's NVML-based CUDA check.

    `import lightning` sets PYTORCH_NVML_BASED_CUDA_CHECK=1 so that checking for CUDA cannot
    poison a later fork. Once the training processes exist it only costs: until CUDA is
    initialised (always, on a CPU run) each torch.cuda.is_available() - torch's Optimizer.step
    makes one per step - re-opens NVML (toy GAN on a 2-core CPU with a CUDA build of torch:
    84 -> 121 iterations/s).
    """
    quiet_third_party()
    os.environ.pop("PYTORCH_NVML_BASED_CUDA_CHECK", None)
