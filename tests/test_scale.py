"""DDP on two CPU processes, Hydra multirun with DDP, mixed precision."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from conftest import FAST, compose_config, fast_overrides, genlab_env, genlab_train_cli
from genlab.run.folder import read_summary

cli = genlab_train_cli


RANK_WEIGHTS = [
    "+callbacks.rank_weights._target_=genlab.callbacks.rank_weights.SaveRankWeights",
    "+callbacks.rank_weights.dirpath=${paths.output_dir}/ranks",
]


def assert_ranks_identical(run_dir: Path) -> None:
    """Both DDP ranks of the run ended with the same weights (SaveRankWeights' files)."""
    ranks = [torch.load(run_dir / "ranks" / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert ranks[0].keys() == ranks[1].keys()
    for key in ranks[0]:
        assert torch.equal(ranks[0][key], ranks[1][key]), key


@pytest.mark.process
@pytest.mark.slow
def test_ddp_cpu_keeps_ranks_identical_in_one_folder(tmp_path: Path) -> None:
    result = cli(
        tmp_path,
        "model=vae",
        "trainer=ddp_cpu",
        "iterations=5",
        "metrics=none",
        "hydra.run.dir=run",
        *RANK_WEIGHTS,
        *FAST,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert_ranks_identical(tmp_path / "run")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("run")] == ["run"]
    summary = read_summary(tmp_path / "run")
    assert summary["status"] == "completed" and summary["iterations_done"] == 5


@pytest.mark.process
@pytest.mark.slow
def test_multirun_with_ddp_gives_one_folder_per_job_and_identical_ranks(tmp_path: Path) -> None:
    result = cli(
        tmp_path,
        "-m",
        "model=gan,wgan_gp",
        "trainer=ddp_cpu",
        "iterations=5",
        "metrics=none",
        "hydra.sweep.dir=sweep",
        *RANK_WEIGHTS,
        *FAST,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = sorted(p.name for p in (tmp_path / "sweep").iterdir() if p.is_dir())
    assert jobs == ["0", "1"]
    summaries = [read_summary(tmp_path / "sweep" / j) for j in jobs]
    assert [s["model"] for s in summaries] == ["gan", "wgan_gp"]
    assert all(s["status"] == "completed" and s["iterations_done"] == 5 for s in summaries)
    for job in jobs:
        assert_ranks_identical(tmp_path / "sweep" / job)
    assert not (tmp_path / "logs").exists()  # no stray run folders from worker processes


@pytest.mark.parametrize(
    ("model", "data"), [("gan", "ring8"), ("wgan_gp", "ring8"), ("vae", "digits")]
)
def test_bf16_mixed_trains_every_model(tmp_path: Path, model: str, data: str) -> None:
    from genlab.run.build import build

    dtypes: dict[str, set[torch.dtype]] = {"32-true": set(), "bf16-mixed": set()}
    for precision, seen in dtypes.items():
        overrides = [f"model={model}", f"data={data}", f"trainer.precision={precision}"]
        cfg = compose_config(
            tmp_path / precision,
            fast_overrides(
                [f"paths.root_dir={tmp_path}", "callbacks=none", "logger=csv", "metrics=none",
                 "iterations=3", *overrides]
            ),
        )  # fmt: skip
        datamodule, module, trainer = build(cfg, seed=0)
        for layer in module.modules():
            if isinstance(layer, torch.nn.Linear | torch.nn.Conv2d | torch.nn.ConvTranspose2d):
                layer.register_forward_hook(lambda m, i, out, seen=seen: seen.add(out.dtype))
        trainer.fit(module, datamodule=datamodule)
        assert module.iteration == 3 and module.parameters_finite()
        assert all(math.isfinite(v) for v in module.run_state.logged.values())
    # autocast was on: the nets' linear and conv layers ran in bf16 (WGAN-GP's penalty path stays
    # float32)
    assert dtypes["32-true"] == {torch.float32} and torch.bfloat16 in dtypes["bf16-mixed"]


@pytest.mark.process
@pytest.mark.slow
def test_compile_trains_the_same_nets_under_the_same_names(tmp_path: Path) -> None:
    from genlab.run.build import build

    weights = {}
    for compiled in (False, True):
        cfg = compose_config(
            tmp_path / str(compiled),
            fast_overrides(
                [f"paths.root_dir={tmp_path}", "callbacks=none", "logger=csv", "metrics=none",
                 "iterations=3", "model.ema_decay=0.9", f"compile={str(compiled).lower()}"]
            ),
        )  # fmt: skip
        datamodule, module, trainer = build(cfg, seed=0)
        nets = [module.generator, module.discriminator, module.generator_ema]
        assert all((net._compiled_call_impl is not None) == compiled for net in nets)
        trainer.fit(module, datamodule=datamodule)
        assert module.iteration == 3
        weights[compiled] = module.state_dict()
    # the same keys (checkpoints and resume do not see the compilation) and, up to the fused
    # kernels' rounding, the same training
    assert weights[True].keys() == weights[False].keys()
    for key, value in weights[False].items():
        torch.testing.assert_close(weights[True][key], value, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("scaler", [True, False])
def test_steps_the_fp16_scaler_skips_are_left_out_not_fatal(tmp_path: Path, scaler: bool) -> None:
    """16-mixed with its GradScaler (here on the CPU, through Lightning's plugin): one step whose
    loss is not finite is skipped by the scaler; the run goes on, its means leave that step out
    and count it. Without a scaler the same step stops the run as diverged."""
    from omegaconf import open_dict

    from genlab.models.base import SKIPPED_STEPS_KEY
    from genlab.run.build import build

    cfg = compose_config(
        tmp_path / "run",
        fast_overrides(
            [f"paths.root_dir={tmp_path}", "model=vae", "data=digits", "net=mlp",
             "callbacks=none", "logger=csv", "metrics=none", "iterations=12",
             "log_every_n_iterations=4"]
        ),
    )  # fmt: skip
    if scaler:
        with open_dict(cfg):
            cfg.trainer.precision = None
            cfg.trainer.plugins = [
                {
                    "_target_": "lightning.pytorch.plugins.precision.MixedPrecision",
                    "precision": "16-mixed",
                    "device": "cpu",
                    "scaler": {"_target_": "torch.amp.GradScaler", "device": "cpu"},
                }
            ]
    datamodule, module, trainer = build(cfg, seed=0)
    # the decoder's input is infinite in the 6th iteration only: a non-finite loss and gradients
    module.decoder.register_forward_pre_hook(
        lambda _m, args: (args[0] * math.inf,) if module.iteration == 5 else None
    )
    flushed: list[dict[str, float]] = []
    pop = module.pop_scalar_means
    module.pop_scalar_means = lambda reduce=None: flushed.append(pop(reduce)) or flushed[-1]
    trainer.fit(module, datamodule=datamodule)
    if not scaler:
        assert module.run_state.diverged_at == 8 and module.iteration == 8
        assert not math.isfinite(flushed[1]["train/recon"])
        assert SKIPPED_STEPS_KEY not in flushed[1]
        return
    assert module.skip_nonfinite and module.run_state.diverged_at is None
    assert module.iteration == 12 and module.parameters_finite()
    assert [f[SKIPPED_STEPS_KEY] for f in flushed] == [0.0, 0.25, 0.0]
    assert all(math.isfinite(v) for f in flushed for v in f.values())


def test_fp16_on_cpu_runs_as_bf16_and_says_so(run_train, recwarn) -> None:
    summary = run_train("iterations=2", "trainer.precision=16-mixed")
    assert summary["status"] == "completed"
    assert any("bf16-mixed" in str(w.message) for w in recwarn.list)


@pytest.mark.parametrize(
    ("model", "keys"), [("gan", ["clip_norm_g", "clip_norm_d"]), ("vae", ["clip_norm"])]
)
def test_gradient_clipping_bounds_each_update(tmp_path: Path, monkeypatch, model, keys) -> None:
    from conftest import compose_config, fast_overrides
    from genlab.run.build import build

    norms: list[float] = []
    real_step = torch.optim.Adam.step

    def recording_step(self, closure=None):
        def closure_then_record():  # Lightning clips inside the closure, after unscaling
            result = closure() if closure is not None else None
            grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
            norms.append(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])).item())
            return result

        return real_step(self, closure=closure_then_record)

    monkeypatch.setattr(torch.optim.Adam, "step", recording_step)
    limit = 1e-3
    cfg = compose_config(
        tmp_path,
        fast_overrides([f"model={model}", "iterations=4", *(f"model.{k}={limit}" for k in keys)]),
    )
    datamodule, module, trainer = build(cfg, seed=0)
    trainer.fit(module, datamodule=datamodule)
    assert len(norms) == 4 * len(keys)
    assert max(norms) <= limit * (1 + 1e-4)


@pytest.mark.process
@pytest.mark.slow
def test_submitit_local_sweep_runs_every_job(tmp_path: Path) -> None:
    result = cli(
        tmp_path,
        "-m",
        "hydra/launcher=local",  # genlab's preset over submitit_local
        "model=gan,vae",
        "iterations=3",
        "metrics=none",
        "hydra.sweep.dir=sweep",
        *FAST,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = sorted(p.name for p in (tmp_path / "sweep").iterdir() if p.name.isdigit())
    assert jobs == ["0", "1"]
    summaries = [read_summary(tmp_path / "sweep" / j) for j in jobs]
    assert [s["status"] for s in summaries] == ["completed", "completed"]
    assert sorted(s["model"] for s in summaries) == ["gan", "vae"]
    assert [s["num_threads"] for s in summaries] == [1, 1]  # the preset's cpus_per_task


def test_slurm_preset_gives_one_task_per_gpu(tmp_path: Path) -> None:
    from genlab import CONF_DIR

    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=["hydra/launcher=slurm", "trainer=slurm", "hydra.launcher.gpus_per_node=4"],
            return_hydra_config=True,
        )
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert (launcher.gpus_per_node, launcher.tasks_per_node) == (4, 4)  # one task per GPU
    assert launcher.max_num_timeout > 0 and launcher.signal_delay_s > 0  # requeue, in time
    # trainer=slurm takes the job's shape from SLURM's environment
    os.environ.update(SLURM_NNODES="3", SLURM_NTASKS_PER_NODE="4")
    try:
        assert (cfg.trainer.num_nodes, cfg.trainer.devices) == (3, 4)
    finally:
        del os.environ["SLURM_NNODES"], os.environ["SLURM_NTASKS_PER_NODE"]
    assert cfg.trainer.strategy == "ddp_find_unused_parameters_true"


@pytest.mark.parametrize(
    ("strategy", "multirun", "env", "expected"),
    [
        ("ddp_find_unused_parameters_true", False, {}, "ddp_find_unused_parameters_true"),
        ("ddp_find_unused_parameters_true", True, {}, "ddp_spawn_find_unused_parameters_true"),
        ("ddp", False, {"PYTEST_CURRENT_TEST": "x"}, "ddp"),  # genlab does not know pytest
        ("ddp", True, {"SLURM_JOB_ID": "1", "SLURM_NTASKS": "16"}, "ddp"),
        ("ddp", True, {"TORCHELASTIC_RUN_ID": "abc"}, "ddp"),
        ("ddp_spawn", True, {}, "ddp_spawn"),
        ("auto", True, {}, "auto"),
    ],
)
def test_launcher_choice_per_context(strategy, multirun, env, expected) -> None:
    from genlab.run.process import choose_strategy

    assert choose_strategy(strategy, multirun, env) == expected


@pytest.mark.process
@pytest.mark.slow
def test_reexec_ddp_launcher_from_the_command_line_gives_one_folder(tmp_path: Path) -> None:
    env = genlab_env(tmp_path)
    env.pop("PYTEST_CURRENT_TEST", None)  # as a user's shell: Lightning re-runs the command
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "genlab.train",
            f"paths.root_dir={tmp_path}",
            "trainer=ddp_cpu",
            "trainer.strategy=ddp_find_unused_parameters_true",
            "iterations=4",
            "metrics=none",
            *FAST,
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    runs = list((tmp_path / "logs" / "runs").iterdir())
    assert len(runs) == 1
    assert (runs[0] / "train_ddp_process_1.log").is_file()  # rank 1 ran in the same folder
    assert read_summary(runs[0])["iterations_done"] == 4
