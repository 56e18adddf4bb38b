"""Many seeds as one batched model: each member's nets, updates, data and outputs are its plain
run's (the design guide's "Many seeds as one model" and its tests)."""

from __future__ import annotations

import copy
import signal
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from conftest import (
    FAST,
    compose_config,
    fast_overrides,
    final_values,
    genlab_train_cli,
    interrupt,
)
from genlab.compare.jobs import load_jobs
from genlab.evaluate import evaluate_checkpoint
from genlab.models.members import load_member, member_checkpoint, stack_checkpoints
from genlab.nets.dcgan import DCGANDiscriminator, DCGANEncoder, DCGANGenerator
from genlab.nets.members import MemberError, member_state, stack_nets, stack_states
from genlab.nets.mlp import MLPDiscriminator, MLPGenerator
from genlab.nets.resnet import ResNetDiscriminator, ResNetEncoder, ResNetGenerator
from genlab.run.build import build
from genlab.run.folder import read_summary
from genlab.run.members import build_batched, build_member
from genlab.run.rerun import load_checkpoint_iteration

NETS = {
    "mlp_d_pack_mbstd": (lambda: MLPDiscriminator([2], [8, 8], "leaky_relu", "none", 2, 4), (8, 2)),
    "mlp_d_layer_norm": (
        lambda: MLPDiscriminator([2], [8, 8], "leaky_relu", "layer", 1, 0),
        (8, 2),
    ),
    "mlp_g": (lambda: MLPGenerator(3, [2], [8, 8], "relu", True), (8, 3)),
    "mlp_g_affine": (lambda: MLPGenerator(3, [2], [8, 8], "none", True), (8, 3)),
    # the reference layout (conv ends, 2 stages from 4x4 at 16) and genlab's earlier one
    "dcgan_d_batch_norm": (
        lambda: DCGANDiscriminator([3, 16, 16], 4, None, False, "conv", "dcgan", "batch", 2, 2),
        (8, 3, 16, 16),
    ),
    "dcgan_critic": (
        lambda: DCGANDiscriminator([1, 8, 8], 4, 2, True, "linear", "torch", "layer", 1, 0),
        (8, 1, 8, 8),
    ),
    "dcgan_g": (
        lambda: DCGANGenerator(5, [1, 16, 16], 4, None, False, "conv", "dcgan", True),
        (8, 5),
    ),
    "dcgan_g_linear": (
        lambda: DCGANGenerator(5, [1, 8, 8], 4, 2, True, "linear", "torch", True),
        (8, 5),
    ),
    "dcgan_encoder": (
        lambda: DCGANEncoder([1, 16, 16], 5, 4, None, False, "conv", "dcgan"),
        (8, 1, 16, 16),
    ),
    # every kind of residual block: pooled and plain, identity and 1x1-conv shortcuts
    "resnet_g": (
        lambda: ResNetGenerator(5, [3, 32, 32], [16, 8, 8, 8], [32], "nearest", True),
        (8, 5),
    ),
    "resnet_g_bilinear": (
        lambda: ResNetGenerator(5, [1, 16, 16], [8, 8, 4], [32], "bilinear", False),
        (8, 5),
    ),
    "resnet_d_pack_mbstd": (
        lambda: ResNetDiscriminator([3, 32, 32], [8, 16, 16, 32], 2, [32], 2, 2),
        (8, 3, 32, 32),
    ),
    "resnet_encoder": (lambda: ResNetEncoder([1, 16, 16], 5, [8, 16], 2, [32]), (8, 1, 16, 16)),
}


def close(actual: torch.Tensor, expected: torch.Tensor, what: str = "") -> None:
    """Equal to a relative 1e-5 of the expected tensor's norm (float32 sums in another order);
    a gradient that is zero by construction (a bias before batch norm) is float32 noise, up to
    2e-6."""
    error = (actual.double() - expected.double()).norm()
    assert error <= 1e-5 * expected.double().norm() + 2e-6, f"{what}: error {error:.3g}"


def _with_spectral_norm(net: nn.Module) -> nn.Module:
    for layer in net.modules():
        if isinstance(layer, nn.Linear | nn.Conv2d):
            spectral_norm(layer)
        elif isinstance(layer, nn.ConvTranspose2d):
            spectral_norm(layer, dim=1)
    return net


