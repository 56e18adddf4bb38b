"""The checkpoint folder is a config value (`callbacks.checkpoint.dirpath`): a stop saves there,
and resume, a sweep rerun's plan and genlab-sample find the checkpoint there."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import lightning as L
import pytest
from omegaconf import open_dict

from conftest import compose_config, fast_overrides, final_values, write_hydra_record
from genlab.run.folder import last_checkpoint, read_summary
from genlab.run.rerun import JobAction, load_checkpoint_iteration, plan_job
from genlab.sample import run as sample
from genlab.stopping import STOP, RunStopped
from genlab.train import train

WEIGHTS = "callbacks.checkpoint.dirpath=${paths.output_dir}/weights"
QUICK = ["iterations=40", "iterations_per_batch=5", "metrics=none", "~callbacks.samples"]


class StopAt(L.Callback):
    """Asks the run to stop (as SIGTERM's handler would) at the first batch end at or after
    `iteration`, once: `marker` makes it inert afterwards (the resumed run)."""

    def __init__(self, iteration: int, marker: str) -> None:
        self.iteration = iteration
        self.marker = Path(marker)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: Any, *args: Any) -> None:
        if pl_module.iteration >= self.iteration and not self.marker.exists():
            self.marker.touch()
            STOP.signum = signal.SIGTERM


def test_a_changed_checkpoint_folder_is_where_stop_resume_rerun_and_sample_look(
    tmp_path: Path,
) -> None:
    run = tmp_path / "run"
    stop_at = [
        f"+callbacks.stop_at._target_={__name__}.StopAt",
        "+callbacks.stop_at.iteration=20",
        f"+callbacks.stop_at.marker={tmp_path / 'stopped'}",
    ]
    overrides = fast_overrides([f"paths.root_dir={tmp_path}", "seed=3", WEIGHTS, *QUICK])
    cfg = compose_config(run, [*overrides, *stop_at])
    write_hydra_record(cfg)
    with pytest.raises(RunStopped), STOP.handling():
        train(cfg)
    stopped = read_summary(run)
    assert stopped["status"] == "interrupted" and stopped["interrupted_at_iteration"] == 20
    assert load_checkpoint_iteration(run / "weights" / "last.ckpt") == 20
    assert not (run / "checkpoints").exists()

    # a rerun sweep's plan for the job folder: continue from the checkpoint in weights/
    plan = plan_job(run, compose_config(run, [*overrides, *stop_at]), retry_failed=False)
    assert plan.action is JobAction.RESUME and plan.checkpoint == run / "weights" / "last.ckpt"
    assert plan.iteration == 20

    train(compose_config(run, [f"resume={run}"]))
    resumed = read_summary(run)
    assert resumed["status"] == "completed" and resumed["resumed_at"][0]["iteration"] == 20
    straight = tmp_path / "straight"
    train(compose_config(straight, overrides))
    assert final_values(resumed) == final_values(read_summary(straight))
    assert (straight / "weights" / "last.ckpt").is_file()

    pictures = sample([f"ckpt_path={run / 'weights' / 'last.ckpt'}", "n=4", "nrow=2"])
    assert pictures["samples"].is_file() and pictures["samples"].is_relative_to(run)


def test_a_run_without_the_checkpoint_callback_stops_into_the_shipped_folder(
    tmp_path: Path,
) -> None:
    cfg = compose_config(tmp_path / "run", fast_overrides(["callbacks=none"]))
    assert last_checkpoint(cfg) == tmp_path / "run" / "checkpoints" / "last.ckpt"
    assert last_checkpoint(cfg, tmp_path / "other") == tmp_path / "other/checkpoints/last.ckpt"
    with open_dict(cfg):
        cfg.callbacks = {"checkpoint": {"dirpath": "${paths.output_dir}/w"}}
    assert last_checkpoint(cfg, tmp_path / "other") == tmp_path / "other" / "w" / "last.ckpt"
