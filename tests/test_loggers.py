"""logger=mlflow and logger=wandb: what their own stores hold after genlab runs (scalars on the
iteration axis, the chosen settings, final values, pictures, status), run names that say what
the run is, resume continuing the logger run under its name, and the message when the package
is missing."""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import FAST, compose_config, final_values, genlab_train_cli
from genlab.errors import ConfigError
from genlab.loggers.mlflow_run import metric_key
from genlab.loggers.run_logger import run_name
from genlab.run.folder import read_summary

TINY = [
    *FAST,
    "iterations=100",
    "log_every_n_iterations=25",
    "callbacks.samples.every_n_iterations=50",
    "metrics.every_n_iterations=50",
]
# The name of a TINY run's MLflow / W&B run: its overrides less the console ones (and the folders,
# loggers and launcher each test adds)
TINY_NAME = " ".join(o for o in TINY if not o.startswith("trainer.enable_"))


def mlflow_client(tmp_path: Path) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(f"sqlite:///{tmp_path / 'logs' / 'mlflow' / 'mlflow.db'}")


def steps(client: Any, run_id: str, key: str) -> list[int]:
    return sorted(m.step for m in client.get_metric_history(run_id, key))


def run_names(run_dir: Path, wandb_id: str) -> list[str]:
    """The display names of a W&B run in its offline files (one per start: a resume adds one)."""
    return [
        r.run.display_name
        for run_file in sorted((run_dir / "wandb").glob(f"offline-run-*-{wandb_id}/*.wandb"))
        for r in wandb_records(run_file)
        if r.WhichOneof("record_type") == "run"
    ]