def _flat(out: Any) -> torch.Tensor:
    return torch.cat([o.flatten(1) for o in out], 1) if isinstance(out, tuple) else out


@pytest.mark.parametrize("members", [1, 3])
@pytest.mark.parametrize("sn", [False, True])
@pytest.mark.parametrize("name", list(NETS))
def test_batched_nets_equal_a_loop_over_members(name: str, sn: bool, members: int) -> None:
    # float64: the batched kernels sum in another order, and some gradients are zero by
    # construction (a bias before batch norm), which float32 leaves as noise
    torch.set_default_dtype(torch.float64)
    try:
        _check_batched_net(name, sn, members)
    finally:
        torch.set_default_dtype(torch.float32)


def _check_batched_net(name: str, sn: bool, members: int) -> None:
    make, shape = NETS[name]
    nets = []
    for k in range(members):
        torch.manual_seed(k)
        nets.append(_with_spectral_norm(make()) if sn else make())
    batched = stack_nets(copy.deepcopy(nets))
    inputs = [torch.randn(*shape) for _ in range(members)]
    x = torch.cat(inputs).requires_grad_(True)
    out = _flat(batched(x))
    weights = torch.randn_like(out)
    (out * weights).sum().backward()
    per_member = weights.view(members, -1, *weights.shape[1:])
    for k, net in enumerate(nets):
        xk = inputs[k].clone().requires_grad_(True)
        plain = _flat(net(xk))
        (plain * per_member[k]).sum().backward()
        close(out.view(members, -1, *out.shape[1:])[k], plain, "output")
        close(x.grad.view(members, *shape)[k], xk.grad, "input gradient")
        grads = {n: p.grad[k] for n, p in batched.named_parameters()}
        for n, p in net.named_parameters():
            close(grads[n], p.grad, n)
        # batch-norm statistics and spectral-norm vectors moved as the plain net's did
        state = member_state(batched.state_dict(), k)
        assert state.keys() == net.state_dict().keys()
        for key, value in net.state_dict().items():
            close(state[key], value, key)
    restacked = stack_states([member_state(batched.state_dict(), k) for k in range(members)])
    assert all(torch.equal(restacked[k], v) for k, v in batched.state_dict().items())


def test_a_layer_that_would_mix_members_is_refused() -> None:
    nets = [nn.Sequential(nn.Linear(2, 4), nn.Dropout(0.5), nn.Linear(4, 1)) for _ in range(2)]
    with pytest.raises(MemberError, match=r"1 is a Dropout.*train the seeds as separate runs"):
        stack_nets(nets)


# Every fix, the two nets and both precisions the members path supports: one K = 3 job of
# 2 iterations (each: the D updates, then the G update) against three plain runs.
FIX_CASES = {
    "ns": [],
    "minimax": ["model.loss=minimax"],
    "lsgan": ["model.loss=lsgan"],
    "hinge": ["model.loss=hinge"],
    "ragan": ["model.loss=ragan"],
    "r1": ["model.r1_gamma=10"],
    "spectral_norm": ["model.spectral_norm=true"],
    "pack2": ["model.pack=2"],
    "minibatch_std": ["model.minibatch_std=4"],
    "ema": ["model.ema_decay=0.9"],
    "instance_noise": ["model.instance_noise_std=0.1"],
    "label_smoothing": ["model.label_smoothing=0.1"],
    "ttur_d_steps": ["model.optimizer_g.lr=1e-4", "model.optimizer_d.lr=4e-4", "model.d_steps=2"],
    "clip": ["model.clip_norm_g=0.01", "model.clip_norm_d=0.01"],
    "wgan_gp": ["model=wgan_gp", "model.n_critic=2"],
    "vae_learned_sigma": ["model=vae", "model.learn_sigma=true"],
    "dcgan_every_d_fix": [
        "data=digits",
        "model.spectral_norm=true",
        "model.minibatch_std=4",
        "model.pack=2",
        "model.r1_gamma=1",
        "model.ema_decay=0.9",
    ],
    "dcgan_wgan_gp": ["data=digits", "model=wgan_gp", "model.n_critic=2"],
    "dcgan_vae_bernoulli": ["data=digits", "model=vae", "model.likelihood=bernoulli"],
    # DiffAugment draws each member's transforms from its own generator
    "diffaugment": ["data=digits", "fix=diffaugment"],
    "diffaugment_r1_ragan_mlp": [
        "data=digits",
        "net=mlp",
        "fix=diffaugment",
        "model.r1_gamma=1",
        "model.loss=ragan",
        "model.instance_noise_std=0.1",
    ],
    "diffaugment_wgan_gp": ["data=digits", "fix=diffaugment", "model=wgan_gp", "model.n_critic=2"],
    "resnet_every_d_fix": [
        "data=digits",
        "net=resnet",
        "fix=diffaugment",
        "model.spectral_norm=true",
        "model.minibatch_std=4",
        "model.pack=2",
        "model.r1_gamma=1",
        "model.ema_decay=0.9",
    ],
    # one critic step an iteration: the double backward through the residual blocks turns float32
    # rounding into ~4e-5 relative differences after a few steps (the batched penalty itself
    # equals the loop to 2e-7 in float32, exactly in float64)
    "resnet_wgan_gp": ["data=digits", "net=resnet", "model=wgan_gp", "model.n_critic=1"],
    "bf16": ["trainer.precision=bf16-mixed", "model.r1_gamma=1"],
}
QUIET = ["~callbacks.samples", "~callbacks.checkpoint", "logger=csv", "metrics=none"]


