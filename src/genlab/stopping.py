"""Stopping on request: SIGINT (Ctrl-C) and SIGTERM end a run, or every job of a local sweep,
cleanly.

On the first of them each running job finishes its current batch, saves `checkpoints/last.ckpt`,
records status `interrupted` with the iteration, and the process exits with the signal's
conventional code (128 + its number: 130 for SIGINT, 143 for SIGTERM). A second one stops at
once; the last checkpoint stays valid (checkpoints are written under a temporary name). The
same command continues every stopped job bit-exactly (a sweep: with hydra.sweep.dir=<its
folder>), as after a kill -9.

Who does what: the process's request (`STOP`) is set by its signal handlers; the stop callback
(genlab.callbacks.stop) acts on it at the end of a batch; a local sweep's parent passes it on
to its worker processes as SIGTERM (`StopRequest.forwarding`), and their own SIGINT is ignored:
the terminal's Ctrl-C reaches every process of the group, and the parent speaks for it.

Preemption stops a run so that it can continue: finish the batch, save the checkpoint, leave
the run record `running`, then pass the signal on (RunPreempted).

On SLURM, submitit sends SIGUSR2 `signal_delay_s` before a time limit or on preemption and
requeues the job when its own handler runs; genlab takes the signal first, saves
`checkpoints/last.ckpt` at the end of the current batch, and then calls submitit's handler from
the main loop, where no training step is half done. The requeued job finds its folder `running`
with a checkpoint and resumes (genlab.run.rerun). Locally, `kill -USR2 <pid>` stops a run or
sweep the same way; the same command continues it.

Shared by the stop callback, the run lifecycle and the launchers, below all of them: it imports
nothing of genlab but its errors.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import FrameType
from typing import Any

from genlab.errors import ConfigError

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def exit_code(signum: int) -> int:
    """The shell's code for a process ended by `signum` (130 for SIGINT, 143 for SIGTERM)."""
    return 128 + int(signum)


class RunStopped(BaseException):
    """A run stopped on a stop signal at `iteration`, its checkpoint saved (None: stopped at
    once, or before it trained; its last saved checkpoint is what continues it).

    A BaseException, like KeyboardInterrupt: no job-failure policy catches it."""

    def __init__(self, signum: int, iteration: int | None, started: bool = True) -> None:
        self.signum = signal.Signals(signum)
        self.iteration = iteration
        self.started = started  # False: asked to stop before it began, nothing of it written
        if not started:
            where = "before it started"
        elif iteration is not None:
            where = f"at iteration {iteration}, checkpoint saved"
        else:
            where = "at once (its last saved checkpoint continues it)"
        super().__init__(f"stopped on {self.signum.name} {where}")


@dataclass(frozen=True)
class StoppedJob:
    """A sweep job that a stop signal ended (iteration None: at once, or before training)."""

    number: int
    overrides: tuple[str, ...]
    iteration: int | None


class SweepStopped(BaseException):
    """A sweep stopped on a stop signal: the jobs it stopped, how many it never started, and
    the command that continues it."""

    def __init__(
        self,
        signum: int,
        stopped: list[StoppedJob],
        not_started: int | None,
        sweep_dir: str | None,
    ) -> None:
        self.signum = signal.Signals(signum)
        self.stopped = sorted(stopped, key=lambda job: job.number)
        self.not_started = not_started
        self.sweep_dir = sweep_dir
        super().__init__(self.report())

    def report(self) -> str:
        head = f"sweep stopped on {self.signum.name}: {len(self.stopped)} job(s) stopped"
        if self.not_started is not None:
            head += f", {self.not_started} not started"
        lines = [head]
        for job in self.stopped:
            at = (
                f"at iteration {job.iteration}, checkpoint saved"
                if job.iteration is not None
                else "at once or before training (its last checkpoint, if any, continues it)"
            )
            lines.append(f"  job {job.number} [{' '.join(job.overrides)}] {at}")
        lines.append(f"continue it with: {continue_sweep_command(self.sweep_dir)}")
        return "\n".join(lines)


