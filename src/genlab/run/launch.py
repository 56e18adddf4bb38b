"""Which DDP launcher a run may use, given how it was started.

Lightning's `ddp` launcher re-runs `sys.argv` in each child: fine for a single command-line run
(Lightning passes the parent's Hydra run folder to the children), wrong in a Hydra multirun (each
rank would run the whole sweep, and with Optuna train different trials) and wherever sys.argv is
not genlab-train's (pytest, a notebook: use the `ddp_spawn` strategies there, as trainer=ddp_cpu
does). Processes started by srun (SLURM) or torchrun already exist: Lightning
joins them and launches nothing.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

log = logging.getLogger(__name__)


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