def _member_config(tmp_path: Path, name: str, seed: int, overrides: list[str]) -> Any:
    return compose_config(
        tmp_path / name / str(seed),
        fast_overrides([f"paths.root_dir={tmp_path}", f"seed={seed}", *QUIET, *overrides]),
    )


class StartState:
    """A callback recording the model's state when training starts."""

    def __new__(cls) -> Any:
        import lightning as L

        class Capture(L.Callback):
            def __init__(self) -> None:
                self.state: dict[str, torch.Tensor] = {}

            def on_train_start(self, trainer: Any, pl_module: Any) -> None:
                self.state = {k: v.clone() for k, v in pl_module.state_dict().items()}

        return Capture()


def _plain_run(tmp_path: Path, seed: int, overrides: list[str]) -> tuple[Any, Any, dict]:
    capture = StartState()
    cfg = _member_config(tmp_path, "plain", seed, overrides)
    datamodule, model, trainer = build(cfg, seed, [capture])
    trainer.fit(model, datamodule=datamodule)
    return model, trainer, capture.state


def _batched_run(tmp_path: Path, seeds: list[int], overrides: list[str], extra: Any = None):
    capture = StartState()
    parts = []
    for seed in seeds:
        cfg = _member_config(tmp_path, "members", seed, overrides)
        parts.append(build_member(cfg, seed))
    datamodule, batched, trainer, members = build_batched(cfg, parts)
    trainer.callbacks.append(capture)
    if extra is not None:
        extra(batched, members)
    trainer.fit(batched, datamodule=datamodule)
    return batched, trainer, members, capture.state


def _assert_member_equals(batched: Any, k: int, opts: list, plain: Any, plain_opts: list) -> None:
    state = member_state(batched.state_dict(), k)
    for key, value in plain.state_dict().items():
        close(state[key], value, key)
    for batched_opt, plain_opt in zip(opts, plain_opts, strict=True):
        for p_batched, p_plain in zip(
            (p for g in batched_opt.param_groups for p in g["params"]),
            (p for g in plain_opt.param_groups for p in g["params"]),
            strict=True,
        ):
            for key, value in plain_opt.state[p_plain].items():
                member_value = batched_opt.state[p_batched][key]
                member_value = member_value if key == "step" else member_value[k]
                close(member_value, value, key)


def _sgd(case: list[str]) -> list[str]:
    """SGD with momentum in place of Adam: Adam turns a gradient that is zero by construction
    (D's output bias under RaGAN, a bias before batch norm) into a step of +-lr from float32
    noise, in the plain run as in the batched one; SGD keeps such a step at noise level. Adam
    over stacked weights is checked on its own (test_adam_over_stacked_weights...)."""
    names = ["optimizer"] if "model=vae" in case else ["optimizer_g", "optimizer_d"]
    return [
        item
        for name in names
        for item in (
            f"model.{name}._target_=torch.optim.SGD",
            f"~model.{name}.betas",
            f"+model.{name}.momentum=0.9",
        )
        if not (item.startswith("~") and "vae" in " ".join(case))
    ]


