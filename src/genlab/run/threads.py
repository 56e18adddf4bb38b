"""Torch's intra-op thread count per run, so jobs running side by side share the machine's cores.

`num_threads: null` (the default) sets a count only where a launcher runs several jobs at once on
this machine: under genlab's parallel launcher (hydra/launcher=parallel), hydra's joblib launcher
and the members launcher (hydra/launcher=members) each of their n_jobs jobs gets cores // n_jobs
threads (the share their loky workers also put in OMP_NUM_THREADS); under submitit's local executor
(hydra/launcher=local) each job gets its cpus_per_task, which that executor does not enforce.
Elsewhere torch's default stands: the basic launcher runs one job at a time, SLURM confines each
job to its CPUs. An integer num_threads=N sets N threads for every run.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig

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
