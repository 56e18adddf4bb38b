"""Reruns, resumes, kills, divergence and bad input: a run is trustworthy or says why not."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import (
    FAST,
    compose_config,
    fast_overrides,
    genlab_env,
    genlab_train_cli,
    train_recorded,
    write_hydra_record,
)
from genlab.errors import ConfigError
from genlab.models.gan import GAN
from genlab.run.folder import read_summary
from genlab.train import train


def cli(tmp_path: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    """genlab-train in tmp_path; a resume command carries no paths (the run has its own)."""
    resuming = any(a.startswith("resume=") for a in args)
    return genlab_train_cli(tmp_path, *args, root_dir=not resuming, timeout=timeout)


def resume(run_dir: Path, *overrides: str) -> None:
    """`genlab-train resume=<run_dir> ...`, in-process."""
    train(compose_config(run_dir, [f"resume={run_dir}", *overrides]))


def run_folder(result: subprocess.CompletedProcess[str]) -> Path:
    line = next(ln for ln in result.stdout.splitlines() if ln.startswith("run folder:"))
    return Path(line.split(":", 1)[1].strip())


def final_state(run_dir: Path) -> dict[str, torch.Tensor]:
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    return ckpt["state_dict"]


def train_values(summary: dict) -> dict[str, float]:
    return {k: v for k, v in summary.items() if k.startswith("train/")}


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.mark.parametrize("model", ["gan", "wgan_gp", "vae"])
def test_same_command_twice_is_bitwise_identical(run_train, tmp_path: Path, model: str) -> None:
    runs = [
        run_train(f"model={model}", "iterations=6", run_dir=tmp_path / f"run{i}") for i in range(2)
    ]
    assert train_values(runs[0]) == train_values(runs[1])
    assert runs[0]["config_hash"] == runs[1]["config_hash"]
    assert_same_weights(*(final_state(Path(r["run_dir"])) for r in runs))


def test_run_record_says_what_ran_where(run_train) -> None:
    summary = run_train("iterations=2")
    for key in ("git_commit", "git_dirty", "host", "command", "started_at", "ended_at"):
        assert key in summary, key
    for package in ("python", "torch", "lightning", "hydra", "torchmetrics", "genlab"):
        assert summary[f"{package}_version"], package
    assert len(summary["config_hash"]) == 16
    events = EventAccumulator(summary["tensorboard_dir"], size_guidance={"tensors": 0})
    events.Reload()
    assert "config/text_summary" in events.Tags()["tensors"]


def assert_resumed_equals_straight(straight: Path, split: Path, model: str) -> None:
    """The run resumed at iteration 8 of 16 (split) ended as the uninterrupted one (straight):
    its values, its weights, one continuous curve."""
    a, b = read_summary(straight), read_summary(split)
    assert b["status"] == "completed" and b["iterations_done"] == 16
    assert b["resumed_at"][0]["iteration"] == 8
    assert train_values(a) == train_values(b)
    assert_same_weights(final_state(straight), final_state(split))
    # one continuous curve: every log interval once, on the iteration axis
    events = EventAccumulator(b["tensorboard_dir"], size_guidance={"scalars": 0})
    events.Reload()
    tag = "train/loss" if model == "vae" else "train/g_loss"
    assert [e.step for e in events.Scalars(tag)] == [4, 8, 12, 16]


def resume_settings(model: str) -> list[str]:
    data = ["data=digits", "net=mlp"] if model == "vae" else ["data=ring8"]
    return [f"model={model}", *data, "log_every_n_iterations=4"]


@pytest.mark.process
def test_genlab_train_resume_continues_bit_exactly(tmp_path: Path) -> None:
    """The command-line path of a resume (the other models resume in-process below)."""
    common = [*resume_settings("gan"), *FAST]
    straight = cli(tmp_path, *common, "iterations=16", "hydra.run.dir=straight")
    assert straight.returncode == 0, straight.stderr
    first = cli(tmp_path, *common, "iterations=8", "hydra.run.dir=split")
    assert first.returncode == 0, first.stderr
    resumed = cli(tmp_path, "resume=split", "iterations=16")
    assert resumed.returncode == 0, resumed.stderr
    assert run_folder(resumed) == tmp_path / "split"
    assert_resumed_equals_straight(tmp_path / "straight", tmp_path / "split", "gan")
    # the original Hydra record stays; the resume command is recorded beside it
    assert "iterations=8" in (tmp_path / "split" / ".hydra" / "overrides.yaml").read_text()
    assert list((tmp_path / "split" / ".hydra").glob("resume_*/overrides.yaml"))


@pytest.mark.parametrize("model", ["wgan_gp", "vae"])
def test_resume_continues_bit_exactly(tmp_path: Path, model: str) -> None:
    # metrics resume with their runs in the sweep tests (test_sweep_resume's killed sweep)
    common = [*resume_settings(model), "metrics=none"]
    train_recorded(tmp_path / "straight", [*common, "iterations=16"], tmp_path)
    train_recorded(tmp_path / "split", [*common, "iterations=8"], tmp_path)
    resume(tmp_path / "split", "iterations=16")
    assert_resumed_equals_straight(tmp_path / "straight", tmp_path / "split", model)


def test_a_resume_mid_epoch_is_exact_and_lightning_finds_the_loader_resumable(
    tmp_path: Path,
) -> None:
    """Lightning warns about a mid-epoch resume with a loader that is "not resumable" (no
    state_dict / load_state_dict); genlab's batches are a function of (seed, iteration), so the
    resumed run equals the uninterrupted one and the warning must not appear."""
    common = [f"paths.root_dir={tmp_path}", "log_every_n_iterations=5", *FAST]
    straight = tmp_path / "straight"
    train(compose_config(straight, [*common, "iterations=15"]))
    first = compose_config(tmp_path / "split", [*common, "iterations=7"])
    write_hydra_record(first)
    train(first)
    # 15 iterations are one epoch of 3 Lightning batches; the checkpoint at iteration 7 is at
    # optimizer step 14, mid-epoch for Lightning (14 % 3 != 0): where it would warn
    cfg = compose_config(tmp_path / "split", [f"resume={tmp_path / 'split'}", "iterations=15"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train(cfg)
    assert not [w for w in caught if "not resumable" in str(w.message)]
    resumed = read_summary(tmp_path / "split")
    assert resumed["iterations_done"] == 15 and resumed["resumed_at"][0]["iteration"] == 7
    assert train_values(resumed) and train_values(resumed) == train_values(read_summary(straight))
    assert_same_weights(final_state(straight), final_state(tmp_path / "split"))


def test_resume_refuses_overrides_that_change_the_run(tmp_path: Path) -> None:
    train_recorded(tmp_path / "run", ["iterations=4"], tmp_path)
    with pytest.raises(ConfigError, match="refused overrides: model.loss=hinge"):
        resume(tmp_path / "run", "iterations=8", "model.loss=hinge")
    with pytest.raises(ConfigError, match="pass iterations=N with N > 4"):
        resume(tmp_path / "run")
    assert read_summary(tmp_path / "run")["iterations_done"] == 4


@pytest.mark.parametrize(
    ("switch", "lines"),
    [("compile:", 1), ("activation", 7)],  # activation: 2 net keys, 5 net roles
)
def test_resume_of_a_run_saved_before_a_switch_existed(
    tmp_path: Path, switch: str, lines: int
) -> None:
    train_recorded(tmp_path / "run", ["iterations=4"], tmp_path)
    saved = tmp_path / "run" / ".hydra" / "config.yaml"
    old = [line for line in saved.read_text().splitlines() if switch not in line]
    assert len(old) == len(saved.read_text().splitlines()) - lines
    saved.write_text("\n".join(old) + "\n")
    resume(tmp_path / "run", "iterations=8")
    assert read_summary(tmp_path / "run")["iterations_done"] == 8


@pytest.mark.process
def test_sigkill_mid_run_resumes_to_completion(tmp_path: Path) -> None:
    args = [
        "iterations=100000",
        "callbacks.checkpoint.every_n_iterations=50",
        "hydra.run.dir=run",
        *FAST,
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "genlab.train", f"paths.root_dir={tmp_path}", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=genlab_env(tmp_path),
        cwd=tmp_path,
    )
    checkpoint = tmp_path / "run" / "checkpoints" / "last.ckpt"
    deadline = time.time() + 120
    while time.time() < deadline and not checkpoint.exists():
        time.sleep(0.2)
    time.sleep(1.0)  # into a later interval, possibly during a save
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert checkpoint.exists(), "no checkpoint before the kill"
    # what a kill during a save leaves behind must not matter
    (checkpoint.parent / "last.ckpt.partial").write_bytes(b"truncated")
    saved = torch.load(checkpoint, weights_only=True)["genlab"]["iteration"]
    assert saved > 0 and saved % 50 == 0
    assert read_summary(tmp_path / "run")["status"] == "running"

    resumed = cli(tmp_path, "resume=run", f"iterations={saved + 20}")
    assert resumed.returncode == 0, resumed.stderr
    summary = read_summary(tmp_path / "run")
    assert summary["status"] == "completed" and summary["iterations_done"] == saved + 20


def test_injected_nan_marks_the_run_diverged(tmp_path: Path, monkeypatch) -> None:
    original = GAN.training_iteration

    def poisoned(self: GAN, real: torch.Tensor) -> None:
        original(self, real)
        if self.iteration == 6:  # the 7th iteration breaks the generator
            with torch.no_grad():
                next(self.generator.parameters()).fill_(math.nan)

    monkeypatch.setattr(GAN, "training_iteration", poisoned)
    cfg = compose_config(
        tmp_path,
        fast_overrides(
            [
                f"paths.root_dir={tmp_path}",
                "iterations=40",
                "log_every_n_iterations=4",
                "callbacks.checkpoint.every_n_iterations=4",
                "optimized_metric=train/g_loss",
            ]
        ),
    )
    value = train(cfg)
    assert value == math.inf  # the worst value for a minimised metric: a sweep goes on
    summary = read_summary(tmp_path)
    assert summary["status"] == "diverged"
    assert summary["diverged_at_iteration"] == 8  # found at the first log interval after it
    assert summary["iterations_done"] == 8
    last_good = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert last_good["genlab"]["iteration"] == 4
    assert all(torch.isfinite(t).all() for t in last_good["state_dict"].values())


def _recorded_run(run: Path) -> Path:
    """A run folder holding the record genlab-train writes (config and overrides), no more."""
    write_hydra_record(compose_config(run, [f"paths.root_dir={run.parent}", "iterations=4"]))
    return run


def _make_corrupt_run(tmp_path: Path) -> str:
    run = _recorded_run(tmp_path / "corrupt")
    (run / "checkpoints").mkdir()
    (run / "summary.json").write_text(json.dumps({"seed": 1, "status": "running"}))
    (run / "checkpoints" / "last.ckpt").write_bytes(b"PK\x03\x04 not a checkpoint")
    return f"resume={run}"


def _make_run_without_checkpoint(tmp_path: Path) -> str:
    run = _recorded_run(tmp_path / "no_checkpoint")
    (run / "summary.json").write_text(json.dumps({"seed": 1, "status": "running"}))
    return f"resume={run}"


def _make_file(tmp_path: Path) -> str:
    (tmp_path / "a_file").write_text("x")
    return f"paths.log_dir={tmp_path / 'a_file' / 'logs'}"


BAD_INPUTS = [
    # (arguments or a maker of one, text the message must contain)
    (["no_such_key=1"], "no_such_key"),
    (["model=no_such_model"], "no_such_model"),
    (["iterations=abc"], "iterations='abc'"),
    (["iterations=0"], "iterations=0 must be an integer >= 1"),
    (["model.optimizer_g.lr=0"], "model.optimizer_g.lr=0 must be a number > 0"),
    (["model=wgan_gp", "model.n_critic=0"], "model.n_critic=0"),
    (["data.batch_size=0"], "data.batch_size=0"),
    (["model=wgan_gp", "model.gp_lambda=-1"], "model.gp_lambda=-1"),
    (["trainer.precision=fp8"], "trainer.precision='fp8' is unknown"),
    (["trainer.accelerator=gpu"], "no CUDA device"),
    (["data=mnist", "data.download=false"], "train-images-idx3-ubyte"),
    ([lambda p: f"resume={p / 'nowhere'}"], "no such run folder"),
    ([_make_run_without_checkpoint], "last.ckpt does not exist"),
    ([_make_corrupt_run], "cannot be read"),
    ([_make_file], "cannot write the run folder"),
]


@pytest.mark.process
@pytest.mark.parametrize(("args", "fragment"), BAD_INPUTS, ids=[f for _, f in BAD_INPUTS])
def test_bad_input_is_refused_before_training(tmp_path: Path, args, fragment: str) -> None:
    argv = [a(tmp_path) if callable(a) else a for a in args]
    result = cli(tmp_path, *argv)
    assert result.returncode != 0
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.rglob("events.out.tfevents.*")), "training started"


def test_best_checkpoint_follows_the_monitored_value(run_train, tmp_path: Path) -> None:
    summary = run_train(
        "model=vae",
        "iterations=30",
        "log_every_n_iterations=5",
        "callbacks.checkpoint.every_n_iterations=5",
        "callbacks.checkpoint.monitor=train/elbo",
        "callbacks.checkpoint.mode=max",
    )
    best = torch.load(Path(summary["run_dir"]) / "checkpoints" / "best.ckpt", weights_only=True)
    kept = [s for s in best["callbacks"].values() if "best" in s][0]["best"]
    events = EventAccumulator(summary["tensorboard_dir"], size_guidance={"scalars": 0})
    events.Reload()
    elbo = {e.step: e.value for e in events.Scalars("train/elbo")}
    best_step = max(elbo, key=elbo.get)
    assert best["genlab"]["iteration"] == best_step
    assert kept == pytest.approx(elbo[best_step], rel=1e-6)
