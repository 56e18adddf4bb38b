"""The direct optimizer-step path equals Lightning's wrapped one, bit for bit, and is only
chosen where the wrappers add nothing (genlab.models.step_path)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import lightning as L
import pytest
import torch
from lightning.pytorch.plugins.precision import MixedPrecision, Precision
from lightning.pytorch.profilers import PassThroughProfiler, SimpleProfiler
from lightning.pytorch.strategies import DDPStrategy, SingleDeviceStrategy

from conftest import compose_config, fast_overrides
from genlab.models.base import GenerativeModel
from genlab.models.step_path import direct_step_blockers
from genlab.run.build import build


class ImplementsStepHook(L.Callback):
    """Does nothing, but implements a hook the direct path would skip: forces the wrapped path."""

    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module: Any, optimizer: Any) -> None:
        pass


def train(tmp_path: Path, overrides: list[str], wrapped: bool) -> tuple[Any, Any]:
    cfg = compose_config(
        tmp_path / ("wrapped" if wrapped else "direct"),
        fast_overrides(
            [f"paths.root_dir={tmp_path}", "callbacks=none", "logger=csv", "metrics=none",
             "iterations=30", "log_every_n_iterations=5", *overrides]
        ),
    )  # fmt: skip
    datamodule, module, trainer = build(cfg, seed=0)
    if wrapped:
        trainer.callbacks.append(ImplementsStepHook())
    trainer.fit(module, datamodule=datamodule)
    return module, trainer


@pytest.mark.parametrize(
    "overrides",
    [
        ["model=gan", "model.r1_gamma=1.0", "model.ema_decay=0.9", "model.clip_norm_g=0.5",
         "model.clip_norm_d=0.5"],
        ["model=wgan_gp", "model.n_critic=2"],
        ["model=vae", "model.clip_norm=1.0"],
        ["model=gan", "trainer.precision=bf16-mixed"],
    ],
    ids=["gan_r1_ema_clip", "wgan_gp", "vae_clip", "gan_bf16"],
)  # fmt: skip
def test_direct_and_wrapped_steps_are_bitwise_identical(
    tmp_path: Path, overrides: list[str]
) -> None:
    direct, direct_trainer = train(tmp_path, overrides, wrapped=False)
    wrapped, wrapped_trainer = train(tmp_path, overrides, wrapped=True)
    assert direct.direct_step and not wrapped.direct_step
    assert direct_trainer.global_step == wrapped_trainer.global_step > 0
    assert direct.iteration == wrapped.iteration == 30
    for name, value in direct.state_dict().items():
        assert torch.equal(value, wrapped.state_dict()[name]), name
    for a, b in zip(direct_trainer.optimizers, wrapped_trainer.optimizers, strict=True):
        for state_a, state_b in zip(a.state.values(), b.state.values(), strict=True):
            for key in state_a:
                assert torch.equal(torch.as_tensor(state_a[key]), torch.as_tensor(state_b[key]))
    assert direct.run_state.logged == wrapped.run_state.logged and direct.run_state.logged


def _trainer(strategy: Any, precision: Any, profiler: Any, callbacks: list) -> Any:
    strategy.precision_plugin = precision
    return SimpleNamespace(strategy=strategy, profiler=profiler, callbacks=callbacks)


def test_the_wrapped_path_is_kept_where_lightning_adds_something() -> None:
    module = GenerativeModel(latent_dim=2, seed=0, clip_norms=[None])

    def single() -> SingleDeviceStrategy:
        return SingleDeviceStrategy(device=torch.device("cpu"))

    plain = _trainer(single(), Precision(), PassThroughProfiler(), [])
    assert direct_step_blockers(plain, module, GenerativeModel) == []
    scaled = MixedPrecision("16-mixed", "cpu", scaler=torch.amp.GradScaler("cpu"))
    cases = {
        "precision plugin MixedPrecision": _trainer(single(), scaled, PassThroughProfiler(), []),
        "strategy DDPStrategy": _trainer(DDPStrategy(), Precision(), PassThroughProfiler(), []),
        "a profiler": _trainer(single(), Precision(), SimpleProfiler(), []),
        "ImplementsStepHook implements on_before_optimizer_step": _trainer(
            single(), Precision(), PassThroughProfiler(), [ImplementsStepHook()]
        ),
    }
    for reason, trainer in cases.items():
        blockers = direct_step_blockers(trainer, module, GenerativeModel)
        assert any(reason in b for b in blockers), (reason, blockers)

    class OwnHook(GenerativeModel):
        def on_after_backward(self) -> None:
            pass

    own = OwnHook(latent_dim=2, seed=0, clip_norms=[None])
    assert direct_step_blockers(plain, own, GenerativeModel) == [
        "OwnHook overrides on_after_backward"
    ]