def run_names_once_written(run_dir: Path, wandb_id: str, timeout: float = 60) -> list[str]:
    """run_names of a run finished in this process: finish() can return before W&B's service
    has written the run's file on a busy machine (seen with two test workers)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if names := run_names(run_dir, wandb_id):
                return names
        except (AssertionError, struct.error):  # a file still being written
            pass
        time.sleep(0.2)
    return run_names(run_dir, wandb_id)


@pytest.mark.process
def test_mlflow_and_wandb_runs_are_named_by_the_runs_overrides(tmp_path: Path) -> None:
    """run_name comes from the config (the resolver genlab_run_name): the overrides less
    folders, loggers and console ones; the folder is a tag / config key beside it."""
    from genlab.run.build import instantiate_loggers
    from genlab.run.config import register_resolvers

    register_resolvers()  # as importing genlab.train does
    run_dir = tmp_path / "run"
    overrides = [
        f"paths.root_dir={tmp_path}",
        "logger=[mlflow,wandb]",
        "hydra/launcher=members",
        "fix=lsgan",
        "trainer.enable_progress_bar=false",
        "seed=1",
    ]
    cfg = compose_config(run_dir, overrides)
    assert cfg.logger.mlflow.run_name == cfg.logger.wandb.run_name == "fix=lsgan seed=1"
    mlflow_logger, wandb_logger = instantiate_loggers(cfg, purge_step=None, multirun=False)
    run = mlflow_client(tmp_path).get_run(mlflow_logger.run_id)  # run_id starts the run
    wandb_logger.experiment.finish()
    assert run.info.run_name == "fix=lsgan seed=1"
    assert run.data.tags["genlab.run_dir"] == str(run_dir)
    assert run_names_once_written(run_dir, wandb_logger.version) == ["fix=lsgan seed=1"]
    [run_file] = (run_dir / "wandb").glob("offline-run-*/*.wandb")
    config = {
        item_key(i): json.loads(i.value_json)
        for r in wandb_records(run_file)
        if r.WhichOneof("record_type") == "run"
        for i in r.run.config.update
    }
    assert config["genlab/run_dir"] == str(run_dir)


def test_the_run_name_rule(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    folder = str(logs / "multirun" / "2026-12-02_10-00-00" / "3")
    noise = [
        f"paths.root_dir={tmp_path}",
        "hydra.sweep.dir=x",
        "hydra/launcher=members",
        "logger=[mlflow,wandb]",
        "logger.mlflow.tracking_uri=http://x",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
        "~callbacks.progress_bar",
        "num_threads=2",
        "iterations_per_batch=5",
        "sweep_retry_failed=true",
    ]
    kept = ["fix=lsgan", "model.lr=0.001", "+callbacks.extra.x=1", "seed=1"]
    assert run_name([*noise[:3], *kept, *noise[3:]], None, folder, str(logs)) == " ".join(kept)
    # a run without overrides (a default run): its folder relative to paths.log_dir
    assert run_name(noise, None, folder, str(logs)) == "multirun/2026-12-02_10-00-00/3"
    assert run_name([], None, str(tmp_path / "elsewhere"), str(logs)) == str(tmp_path / "elsewhere")
    # a resumed run keeps its name: the overrides its folder recorded, not the resume command's
    (tmp_path / "run" / ".hydra").mkdir(parents=True)
    (tmp_path / "run" / ".hydra" / "overrides.yaml").write_text("- fix=lsgan\n- seed=1\n")
    resume = [f"resume={tmp_path / 'run'}", "iterations=150"]
    assert run_name(resume, str(tmp_path / "run"), folder, str(logs)) == "fix=lsgan seed=1"


def test_the_run_name_is_a_label_that_does_not_change_the_config_hash(tmp_path: Path) -> None:
    """Like folders, the name does not count in config_hash: overrides in another order hash
    alike, and so does a sweep folder recorded when run_name was null (reruns reuse it)."""
    from genlab.run.config import config_hash, differing_keys, register_resolvers

    register_resolvers()
    common = [f"paths.root_dir={tmp_path}", "logger=[mlflow,wandb]"]
    cfg = compose_config(tmp_path / "run", [*common, "fix=lsgan", "seed=1"])
    other_order = compose_config(tmp_path / "run", [*common, "seed=1", "fix=lsgan"])
    assert other_order.logger.mlflow.run_name == "seed=1 fix=lsgan"
    unnamed = ["logger.mlflow.run_name=null", "logger.wandb.run_name=null"]
    before = compose_config(tmp_path / "run", [*common, "fix=lsgan", "seed=1", *unnamed])
    assert config_hash(cfg) == config_hash(other_order) == config_hash(before)
    assert differing_keys(before, cfg) == []
    assert config_hash(compose_config(tmp_path / "run", [*common, "fix=lsgan"])) != config_hash(cfg)


@pytest.mark.process
@pytest.mark.slow
def test_mlflow_store_holds_a_sweeps_runs_on_the_iteration_axis(tmp_path: Path) -> None:
    """Two seeds trained as one batched model (members): each its own MLflow and W&B run."""
    sweep = tmp_path / "sweep"
    result = genlab_train_cli(
        tmp_path,
        "-m",
        *TINY,
        "hydra/launcher=members",
        "logger=[mlflow,wandb]",
        "seed=1,2",
        f"hydra.sweep.dir={sweep}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    client = mlflow_client(tmp_path)
    experiment = client.get_experiment_by_name("genlab")
    runs = {r.info.run_id: r for r in client.search_runs([experiment.experiment_id])}
    assert len(runs) == 2
    for job in ("0", "1"):
        summary = read_summary(sweep / job)
        run_id = (sweep / job / "mlflow_run_id").read_text().strip()
        assert summary["mlflow_run_id"] == run_id
        run = runs[run_id]
        assert run.info.status == "FINISHED"
        assert run.info.run_name == f"{TINY_NAME} seed={summary['seed']}"  # what the job is
        tags = run.data.tags
        assert tags["genlab.run_dir"] == str(sweep / job)
        assert tags["genlab.status"] == "completed"
        assert tags["genlab.sweep_dir"] == str(sweep)
        params = run.data.params
        assert params["seed"] == str(summary["seed"]) and params["cli/seed"] == params["seed"]
        assert params["group/model"] == "gan" and params["model/loss"] == "ns"
        # scalars every 25 iterations, metrics and pictures every 50: genlab's iteration axis
        assert steps(client, run_id, "train/g_loss") == [25, 50, 75, 100]
        assert steps(client, run_id, "train/D_x") == [25, 50, 75, 100]  # from train/D(x)
        assert steps(client, run_id, "metrics/modes") == [50, 100]
        for key, value in final_values(summary).items():
            assert run.data.metrics[metric_key(key)] == pytest.approx(value, rel=1e-6), key
        artifacts = {a.path for a in client.list_artifacts(run_id)}
        assert {"summary.json", "resolved_config.yaml", "images"} <= artifacts
        stored = json.loads(Path(client.download_artifacts(run_id, "summary.json")).read_text())
        assert stored["status"] == "completed"
        images = [a.path for a in client.list_artifacts(run_id, "images")]
        scatters = [p for p in images if "samples~scatter+step+" in p and p.endswith(".png")]
        assert sorted(int(p.split("+step+")[1].split("+")[0]) for p in scatters) == [50, 100]
        wandb_id = summary["wandb_run_id"]
        [run_file] = (sweep / job / "wandb").glob(f"offline-run-*-{wandb_id}/run-{wandb_id}.wandb")
        assert run_names(sweep / job, wandb_id) == [run.info.run_name]
        history = wandb_history(run_file)
        losses = {
            h["trainer/global_step"]: h["train/g_loss"] for h in history if "train/g_loss" in h
        }
        assert sorted(losses) == [25, 50, 75, 100]
        assert losses[100] == pytest.approx(summary["train/g_loss"], rel=1e-6)
    assert read_summary(sweep / "0")["train/g_loss"] != read_summary(sweep / "1")["train/g_loss"]


@pytest.mark.process
@pytest.mark.slow
def test_a_resumed_run_continues_its_mlflow_run(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    loggers = "logger=[tensorboard,mlflow,wandb]"
    first = genlab_train_cli(tmp_path, *TINY, loggers, f"hydra.run.dir={run_dir}")
    assert first.returncode == 0, first.stderr[-3000:]
    assert f"mlflow:      mlflow ui --backend-store-uri sqlite:///{tmp_path}" in first.stdout
    run_id = (run_dir / "mlflow_run_id").read_text().strip()
    again = genlab_train_cli(tmp_path, f"resume={run_dir}", "iterations=150", root_dir=False)
    assert again.returncode == 0, again.stderr[-3000:]
    assert (run_dir / "mlflow_run_id").read_text().strip() == run_id
    client = mlflow_client(tmp_path)
    experiment = client.get_experiment_by_name("genlab")
    assert [r.info.run_id for r in client.search_runs([experiment.experiment_id])] == [run_id]
    assert steps(client, run_id, "train/g_loss") == [25, 50, 75, 100, 125, 150]
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["iterations"] == "100" and run.data.tags["resumed/iterations"] == "150"
    # the name the run started with, not the resume command's (resume=... iterations=150)
    assert run.info.run_name == TINY_NAME
    summary = read_summary(run_dir)
    assert run_names(run_dir, summary["wandb_run_id"]) == [TINY_NAME, TINY_NAME]
    assert summary["iterations_done"] == 150
    assert run.data.metrics["train/g_loss"] == pytest.approx(summary["train/g_loss"], rel=1e-6)
    assert (run_dir / "tensorboard").is_dir()  # both loggers at once


def wandb_records(path: Path) -> list[Any]:
    """The protobuf records of a W&B run file (LevelDB-style log: 32 KiB blocks of chunks, each
    with a 7-byte header: CRC, length, type FULL=1 / FIRST=2 / MIDDLE=3 / LAST=4), after its
    7-byte ':W&B' file header."""
    from wandb.proto import wandb_internal_pb2

    data, block, pos = path.read_bytes(), 32768, 7
    assert data[:4] == b":W&B"
    records, pending = [], b""
    while pos + 7 <= len(data):
        left = block - pos % block
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if left < 7 or (length == 0 and kind == 0):
            pos += left
            continue
        pending += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records


def item_key(item: Any) -> str:
    return item.key or "/".join(item.nested_key)


def wandb_history(path: Path) -> list[dict[str, Any]]:
    """The history rows of a W&B run file, as {key: value}."""
    return [
        {item_key(i): json.loads(i.value_json) for i in r.history.item}
        for r in wandb_records(path)
        if r.WhichOneof("record_type") == "history"
    ]


@pytest.mark.process
@pytest.mark.slow
def test_wandb_offline_run_holds_history_settings_and_status(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    result = genlab_train_cli(tmp_path, *TINY, "logger=wandb", f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "wandb sync" in result.stdout and "wandb: " not in result.stderr  # W&B kept quiet
    summary = read_summary(run_dir)
    run_id = summary["wandb_run_id"]
    [folder] = (run_dir / "wandb").glob(f"offline-run-*-{run_id}")
    records = wandb_records(folder / f"run-{run_id}.wandb")
    history = wandb_history(folder / f"run-{run_id}.wandb")
    losses = {h["trainer/global_step"]: h["train/g_loss"] for h in history if "train/g_loss" in h}
    assert sorted(losses) == [25, 50, 75, 100]
    assert losses[100] == pytest.approx(summary["train/g_loss"], rel=1e-6)
    modes = {h["trainer/global_step"]: h["metrics/modes"] for h in history if "metrics/modes" in h}
    assert sorted(modes) == [50, 100] and modes[100] == summary["metrics/modes"]
    pictures = [h for h in history if "samples/scatter/path" in h]
    assert [h["trainer/global_step"] for h in pictures] == [50, 100]
    assert (folder / "files" / pictures[-1]["samples/scatter/path"]).is_file()
    config = {
        item_key(i): json.loads(i.value_json)
        for r in records
        if r.WhichOneof("record_type") == "config"
        for i in r.config.update
    }
    assert config["seed"] == summary["seed"] and config["group/model"] == "gan"
    status = [
        json.loads(i.value_json)
        for r in records
        if r.WhichOneof("record_type") == "summary"
        for i in r.summary.update
        if item_key(i) == "genlab/status"
    ]
    assert status[-1] == "completed"
    exits = [r.exit.exit_code for r in records if r.WhichOneof("record_type") == "exit"]
    assert exits == [0]


@pytest.mark.parametrize(("logger", "package"), [("mlflow", "mlflow"), ("wandb", "wandb")])
def test_a_missing_logger_package_is_refused_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, logger: str, package: str
) -> None:
    import importlib.util

    from genlab.run import checks as config_checks

    real = importlib.util.find_spec
    monkeypatch.setattr(
        config_checks.importlib.util,
        "find_spec",
        lambda name, *a: None if name == package else real(name, *a),
    )
    cfg = compose_config(tmp_path / "run", [f"logger={logger}"])
    with pytest.raises(ConfigError) as err:
        config_checks.check_config(cfg)
    assert (
        f"logger.{logger} needs the {package} package, which is not installed:"
        f" pip install 'genlab[{logger}]' (or pip install {package})"
    ) in str(err.value)
    assert not (tmp_path / "run" / "summary.json").exists()
