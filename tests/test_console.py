"""What a user sees: the console of a run and of a sweep, and TensorBoard's HPARAMS data."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from conftest import compose_config, genlab_env


@pytest.mark.process
def test_a_run_prints_each_line_once_and_ends_with_its_metrics(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "genlab.train",
            "iterations=300",
            "num_threads=1",
            "callbacks.progress_bar.refresh_rate=100",
            "hydra.run.dir=run",
        ],
        capture_output=True,
        text=True,
        env=genlab_env(tmp_path),
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    console = (result.stdout + result.stderr).replace("\r", "\n")
    lines = [line for line in console.splitlines() if line.strip()]
    bar = [line for line in lines if line.startswith("train:")]
    rest = [line for line in lines if not line.startswith("train:")]
    assert bar and "/300 [" in bar[-1] and "it/s" in bar[-1] and "modes=" in bar[-1]
    assert len(rest) <= 25, rest
    assert len(rest) == len(set(rest)), rest  # nothing twice
    for noise in ("Tip:", "litlogger", "LeafSpec", "FLOPs", "GPU available", "Epoch 0"):
        assert noise not in console, noise
    report = "\n".join(rest)
    assert "completed: 300 of 300 iterations in" in report
    for name in ("modes", "high_quality", "mode_kl", "frechet_2d"):
        assert any(line.split()[:1] == [name] for line in rest), name
    assert rest[-1].startswith("tensorboard: tensorboard --logdir ")
    log_file = (tmp_path / "run" / "train.log").read_text()
    assert "GPU available" in log_file  # Lightning's lines are kept, in the file


def test_hparams_hold_the_chosen_settings_and_the_final_metrics(run_train) -> None:
    summary = run_train("iterations=4", "fix=lsgan", "model.optimizer_d.lr=3e-4", "seed=7")
    events = EventAccumulator(summary["tensorboard_dir"], size_guidance={"tensors": 0})
    events.Reload()
    content = events.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    hparams = start.session_start_info.hparams
    assert hparams["group/fix"].string_value == "lsgan"
    assert hparams["model/loss"].string_value == "lsgan"
    assert hparams["cli/model.optimizer_d.lr"].string_value == "3e-4"
    assert hparams["model/optimizer_d/lr"].number_value == 3e-4
    assert hparams["seed"].number_value == 7 and hparams["iterations"].number_value == 4
    assert hparams["net/hidden"].string_value == "[32, 32]"
    names = sorted(hparams)  # TensorBoard's order: the command line's values first
    cli = [name for name in names if name.startswith("cli/")]
    assert names[: len(cli)] == cli
    assert {"cli/fix", "cli/iterations", "cli/model.optimizer_d.lr", "cli/seed"} <= set(cli)
    for key in hparams:
        assert "_target_" not in key and not key.startswith(("paths", "callbacks")), key
        assert not key.startswith(("model/generator", "model/discriminator")), key
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"])
    metrics = {info.name.tag for info in experiment.experiment.metric_infos}
    assert {"hparams/metrics/modes", "hparams/metrics/high_quality"} <= metrics


def test_only_genlab_draws_a_progress_bar(tmp_path: Path) -> None:
    from genlab.callbacks.progress import IterationProgressBar
    from genlab.run.build import build

    quick = [f"paths.root_dir={tmp_path}", "iterations=4", "trainer.enable_model_summary=false"]
    cfg = compose_config(tmp_path / "bar", quick)
    assert isinstance(build(cfg, seed=0)[2].progress_bar_callback, IterationProgressBar)
    # without genlab's bar, Lightning would add its own ("Epoch 0/-2", counting batches)
    cfg = compose_config(tmp_path / "none", [*quick, "callbacks=none"])
    assert build(cfg, seed=0)[2].progress_bar_callback is None