@pytest.mark.parametrize("case", list(FIX_CASES))
def test_one_batched_update_of_each_fix_equals_the_plain_runs(tmp_path: Path, case: str) -> None:
    fix = FIX_CASES[case]
    overrides = ["iterations=2", "iterations_per_batch=1", *fix, *_sgd(fix)]
    seeds = [0, 1, 2]
    batched, trainer, _, start = _batched_run(tmp_path, seeds, overrides)
    assert batched.members == 3 and batched.iteration == 2
    for k, seed in enumerate(seeds):
        plain, plain_trainer, plain_start = _plain_run(tmp_path, seed, overrides)
        # member k starts from the plain run's initial weights (and spectral-norm vectors)
        member_start = member_state(start, k)
        assert member_start.keys() == plain_start.keys()
        assert all(torch.equal(member_start[key], v) for key, v in plain_start.items())
        _assert_member_equals(batched, k, trainer.optimizers, plain, plain_trainer.optimizers)


@pytest.mark.parametrize("case", ["ns", "ema", "vae_learned_sigma"])
def test_adam_over_stacked_weights_is_each_members_adam(tmp_path: Path, case: str) -> None:
    overrides = ["iterations=3", "iterations_per_batch=1", *FIX_CASES[case]]
    batched, trainer, _, _ = _batched_run(tmp_path, [0, 1, 2], overrides)
    for k, seed in enumerate([0, 1, 2]):
        plain, plain_trainer, _ = _plain_run(tmp_path, seed, overrides)
        _assert_member_equals(batched, k, trainer.optimizers, plain, plain_trainer.optimizers)


def test_each_member_sees_its_plain_runs_real_batches(tmp_path: Path) -> None:
    from genlab.data.members import MemberDataModule

    for data in ("ring8", "digits"):
        overrides = [f"data={data}", "model.d_steps=2", "iterations=30"]
        configs = [_member_config(tmp_path, data, seed, overrides) for seed in (4, 7)]
        parts = [build_member(cfg, seed) for cfg, seed in zip(configs, (4, 7), strict=True)]
        member_data, _, _, _ = build_batched(configs[0], parts)
        assert isinstance(member_data, MemberDataModule)
        blocks = list(member_data.train_dataloader())
        for k, seed in enumerate((4, 7)):
            cfg = _member_config(tmp_path, f"{data}_plain", seed, overrides)
            datamodule, _, _ = build(cfg, seed)
            datamodule.setup("fit")
            plain = list(datamodule.batches("cpu", 0))
            assert len(plain) == len(blocks)
            for block, plain_block in zip(blocks, plain, strict=True):
                batch = plain_block.shape[2]
                assert torch.equal(block[:, :, k * batch : (k + 1) * batch], plain_block)


def test_perturbing_one_member_moves_no_other(tmp_path: Path) -> None:
    overrides = ["iterations=6", "model.minibatch_std=4", "model.r1_gamma=1"]

    def perturb(batched: Any, members: list) -> None:
        members[0].datamodule.data = members[0].datamodule.data + 0.5

    reference, *_ = _batched_run(tmp_path / "a", [0, 1, 2], overrides)
    perturbed, *_ = _batched_run(tmp_path / "b", [0, 1, 2], overrides, perturb)
    changed = member_state(perturbed.state_dict(), 0)
    original = member_state(reference.state_dict(), 0)
    assert any(not torch.equal(changed[k], original[k]) for k in original)
    for k in (1, 2):
        a, b = member_state(reference.state_dict(), k), member_state(perturbed.state_dict(), k)
        assert all(torch.equal(a[key], b[key]) for key in a), k


