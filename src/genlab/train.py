"""genlab-train: compose -> check -> build -> fit -> record; returns the swept metric.

Hydra composes the config; genlab.run.lifecycle checks it, prepares the run folder and its
record, builds the parts and fits them. Lightning, torchvision and the models are imported only
when training starts, so `--help` and config errors come back fast.
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from genlab import CONF_DIR
from genlab.run.build import build
from genlab.run.config import register_resolvers
from genlab.run.console import help_text, ignore_harmless_warnings, wants_plain_help
from genlab.run.lifecycle import RunStart, finish_run, fit_run, record_failure, start_run
from genlab.run.task import run_task, sweep_dir
from genlab.stopping import (
    STOP,
    RunPreempted,
    RunStopped,
    SweepStopped,
    continue_sweep_command,
    exit_code,
)

register_resolvers()
__all__ = ["CONF_DIR", "build", "main", "train"]


def train(cfg: DictConfig) -> float | None:
    """Train one run (or finish one sweep job) as configured; returns the swept value, if any."""
    start = start_run(cfg)  # checked, its folder locked and its record started
    if not isinstance(start, RunStart):
        return start  # a rerun sweep's job recorded earlier, or running elsewhere
    try:
        fit_run(start)
    except RunPreempted as stop:
        stop.pass_on()  # submitit's handler requeues the job and exits; locally, nothing
        raise
    except RunStopped:
        raise  # recorded interrupted by the run's summary callback
    except BaseException as err:
        record_failure(start, err)
        raise
    finally:
        start.lock.release()
    return finish_run(start)


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="train")
def hydra_main(cfg: DictConfig) -> float | None:
    """The Hydra app: one run, or one job of a sweep, under genlab's error policy (run_task)."""
    return run_task(train, cfg)


def main() -> float | None:
    """Console entry point (genlab-train / python -m genlab.train)."""
    if wants_plain_help(sys.argv[1:]):
        print(help_text(CONF_DIR), end="")
        return None
    ignore_harmless_warnings()
    with STOP.handling():
        try:
            return hydra_main()
        except SweepStopped as stopped:
            print(f"genlab-train: {stopped.report()}", file=sys.stderr, flush=True)
            sys.exit(exit_code(stopped.signum))
        except RunStopped as stopped:  # a sweep's parent, stopped at once (its workers killed)
            print(f"genlab-train: sweep {stopped}", file=sys.stderr, flush=True)
            command = continue_sweep_command(sweep_dir())
            print(f"continue it with: {command}", file=sys.stderr, flush=True)
            sys.exit(exit_code(stopped.signum))


if __name__ == "__main__":
    main()
