"""Config checks catch bad values before any work."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import compose_config
from genlab.errors import ConfigError
from genlab.run.config_checks import check_config, config_problems


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        (["data.batch_size=0"], "data.batch_size=0"),
        (["model=wgan_gp", "model.n_critic=0"], "model.n_critic=0"),
        (["model=wgan_gp", "model.gp_lambda=-1"], "model.gp_lambda=-1"),
        (["model.d_steps=0"], "model.d_steps=0"),
        (["model.optimizer_g.lr=0"], "model.optimizer_g.lr=0"),
        (["+trainer.max_steps=10"], "iterations=N"),
        (["+trainer.gradient_clip_val=1.0"], "manual optimisation"),
        (["model=vae", "model.likelihood=bernoulli"], "data.bounded=true"),
        (["model=vae", "model.sigma=0"], "model.sigma=0"),
        (["seed=abc"], "seed='abc'"),
        (["model=vae", "model.beta=-1"], "model.beta=-1"),
        (["model.r1_gamma=-1"], "model.r1_gamma=-1"),
        (["model.ema_decay=1.0"], "model.ema_decay=1.0 must be in (0, 1), or null"),
        (["model.label_smoothing=1.0"], "model.label_smoothing=1.0 must be in (0, 1), or 0"),
        (["model.instance_noise_std=-0.1"], "model.instance_noise_std=-0.1"),
        (["model.clip_norm_g=0"], "model.clip_norm_g=0"),
        (["preemption_signal=SIGNOPE"], "preemption_signal=SIGNOPE"),
        (["compile=yes"], "compile='yes' must be true or false"),
        (["model=wgan_gp", "compile=true"], "double backward; set compile=false"),
        (["model.r1_gamma=1", "compile=true"], "double backward; set compile=false"),
    ],
)
def test_bad_values_are_named(tmp_path: Path, overrides: list[str], fragment: str) -> None:
    cfg = compose_config(tmp_path, overrides)
    with pytest.raises(ConfigError, match="invalid config") as err:
        check_config(cfg)
    assert fragment in str(err.value)


def test_default_config_has_no_problems(tmp_path: Path) -> None:
    for model in ("gan", "wgan_gp", "vae"):
        for data in ("ring8", "grid25", "digits", "mnist", "fashion_mnist", "cifar10"):
            assert (
                config_problems(compose_config(tmp_path, [f"model={model}", f"data={data}"])) == []
            )