def test_a_member_that_diverges_ends_alone(tmp_path: Path) -> None:
    overrides = ["iterations=40", "log_every_n_iterations=10"]

    def poison(batched: Any, members: list) -> None:
        with torch.no_grad():
            batched.discriminator.trunk[0].weight[1].fill_(float("nan"))

    reference, _, _, _ = _batched_run(tmp_path / "a", [0, 1, 2], overrides)
    poisoned, _, members, _ = _batched_run(tmp_path / "b", [0, 1, 2], overrides, poison)
    assert members[1].model.run_state.diverged_at == 10 and members[1].ended
    assert members[1].model.iteration == 10  # it ended where its plain run would stop
    for k in (0, 2):
        assert members[k].model.run_state.diverged_at is None
        assert members[k].model.iteration == 40
        a, b = member_state(reference.state_dict(), k), member_state(poisoned.state_dict(), k)
        assert all(torch.isfinite(v).all() for v in b.values())
        assert all(torch.equal(a[key], b[key]) for key in a), k


def test_member_checkpoints_split_and_stack_back(tmp_path: Path) -> None:
    overrides = ["iterations=4", "model.ema_decay=0.9"]
    batched, trainer, members, _ = _batched_run(tmp_path, [0, 1], overrides)
    whole = trainer._checkpoint_connector.dump_checkpoint(weights_only=False)
    parts = []
    for k, member in enumerate(members):
        load_member(batched, k, member.model)
        checkpoint = member_checkpoint(whole, k, member.model, batched.member_generators[k], {})
        # a plain run's checkpoint: the plain model loads it as it is
        member.model.load_state_dict(checkpoint["state_dict"])
        assert checkpoint["genlab"]["iteration"] == 4
        assert torch.equal(
            checkpoint["genlab"]["rng"]["torch"], batched.member_generators[k].get_state()
        )
        parts.append(checkpoint)
    stacked = stack_checkpoints(parts, "key")
    assert all(torch.equal(stacked["state_dict"][k], v) for k, v in whole["state_dict"].items())
    for a, b in zip(stacked["optimizer_states"], whole["optimizer_states"], strict=True):
        for index, entries in b["state"].items():
            assert all(torch.equal(a["state"][index][key], v) for key, v in entries.items())


MEMBER_SWEEP = [
    "iterations=40",
    "log_every_n_iterations=5",
    "callbacks.checkpoint.every_n_iterations=10",
    "callbacks.samples.every_n_iterations=20",
    "metrics.every_n_iterations=20",
    *FAST,
]


@pytest.mark.process
@pytest.mark.slow
def test_a_members_sweep_is_the_per_process_sweep(tmp_path: Path) -> None:
    command = ["-m", "fix=vanilla,pack2", "seed=0,1,2", *MEMBER_SWEEP]
    members = genlab_train_cli(
        tmp_path, *command, "hydra/launcher=members", f"hydra.sweep.dir={tmp_path / 'members'}"
    )
    assert members.returncode == 0, members.stderr[-3000:]
    plain = genlab_train_cli(tmp_path, *command, f"hydra.sweep.dir={tmp_path / 'plain'}")
    assert plain.returncode == 0, plain.stderr[-3000:]
    for job in range(6):
        folder = tmp_path / "members" / str(job)
        a, b = read_summary(folder), read_summary(tmp_path / "plain" / str(job))
        assert (a["seed"], a["overrides"], a["status"]) == (b["seed"], b["overrides"], b["status"])
        assert a["config_hash"] == b["config_hash"]
        for key, value in final_values(b).items():
            assert a[key] == pytest.approx(value, rel=1e-3, abs=1e-4), key
        for name in ("samples.png", "samples.npy", "checkpoints/last.ckpt", "train.log"):
            assert (folder / name).is_file(), name
        assert list((folder / "tensorboard").glob("events.out.tfevents.*"))
        assert load_checkpoint_iteration(folder / "checkpoints" / "last.ckpt") == 40
        # a member's checkpoint is a plain run's: genlab-eval rebuilds the run from it and
        # scores what the member logged
        evaluated = evaluate_checkpoint(folder / "checkpoints" / "last.ckpt", [])
        metric_keys = [k for k in evaluated if k.startswith("metrics/") and "seconds" not in k]
        assert metric_keys
        for key in metric_keys:
            assert a[key] == pytest.approx(evaluated[key], rel=1e-6, abs=1e-9), key
    # genlab-compare's groups and n
    from genlab.compare.stats import group_jobs, varying_keys

    def counts(name: str) -> dict[str, int]:
        jobs = load_jobs(tmp_path / name)
        return {g: len(js) for g, js in group_jobs(jobs, varying_keys(jobs)).items()}

    assert counts("members") == counts("plain")
    # rerun: every job recorded earlier, nothing trained
    again = genlab_train_cli(
        tmp_path, *command, "hydra/launcher=members", f"hydra.sweep.dir={tmp_path / 'members'}"
    )
    assert again.returncode == 0, again.stderr[-3000:]
    lines = [line for line in again.stdout.splitlines() if line.startswith("job ")]
    assert len(lines) == 6 and all("(recorded earlier)" in line for line in lines)


