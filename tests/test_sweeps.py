"""Hydra multirun: basic and joblib launchers, thread shares, an Optuna search that survives a
diverging trial. (submitit's local launcher: tests/test_scale.py.)"""

from __future__ import annotations

import math
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import FAST, compose_config, genlab_train_cli
from genlab.run.checks import config_problems
from genlab.run.folder import read_summary
from genlab.run.process import JOBLIB, SUBMITIT_LOCAL, joblib_workers, launcher_threads

# Tiny jobs: 4 iterations, small nets, no optional callbacks, CSV logs only.
TINY = [
    "iterations=4",
    "logger=csv",
    "callbacks=none",
    *(o for o in FAST if not o.startswith("~callbacks")),
]
SEED_X_MODEL = [(0, "gan"), (0, "vae"), (1, "gan"), (1, "vae")]  # Hydra's order for the product


def multirun(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess[str]:
    return genlab_train_cli(tmp_path, "-m", *overrides)


def job_summaries(sweep_dir: Path) -> list[dict[str, Any]]:
    jobs = sorted((p for p in sweep_dir.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    assert [p.name for p in jobs] == [str(i) for i in range(len(jobs))]
    return [read_summary(p) for p in jobs]


def the_sweep_dir(tmp_path: Path) -> Path:
    [stamp] = (tmp_path / "logs" / "multirun").iterdir()
    return stamp


@pytest.mark.parametrize(
    ("launcher", "cores", "expected"),
    [
        ({"_target_": JOBLIB, "n_jobs": 2}, 2, 1),
        ({"_target_": JOBLIB, "n_jobs": 2}, 16, 8),
        ({"_target_": JOBLIB, "n_jobs": 3}, 16, 5),
        ({"_target_": JOBLIB, "n_jobs": -1}, 16, 1),
        ({"_target_": JOBLIB, "n_jobs": -2}, 16, 1),
        ({"_target_": JOBLIB, "n_jobs": 1}, 16, None),
        ({"_target_": JOBLIB, "n_jobs": 32}, 16, 1),
        ({"_target_": SUBMITIT_LOCAL, "cpus_per_task": 4}, 16, 4),
        ({"_target_": SUBMITIT_LOCAL, "cpus_per_task": None}, 16, None),
        ({"_target_": "hydra._internal.core_plugins.basic_launcher.BasicLauncher"}, 16, None),
        (None, 16, None),
    ],
)
def test_launcher_threads(launcher, cores: int, expected: int | None) -> None:
    assert launcher_threads(launcher, cores)[0] == expected


def test_joblib_workers_follow_joblib_negative_counts() -> None:
    assert [joblib_workers(n, 8) for n in (None, 1, 4, -1, -2, -8, -20)] == [1, 1, 4, 8, 7, 1, 1]


def test_num_threads_must_be_a_positive_integer(tmp_path: Path) -> None:
    for bad in ("0", "1.5"):
        cfg = compose_config(tmp_path, [f"num_threads={bad}"])
        assert any(p.startswith("num_threads=") for p in config_problems(cfg))
    assert not config_problems(compose_config(tmp_path, ["num_threads=3"]))


def test_optuna_search_composes_with_its_direction(tmp_path: Path) -> None:
    cfg = compose_config(tmp_path, ["hparams_search=wgan_gp_grid25_optuna"])
    assert cfg.hydra.runtime.choices["hydra/sweeper"] == "genlab_optuna"  # continues a study
    assert cfg.hydra.sweeper.storage.startswith("sqlite:///")
    assert (cfg.data.name, cfg.model._target_) == ("grid25", "genlab.models.wgan_gp.WGANGP")
    assert cfg.metrics.suite._target_.endswith("CoverageSuite")
    assert (cfg.optimized_metric, cfg.optimized_direction) == ("metrics/modes", "maximize")
    assert cfg.hydra.sweeper.direction == "maximize"
    assert cfg.hydra.sweeper.sampler.seed is not None


@pytest.mark.process
def test_basic_launcher_gives_one_folder_and_summary_per_job(tmp_path: Path) -> None:
    result = multirun(tmp_path, "seed=0,1", "model=gan,vae", "metrics=none", *TINY)
    assert result.returncode == 0, result.stderr[-3000:]
    summaries = job_summaries(the_sweep_dir(tmp_path))
    assert [(s["seed"], s["model"]) for s in summaries] == SEED_X_MODEL
    for (seed, model), summary in zip(SEED_X_MODEL, summaries, strict=True):
        assert summary["status"] == "completed" and summary["iterations_done"] == 4
        assert {f"seed={seed}", f"model={model}"} <= set(summary["overrides"])


@pytest.mark.process
def test_rejected_and_failed_jobs_are_recorded_and_the_sweep_goes_on(tmp_path: Path) -> None:
    # jobs 0, 1: a rejected config; job 2: data too small for its batch, found in training
    result = multirun(
        tmp_path,
        "model.optimizer_g.lr=-1.0,1e-4",
        "data.num_samples=10,1000",
        "hydra.sweep.dir=sweep",
        "metrics=none",
        *TINY,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rejected, _, bad_data, completed = job_summaries(tmp_path / "sweep")
    assert rejected["status"] == "failed" and "model.optimizer_g.lr=-1.0" in rejected["error"]
    assert bad_data["status"] == "failed" and "larger than the data set" in bad_data["error"]
    assert "Traceback (most recent call last)" in bad_data["traceback"]
    assert completed["status"] == "completed"
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "sweep into sweep (one line per finished job)"  # as given: relative
    assert sum(line.startswith("job ") for line in lines) == 4
    assert lines[-2].endswith("4 jobs (1 completed, 3 failed)")
    assert lines[-1] == "compare them: genlab-compare sweep"


@pytest.mark.process
def test_a_programming_error_fails_the_sweep(tmp_path: Path) -> None:
    # an optimizer that is not one: configure_optimizers raises TypeError in every job
    result = multirun(
        tmp_path,
        "seed=0,1",
        "model.optimizer_g._target_=builtins.len",
        "hydra.sweep.dir=sweep",
        "metrics=none",
        *TINY,
    )
    assert result.returncode != 0  # not a quiet worst value: Hydra re-raises at the sweep's end
    assert "Traceback" in result.stderr and "TypeError" in result.stderr
    for summary in job_summaries(tmp_path / "sweep"):
        assert summary["status"] == "failed" and summary["error"].startswith("TypeError")


@pytest.mark.process
@pytest.mark.slow
def test_joblib_launcher_shares_the_cores_between_parallel_jobs(tmp_path: Path) -> None:
    result = multirun(
        tmp_path, "hydra/launcher=parallel", "seed=0,1", "model=gan,vae", "metrics=none", *TINY
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("sweep into ")
    summaries = job_summaries(the_sweep_dir(tmp_path))
    assert [(s["seed"], s["model"]) for s in summaries] == SEED_X_MODEL
    threads = max(1, len(os.sched_getaffinity(0)) // 2)
    for summary in summaries:
        assert summary["status"] == "completed" and summary["iterations_done"] == 4
        assert summary["num_threads"] == threads


@pytest.mark.process
@pytest.mark.slow
def test_optuna_search_goes_on_past_a_diverging_trial(tmp_path: Path) -> None:
    # lr 1e30 makes the critic's weights non-finite within 4 iterations. The TPE sampler is
    # seeded (1234 in the config; its first 10 trials are seeded random draws), so which trials
    # draw it is fixed; the checks below hold for whichever do.
    result = multirun(
        tmp_path,
        "hparams_search=wgan_gp_grid25_optuna",
        "data=ring8",
        "model.optimizer_d.lr=choice(1e-4,1e30)",
        "hydra.sweeper.n_trials=4",
        "hydra.sweep.dir=sweep",
        "metrics.num_samples=200",
        "metrics.batch_size=200",
        *TINY,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summaries = job_summaries(tmp_path / "sweep")
    assert len(summaries) == 4
    bad = ["model.optimizer_d.lr=1e+30" in s["overrides"] for s in summaries]
    assert any(bad) and not all(bad), "the seeded draws no longer mix good and bad trials"
    for job, (summary, diverges) in enumerate(zip(summaries, bad, strict=True)):
        assert summary["status"] == ("diverged" if diverges else "completed")
        log_text = (tmp_path / "sweep" / str(job) / "train.log").read_text()
        assert ("returning -inf" in log_text) == diverges  # the worst value when maximizing
    results = yaml.safe_load((tmp_path / "sweep" / "optimization_results.yaml").read_text())
    assert results["best_params"]["model.optimizer_d.lr"] == 1e-4
    good = [s["metrics/modes"] for s, diverges in zip(summaries, bad, strict=True) if not diverges]
    assert math.isfinite(results["best_value"]) and results["best_value"] == max(good)
