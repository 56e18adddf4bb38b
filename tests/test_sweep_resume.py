"""Sweeps that survive: a killed sweep rerun finishes only what is missing, an interrupted
Optuna search continues its stored study, a preempted job saves its checkpoint and hands the
signal on, and a job folder of another config is never reused."""

from __future__ import annotations

import hashlib
import signal
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import FAST, FAST_CONV, final_values, genlab_train_cli, interrupt, make_fake_mnist
from genlab.compare.jobs import load_jobs
from genlab.run.folder import read_summary
from genlab.run.rerun import FolderConflictError, load_checkpoint_iteration

# 40 iterations, logged every 5 (so batches end every 5), checkpoints every 10, coverage at 20
# and 40: a job killed at iteration 25 resumes from its checkpoint of iteration 20.
RESUMABLE = [
    "iterations=40",
    "log_every_n_iterations=5",
    "callbacks.checkpoint.every_n_iterations=10",
    "callbacks.samples.every_n_iterations=1000",
    "metrics.every_n_iterations=20",
    *FAST,
]


def file_states(job_dir: Path) -> dict[str, tuple[int, str]]:
    """Every file of a job folder but its log (a rerun appends a line there): mtime, sha256."""
    return {
        str(p.relative_to(job_dir)): (
            p.stat().st_mtime_ns,
            hashlib.sha256(p.read_bytes()).hexdigest(),
        )
        for p in sorted(job_dir.rglob("*"))
        if p.is_file() and p.name != "train.log"
    }