@pytest.mark.process
@pytest.mark.slow
def test_a_killed_members_job_resumes_to_the_uninterrupted_result(tmp_path: Path) -> None:
    command = [
        "-m",
        "seed=0,1,2",
        "hydra/launcher=members",
        "hydra.launcher.n_jobs=1",
        "model.ema_decay=0.9",
        *MEMBER_SWEEP,
    ]
    sweep = tmp_path / "sweep"
    killed = genlab_train_cli(
        tmp_path, *command, *interrupt(tmp_path, 0, "SIGKILL"), f"hydra.sweep.dir={sweep}"
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    for job in range(3):
        assert read_summary(sweep / str(job))["status"] == "running"
        assert load_checkpoint_iteration(sweep / str(job) / "checkpoints" / "last.ckpt") == 20
    rerun = genlab_train_cli(
        tmp_path, *command, *interrupt(tmp_path, 0, "SIGKILL"), f"hydra.sweep.dir={sweep}"
    )
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    reference = tmp_path / "reference"
    clean = genlab_train_cli(
        tmp_path, *command, *interrupt(tmp_path, 0, "SIGKILL"), f"hydra.sweep.dir={reference}"
    )
    assert clean.returncode == 0, clean.stderr[-3000:]
    for job in range(3):
        resumed, uninterrupted = read_summary(sweep / str(job)), read_summary(reference / str(job))
        assert resumed["status"] == "completed"
        assert [r["iteration"] for r in resumed["resumed_at"]] == [20]
        assert final_values(resumed) and final_values(resumed) == final_values(uninterrupted)


def test_jobs_that_differ_only_in_seed_form_groups_of_up_to_k() -> None:
    from hydra_plugins.genlab_members_launcher.members_launcher import member_groups

    jobs = [[f"fix={fix}", f"seed={seed}"] for fix in ("a", "b") for seed in range(7)]
    jobs.append(["fix=c", "seed=0"])
    groups = member_groups(jobs, 5)
    assert groups == [[0, 1, 2, 3, 4], [5, 6], [7, 8, 9, 10, 11], [12, 13], [14]]
    assert member_groups(jobs, 1) == [[i] for i in range(15)]  # members=1: plain jobs


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("trainer.precision=16-mixed", "GradScaler skips the step of every member"),
        ("trainer.devices=2", "members train on one device"),
        ("compile=true", "compile=false or hydra.launcher.members=1"),
    ],
)
def test_settings_members_cannot_train_exactly_are_named(
    tmp_path: Path, override: str, message: str
) -> None:
    from genlab.run.members import members_refusal

    assert members_refusal(compose_config(tmp_path, fast_overrides([]))) is None
    refusal = members_refusal(compose_config(tmp_path, fast_overrides([override])))
    assert refusal is not None and message in refusal and override.split("=")[0] in refusal


@pytest.mark.process
@pytest.mark.slow
def test_a_16_mixed_members_sweep_runs_its_seeds_as_plain_jobs(tmp_path: Path) -> None:
    result = genlab_train_cli(
        tmp_path,
        "-m",
        "seed=0,1",
        "hydra/launcher=members",
        "trainer.precision=16-mixed",
        "iterations=4",
        "metrics=none",
        "logger=csv",
        "~callbacks.samples",
        *FAST,
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "GradScaler skips the step of every member" in result.stdout + result.stderr
    for job in range(2):
        summary = read_summary(tmp_path / "sweep" / str(job))
        assert summary["status"] == "completed" and summary["seed"] == job
        log_text = (tmp_path / "sweep" / str(job) / "train.log").read_text()
        assert "seeds as one batched model" not in log_text
