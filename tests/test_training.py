"""Every model trains on every offline data set and leaves a complete run record."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import compose_config, fast_overrides
from genlab.run.build import build

LOSS_KEYS = {
    "gan": ["train/d_loss", "train/g_loss", "train/D(x)", "train/D(G(z))"],
    "wgan_gp": ["train/d_loss", "train/g_loss", "train/wasserstein", "train/gp"],
    "vae": ["train/loss", "train/recon", "train/kl", "train/elbo"],
}


@pytest.mark.parametrize("data", ["ring8", "grid25", "digits"])
@pytest.mark.parametrize("model", ["gan", "wgan_gp", "vae"])
def test_model_trains_and_writes_summary(run_train, tmp_path: Path, model: str, data: str) -> None:
    summary = run_train(
        f"model={model}", f"data={data}", "iterations=4", "log_every_n_iterations=2"
    )
    assert summary["status"] == "completed"
    assert (summary["model"], summary["data"], summary["seed"]) == (model, data, 42)
    assert summary["iterations"] == 4 and summary["iterations_done"] == 4
    assert {f"model={model}", f"data={data}", "iterations=4"} <= set(summary["overrides"])
    for key in LOSS_KEYS[model]:
        assert math.isfinite(summary[key]), key
    run_dir = Path(summary["run_dir"])
    assert (run_dir / "samples.png").stat().st_size > 1000
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert (run_dir / "resolved_config.yaml").is_file()
    assert list(Path(summary["tensorboard_dir"]).glob("events.out.tfevents.*"))


def test_scalars_are_logged_on_the_iteration_axis(run_train) -> None:
    summary = run_train(
        "iterations=10", "log_every_n_iterations=4", "callbacks.samples.every_n_iterations=5"
    )
    events = EventAccumulator(summary["tensorboard_dir"], size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    steps = [e.step for e in events.Scalars("train/g_loss")]
    assert steps == [4, 8, 10]  # every 4 iterations, plus the remainder at the end
    # the last logged mean is the value in summary.json
    assert events.Scalars("train/g_loss")[-1].value == pytest.approx(
        summary["train/g_loss"], rel=1e-6
    )
    figure_steps = [e.step for e in events.Images("samples/scatter")]
    assert figure_steps == [5, 10]


def test_image_runs_log_grids_and_vae_reconstructions(run_train) -> None:
    summary = run_train("model=vae", "data=digits", "iterations=3")
    events = EventAccumulator(summary["tensorboard_dir"], size_guidance={"images": 0})
    events.Reload()
    assert {"samples/grid", "samples/reconstructions"} <= set(events.Tags()["images"])
    # the final grid is encoded once: TensorBoard's last picture is samples.png, byte for byte
    last = events.Images("samples/grid")[-1]
    assert last.step == 3 and (last.width, last.height) == (8 * 64 + 18, 8 * 64 + 18)
    assert last.encoded_image_string == (Path(summary["run_dir"]) / "samples.png").read_bytes()


@pytest.mark.parametrize(
    ("model", "extra", "d_per_iteration"),
    [("gan", ["model.d_steps=2"], 2), ("wgan_gp", [], 5), ("vae", [], 0)],
)
def test_iterations_map_to_exact_optimizer_steps(
    tmp_path: Path, model: str, extra: list[str], d_per_iteration: int
) -> None:
    n = 7
    cfg = compose_config(tmp_path, fast_overrides([f"model={model}", f"iterations={n}", *extra]))
    datamodule, module, trainer = build(cfg, seed=0)
    os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] = "1"  # as `import lightning` leaves it
    trainer.fit(module, datamodule=datamodule)
    assert module.iteration == n
    assert trainer.global_step == n * (1 + d_per_iteration)
    # dropped once the processes exist: it makes every optimizer step re-open NVML on a CPU run
    assert "PYTORCH_NVML_BASED_CUDA_CHECK" not in os.environ

    def adam_steps(params) -> set[int]:
        params = list(params)
        states = [trainer.optimizers[i].state for i in range(len(trainer.optimizers))]
        return {int(s[p]["step"]) for s in states for p in params if p in s}

    if model == "vae":
        assert adam_steps(module.parameters()) == {n}
    else:
        assert adam_steps(module.generator.parameters()) == {n}
        assert adam_steps(module.discriminator.parameters()) == {n * d_per_iteration}


def test_seed_zero_reproduces_itself(run_train, tmp_path: Path) -> None:
    runs = [run_train("seed=0", "iterations=6", run_dir=tmp_path / f"run{i}") for i in range(2)]
    assert runs[0]["seed"] == 0
    values = [{k: v for k, v in r.items() if k.startswith("train/")} for r in runs]
    assert values[0] == values[1]
    weights = [
        torch.load(Path(r["run_dir"]) / "checkpoints" / "last.ckpt", weights_only=False)[
            "state_dict"
        ]
        for r in runs
    ]
    for key in weights[0]:
        assert torch.equal(weights[0][key], weights[1][key]), key
    other = run_train("seed=1", "iterations=6", run_dir=tmp_path / "run_seed1")
    assert {k: v for k, v in other.items() if k.startswith("train/")} != values[0]


def test_seed_null_draws_and_records_a_seed(run_train, tmp_path: Path) -> None:
    summary = run_train("seed=null", "iterations=2")
    assert isinstance(summary["seed"], int)
    resolved = (Path(summary["run_dir"]) / "resolved_config.yaml").read_text()
    assert f"seed: {summary['seed']}" in resolved


@pytest.mark.parametrize("debug", ["debug=fdr", "debug=overfit", "debug=profiler", "debug=limit"])
def test_debug_configs_run(run_train, debug: str) -> None:
    extra = ["iterations=20"] if debug == "debug=overfit" else []
    summary = run_train(debug, *extra)
    assert summary["status"] == "completed"
    expected = {"debug=fdr": 1, "debug=overfit": 20, "debug=profiler": 50, "debug=limit": 20}
    assert summary["iterations_done"] == expected[debug]


def test_overfit_repeats_the_same_batch(tmp_path: Path) -> None:
    cfg = compose_config(tmp_path, fast_overrides(["debug=overfit"]))
    datamodule, module, _ = build(cfg, seed=0)
    datamodule.setup()
    datamodule.trainer = None
    batches = iter(datamodule.train_dataloader())
    first, second = next(batches), next(batches)
    assert torch.equal(first, second)


def test_several_iterations_per_batch_keep_every_event_at_its_iteration(
    run_train, tmp_path: Path
) -> None:
    summary = run_train(
        "iterations=23",
        "iterations_per_batch=8",
        "log_every_n_iterations=5",
        "callbacks.checkpoint.every_n_iterations=10",
        "metrics.every_n_iterations=10",
        "metrics.num_samples=100",
    )
    assert summary["iterations_done"] == 23
    events = EventAccumulator(summary["tensorboard_dir"], size_guidance={"scalars": 0})
    events.Reload()
    assert [e.step for e in events.Scalars("train/g_loss")] == [5, 10, 15, 20, 23]
    assert [e.step for e in events.Scalars("metrics/modes")] == [10, 20, 23]
    # the same run one iteration per batch: identical values (the batching changes no math)
    single = run_train(
        "iterations=23",
        "iterations_per_batch=1",
        "log_every_n_iterations=5",
        "callbacks.checkpoint.every_n_iterations=10",
        "metrics.every_n_iterations=10",
        "metrics.num_samples=100",
        run_dir=tmp_path / "single",
    )
    for key in ("train/g_loss", "train/d_loss", "metrics/modes", "metrics/frechet_2d"):
        assert single[key] == summary[key]