@pytest.mark.process
def test_a_killed_sweep_reruns_only_what_is_missing(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    command = ["-m", "seed=0,1,2,3", *RESUMABLE, *interrupt(tmp_path, 2, "SIGKILL")]
    first = genlab_train_cli(tmp_path, *command, f"hydra.sweep.dir={sweep}")
    assert first.returncode == -signal.SIGKILL, first.stderr[-3000:]
    assert [read_summary(sweep / str(j))["status"] for j in range(3)] == [
        "completed", "completed", "running"
    ]  # fmt: skip
    assert not (sweep / "3").exists()
    assert load_checkpoint_iteration(sweep / "2" / "checkpoints" / "last.ckpt") == 20
    before = {job: file_states(sweep / job) for job in ("0", "1")}
    logs_before = {job: (sweep / job / "train.log").read_text() for job in ("0", "1")}

    second = genlab_train_cli(tmp_path, *command, f"hydra.sweep.dir={sweep}")
    assert second.returncode == 0, second.stderr[-3000:]
    lines = [line for line in second.stdout.splitlines() if line.startswith("job ")]
    assert [("(recorded earlier)" in line) for line in lines] == [True, True, False, False]
    for job in ("0", "1"):  # not retrained: every file as it was, the rerun noted in the log
        assert {p: s for p, s in file_states(sweep / job).items() if "rerun_" not in p} == before[
            job
        ]
        assert (sweep / job / "train.log").read_text().startswith(logs_before[job])
        assert list((sweep / job / ".hydra").glob("rerun_*/config.yaml"))
    resumed = read_summary(sweep / "2")
    assert resumed["status"] == "completed" and resumed["iterations_done"] == 40
    assert [r["iteration"] for r in resumed["resumed_at"]] == [20]

    # the same command, never interrupted (the marker exists: the callback stays inert)
    reference = tmp_path / "reference"
    clean = genlab_train_cli(tmp_path, *command, f"hydra.sweep.dir={reference}")
    assert clean.returncode == 0, clean.stderr[-3000:]
    for job in range(4):
        rerun, uninterrupted = read_summary(sweep / str(job)), read_summary(reference / str(job))
        assert rerun["config_hash"] == uninterrupted["config_hash"]
        assert final_values(rerun) and final_values(rerun) == final_values(uninterrupted)
    assert len(load_jobs(sweep)) == 4  # genlab-compare: each job once


@pytest.mark.process
def test_a_preempted_job_saves_its_checkpoint_and_the_rerun_continues(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    command = ["-m", "seed=0,1", *RESUMABLE, *interrupt(tmp_path, 1, "SIGUSR2")]
    first = genlab_train_cli(tmp_path, *command, f"hydra.sweep.dir={sweep}")
    assert first.returncode == 3, first.stderr[-3000:]
    assert "stopped at iteration 25 on SIGUSR2" in first.stderr
    stopped = read_summary(sweep / "1")
    assert stopped["status"] == "running" and stopped["preempted_at_iteration"] == 25
    assert load_checkpoint_iteration(sweep / "1" / "checkpoints" / "last.ckpt") == 25

    second = genlab_train_cli(tmp_path, *command, f"hydra.sweep.dir={sweep}")
    assert second.returncode == 0, second.stderr[-3000:]
    resumed = read_summary(sweep / "1")
    assert resumed["status"] == "completed" and [r["iteration"] for r in resumed["resumed_at"]] == [
        25
    ]
    reference = genlab_train_cli(tmp_path, "-m", "seed=1", *command[2:], "hydra.sweep.dir=ref")
    assert reference.returncode == 0, reference.stderr[-3000:]
    assert final_values(resumed) == final_values(read_summary(tmp_path / "ref" / "0"))


@pytest.mark.process
def test_the_preemption_signal_is_handed_on_after_the_checkpoint(
    run_train: Any, tmp_path: Path
) -> None:
    # submitit's handler requeues the SLURM job and exits with SystemExit(-1); genlab calls it
    # once the checkpoint is saved and the record says running
    calls: list[int] = []

    def submitit_like(signum: int, frame: object) -> None:
        calls.append(signum)
        raise SystemExit(-1)

    previous = signal.signal(signal.SIGUSR2, submitit_like)
    try:
        with pytest.raises(SystemExit) as stopped:
            run_train(*RESUMABLE, *interrupt(tmp_path, 0, "SIGUSR2", iteration=15))
        assert signal.getsignal(signal.SIGUSR2) is submitit_like  # restored after the run
    finally:
        signal.signal(signal.SIGUSR2, previous)
    assert stopped.value.code == -1 and calls == [signal.SIGUSR2]
    summary = read_summary(tmp_path / "run")
    assert summary["status"] == "running" and summary["preempted_at_iteration"] == 15
    assert load_checkpoint_iteration(tmp_path / "run" / "checkpoints" / "last.ckpt") == 15


@pytest.mark.process
def test_a_job_folder_of_another_config_is_refused_and_one_from_before_a_switch_reused(
    tmp_path: Path,
) -> None:
    import json

    from omegaconf import open_dict

    from conftest import compose_config
    from genlab.run.config import config_hash

    tiny = ["iterations=4", "metrics=none", "callbacks=none", "logger=csv", *FAST]
    first = genlab_train_cli(tmp_path, "-m", "seed=0", *tiny, "hydra.sweep.dir=sweep")
    assert first.returncode == 0, first.stderr[-3000:]
    job = tmp_path / "sweep" / "0"
    summary_text = (job / "summary.json").read_text()
    changed = ["model.optimizer_g.lr=1e-3", "model.loss=lsgan"]
    other = genlab_train_cli(tmp_path, "-m", "seed=0", *tiny, *changed, "hydra.sweep.dir=sweep")
    assert other.returncode == 2
    assert "job folder" in other.stderr and str(job) in other.stderr
    assert "differing keys: model.loss, model.optimizer_g.lr" in other.stderr
    assert (job / "summary.json").read_text() == summary_text

    # the folder as a genlab without the `compile` switch wrote it: no key, the hash without it
    cfg = compose_config(tmp_path / "scratch", ["seed=0", *tiny, f"paths.root_dir={tmp_path}"])
    summary = json.loads(summary_text)
    assert summary["config_hash"] == config_hash(cfg)
    with open_dict(cfg):
        del cfg["compile"]
    summary["config_hash"] = config_hash(cfg)
    (job / "summary.json").write_text(json.dumps(summary))
    resolved = yaml.safe_load((job / "resolved_config.yaml").read_text())
    del resolved["compile"]
    (job / "resolved_config.yaml").write_text(yaml.safe_dump(resolved))

    def kept() -> dict[str, tuple[int, str]]:  # a rerun adds Hydra's record beside the original
        return {k: v for k, v in file_states(job).items() if not k.startswith(".hydra/rerun_")}

    before = kept()
    rerun = genlab_train_cli(tmp_path, "-m", "seed=0", *tiny, "hydra.sweep.dir=sweep")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "(recorded earlier)" in rerun.stdout and kept() == before
    # the switch turned on is another config
    switched = genlab_train_cli(
        tmp_path, "-m", "seed=0", *tiny, "compile=true", "hydra.sweep.dir=sweep"
    )
    assert switched.returncode == 2 and "differing keys: compile" in switched.stderr
    assert kept() == before


def test_an_mlp_job_folder_from_before_the_activation_switches_is_reused(tmp_path: Path) -> None:
    import json

    from omegaconf import OmegaConf, open_dict

    from conftest import compose_config
    from genlab.run.config import MLP_NET_SWITCHES, config_hash, run_config
    from genlab.run.folder import RESOLVED_CONFIG
    from genlab.run.rerun import JobAction, plan_job

    args = ["seed=0", "iterations=4", *FAST, f"paths.root_dir={tmp_path}"]
    cfg = compose_config(tmp_path / "scratch", args)
    # the folder of a completed job as a genlab without net.activation & co. wrote it
    old = cfg.copy()
    with open_dict(old):
        for key in MLP_NET_SWITCHES:
            parent, _, leaf = key.rpartition(".")
            del OmegaConf.select(old, parent)[leaf]
    assert "activation" not in OmegaConf.to_yaml(run_config(old))
    job = tmp_path / "sweep" / "0"
    job.mkdir(parents=True)
    OmegaConf.save(run_config(old), job / RESOLVED_CONFIG)
    summary = {"status": "completed", "config_hash": config_hash(old)}
    (job / "summary.json").write_text(json.dumps(summary))
    assert config_hash(old) != config_hash(cfg)
    assert plan_job(job, cfg, retry_failed=False).action == JobAction.DONE
    # a switch at another value than the one the folder ran with is another config
    for changed in ("net.activation=none", "net.discriminator_activation=relu"):
        other = compose_config(tmp_path / "scratch", [*args, changed])
        with pytest.raises(FolderConflictError, match="activation"):
            plan_job(job, other, retry_failed=False)


@pytest.mark.process
def test_a_failed_job_is_kept_unless_retry_is_asked(tmp_path: Path) -> None:
    # MNIST is missing (and cannot be downloaded) the first time: the job fails; with the files
    # in place a rerun keeps the failure on record until sweep_retry_failed=true
    tiny = ["data=mnist", "iterations=4", "metrics=none", "callbacks=none", "logger=csv"]
    command = ["-m", "seed=0", *FAST_CONV, *tiny, "hydra.sweep.dir=sweep"]
    first = genlab_train_cli(tmp_path, *command)
    assert first.returncode == 0, first.stderr[-3000:]
    assert read_summary(tmp_path / "sweep" / "0")["status"] == "failed"
    make_fake_mnist(tmp_path / "data", n=64)
    kept = genlab_train_cli(tmp_path, *command)
    assert kept.returncode == 0 and "failed (recorded earlier" in kept.stdout
    assert read_summary(tmp_path / "sweep" / "0")["status"] == "failed"
    retried = genlab_train_cli(tmp_path, *command, "sweep_retry_failed=true")
    assert retried.returncode == 0, retried.stderr[-3000:]
    assert read_summary(tmp_path / "sweep" / "0")["status"] == "completed"


@pytest.mark.process
@pytest.mark.slow
@pytest.mark.parametrize(
    "launcher",
    [[], ["hydra/launcher=members", "hydra.launcher.n_jobs=1"]],
    ids=["basic", "members"],
)
def test_an_interrupted_optuna_search_continues_its_stored_study(
    tmp_path: Path, launcher: list[str]
) -> None:
    import optuna

    sweep = tmp_path / "sweep"
    command = [
        "-m",
        *launcher,
        "hparams_search=wgan_gp_grid25_optuna",
        "data=ring8",
        "hydra.sweeper.n_trials=4",
        f"hydra.sweep.dir={sweep}",
        *RESUMABLE,
        *interrupt(tmp_path, 2, "SIGKILL"),
    ]
    first = genlab_train_cli(tmp_path, *command)
    assert first.returncode == -signal.SIGKILL, first.stderr[-3000:]
    second = genlab_train_cli(tmp_path, *command)
    assert second.returncode == 0, second.stderr[-3000:]

    study = optuna.load_study(study_name="wgan_gp_grid25", storage=f"sqlite:///{sweep}/optuna.db")
    assert [t.number for t in study.trials] == [0, 1, 2, 3]  # 4 trials, not 2 + 1 + 4
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    for trial in study.trials:  # trial N ran in job folder N, with its own parameters
        summary = read_summary(sweep / str(trial.number))
        assert summary["status"] == "completed" and summary["metrics/modes"] == trial.value
        for name, value in trial.params.items():
            assert f"{name}={value}" in summary["overrides"]
    assert [r["iteration"] for r in read_summary(sweep / "2")["resumed_at"]] == [20]
    results = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert results["best_value"] == max(t.value for t in study.trials)
    assert results["best_params"] == study.best_trial.params
