"""logger=mlflow and logger=wandb: what their own stores hold after genlab runs (scalars on the
iteration axis, the chosen settings, final values, pictures, status), resume continuing the
logger run, and the message when the package is missing."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest

from conftest import FAST, compose_config, final_values, genlab_train_cli
from genlab.errors import ConfigError
from genlab.loggers.mlflow_run import metric_key
from genlab.run.run_record import read_summary

TINY = [
    *FAST,
    "iterations=100",
    "log_every_n_iterations=25",
    "callbacks.samples.every_n_iterations=50",
    "metrics.every_n_iterations=50",
]


def mlflow_client(tmp_path: Path) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(f"sqlite:///{tmp_path / 'logs' / 'mlflow' / 'mlflow.db'}")


def steps(client: Any, run_id: str, key: str) -> list[int]:
    return sorted(m.step for m in client.get_metric_history(run_id, key))


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
        assert run.info.run_name == str(sweep / job)  # outside paths.log_dir: the whole path
        tags = run.data.tags
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
        history = wandb_history(run_file)
        losses = {
            h["trainer/global_step"]: h["train/g_loss"] for h in history if "train/g_loss" in h
        }
        assert sorted(losses) == [25, 50, 75, 100]
        assert losses[100] == pytest.approx(summary["train/g_loss"], rel=1e-6)
    assert read_summary(sweep / "0")["train/g_loss"] != read_summary(sweep / "1")["train/g_loss"]


@pytest.mark.slow
def test_a_resumed_run_continues_its_mlflow_run(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    loggers = "logger=[tensorboard,mlflow]"
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
    summary = read_summary(run_dir)
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

    from genlab.run import config_checks

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
