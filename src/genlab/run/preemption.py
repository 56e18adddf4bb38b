"""Stopping a run on a signal so that it can continue: finish the batch, save the checkpoint,
leave the run record `running`, then pass the signal on (the callback that does it:
genlab.callbacks.preemption; what stops the run: RunPreempted, here, light to import).

On SLURM, submitit sends SIGUSR2 `signal_delay_s` before a time limit or on preemption and
requeues the job when its own handler runs; genlab takes the signal first, saves
`checkpoints/last.ckpt` at the end of the current batch, and then calls submitit's handler from
the main loop, where no training step is half done. The requeued job finds its folder `running`
with a checkpoint and resumes (genlab.run.sweep_job). Locally, `kill -USR2 <pid>` stops a run or
sweep the same way; the same command continues it.
"""

from __future__ import annotations

import signal
from typing import Any

from genlab.errors import ConfigError

SignalHandler = Any  # what signal.signal returns: a callable, SIG_DFL, SIG_IGN or None


def signal_number(name: str) -> signal.Signals:
    """The signal called `name` (SIGUSR2, USR2, SIGTERM ...), or a ConfigError naming the key."""
    full = name if name.upper().startswith("SIG") else f"SIG{name}"
    try:
        return signal.Signals[full.upper()]
    except KeyError:
        raise ConfigError(
            f"preemption_signal={name}: not a signal of this system; use e.g. SIGUSR2 (what"
            " submitit sends before a SLURM time limit) or null to turn it off"
        ) from None


class RunPreempted(BaseException):
    """Training stopped at `iteration` on a signal, with its checkpoint saved.

    A BaseException, like KeyboardInterrupt: no job-failure policy may catch it, the process
    (a whole sweep) stops. `pass_on()` hands the signal to the handler installed before genlab's.
    """

    def __init__(self, signum: int, iteration: int, previous: SignalHandler) -> None:
        super().__init__(
            f"stopped at iteration {iteration} on {signal.Signals(signum).name}; the checkpoint"
            " is saved and the run record says running: the same command continues it"
        )
        self.signum = signum
        self.iteration = iteration
        self.previous = previous

    def pass_on(self) -> None:
        """Run the earlier handler (submitit's requeue, which exits) if there was one."""
        if callable(self.previous):
            self.previous(self.signum, None)