def continue_sweep_command(sweep_dir: str | None) -> str:
    """This process's command line, given the sweep folder so that a rerun continues it."""
    args = sys.argv[1:]
    if sweep_dir is not None and not any(a.startswith("hydra.sweep.dir=") for a in args):
        args = [*args, f"hydra.sweep.dir={sweep_dir}"]
    return shlex.join(["genlab-train", *args])


class StopRequest:
    """This process's stop request and the handlers that set it (see the module docstring).

    `enter()` installs the handlers (SIGINT ignored in a sweep's worker) and returns what to
    give `exit()`, which puts the earlier ones back; the outermost exit also clears the
    request. Nested entries re-install the handlers that Lightning's fit replaces."""

    def __init__(self) -> None:
        self.signum: signal.Signals | None = None
        self._depth = 0
        self._forward: Callable[[signal.Signals, bool], None] | None = None
        self._worker = False  # a sweep's worker: its parent tells the user

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def raise_if_requested(self) -> None:
        """Nothing new starts in a process asked to stop."""
        if self.signum is not None:
            raise RunStopped(self.signum, None, started=False)

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is None and self._forward is None and _jobs_run_elsewhere():
            # the parent of a launcher genlab does not drive (hydra's joblib, submitit): what
            # the signal always did there
            default = signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL
            signal.signal(signum, default)
            os.kill(os.getpid(), signum)
            return
        if self.signum is None:
            self.signum = signal.Signals(signum)
            if not self._worker:
                print(
                    f"\ngenlab: {self.signum.name}: stopping at the end of the current batch"
                    " with a checkpoint (again to stop at once)",
                    file=sys.stderr,
                    flush=True,
                )
            if self._forward is not None:
                self._forward(self.signum, False)
            return
        if self._forward is not None:
            self._forward(signal.Signals(signum), True)
        raise RunStopped(signum, None)

    def enter(self, worker: bool = False) -> dict[int, Any]:
        """Install the handlers where this thread can (the main thread; in a sweep's `worker`
        SIGINT is ignored); returns the previous ones."""
        previous: dict[int, Any] = {}
        if not _in_main_thread():
            return previous
        self._worker = self._worker or worker
        for signum in STOP_SIGNALS:
            if signal.getsignal(signum) is signal.SIG_IGN:
                continue  # a worker's SIGINT, or a shell's background job: not stopped this way
            ignore = worker and signum == signal.SIGINT
            previous[signum] = signal.signal(signum, signal.SIG_IGN if ignore else self.handle)
        self._depth += 1
        return previous

    def exit(self, previous: dict[int, Any]) -> None:
        if not _in_main_thread():
            return
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        self._depth = max(0, self._depth - 1)
        if self._depth == 0:
            self.signum = None

    @contextlib.contextmanager
    def handling(self) -> Iterator[None]:
        previous = self.enter()
        try:
            yield
        finally:
            self.exit(previous)

    @contextlib.contextmanager
    def forwarding(self, workers: Callable[[], list[int]]) -> Iterator[None]:
        """While a sweep's workers (`workers()`: their process ids) run: the first stop signal
        is passed on to each as SIGTERM, a second one kills them."""

        def forward(signum: signal.Signals, at_once: bool) -> None:
            for pid in workers():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL if at_once else signal.SIGTERM)

        self._forward = forward
        try:
            yield
        finally:
            self._forward = None


def _jobs_run_elsewhere() -> bool:
    """True in the parent of a sweep whose launcher runs the jobs in processes that genlab's
    launchers do not manage (any but Hydra's basic one and genlab's own)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized() or HydraConfig.get().mode is None:
        return False
    if "MULTIRUN" not in str(HydraConfig.get().mode):
        return False
    target = str(HydraConfig.get().launcher.get("_target_", ""))
    return not (target.endswith("BasicLauncher") or target.startswith("hydra_plugins.genlab_"))


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


STOP = StopRequest()


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
