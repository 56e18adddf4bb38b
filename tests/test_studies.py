"""The mode-collapse study configs: every arm of every study composes and trains a few
iterations; the arms differ from the baseline only in their fix; no test runs a whole study."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from conftest import compose_config

STUDIES = {
    "mode_collapse_ring8": "ring8",
    "mode_collapse_grid25": "grid25",
    "mode_collapse_stacked_digits": "stacked_digits",
}
TINY = {
    "ring8": ["net.hidden=[16,16]", "net.discriminator_hidden=[16,16]"],
    "grid25": ["net.hidden=[16,16]", "net.discriminator_hidden=[16,16]"],
    "stacked_digits": [
        "net.channels=8",
        "net.discriminator_channels=8",
        "data.num_samples=600",
        "metrics.suite.num_real_samples=300",
        "manifold_metrics.num_samples=200",
    ],
}


def sweep_values(cfg, key: str) -> list[str]:
    """The values a study's sweeper gives `key`, as Hydra's parser reads them."""
    raw = cfg.hydra.sweeper.params[key]
    parsed = OverridesParser.create().parse_overrides([f"{key}={raw}"])[0]
    return [str(v) for v in parsed.sweep_iterator()]


@pytest.mark.parametrize("study", STUDIES)
def test_study_sweeps_every_arm_over_its_seeds_with_one_budget(tmp_path: Path, study: str) -> None:
    cfg = compose_config(tmp_path, [f"experiment={study}"])
    arms = sweep_values(cfg, "fix")
    assert arms[0] == "vanilla" and len(arms) == len(set(arms)) == 14
    assert {"pack2", "lsgan", "r1", "vae"} <= set(arms)
    assert any(arm.startswith("wgan_gp") for arm in arms)
    seeds = {"mode_collapse_grid25": 3, "mode_collapse_ring8": 10}.get(study, 5)
    assert sweep_values(cfg, "seed") == [str(s) for s in range(seeds)]
    assert cfg.hydra.launcher.members == seeds or study == "mode_collapse_grid25"
    assert cfg.hydra.runtime.choices.data == STUDIES[study]
    assert f"/multirun/{study}/" in cfg.hydra.sweep.dir
    # one budget: no arm changes the iterations, the data or the metrics
    baseline = compose_config(tmp_path, [f"experiment={study}", "fix=vanilla"])
    for arm in arms:
        armed = compose_config(tmp_path, [f"experiment={study}", f"fix={arm}"])
        for key in ("iterations", "data", "metrics", "seed"):
            assert OmegaConf.select(armed, key) == OmegaConf.select(baseline, key), (arm, key)


@pytest.mark.parametrize("study", STUDIES)
def test_every_arm_of_a_study_trains_a_few_iterations(
    run_train, tmp_path: Path, study: str
) -> None:
    cfg = compose_config(tmp_path / "compose", [f"experiment={study}"])
    for arm in sweep_values(cfg, "fix"):
        summary = run_train(
            f"experiment={study}",
            f"data={STUDIES[study]}",  # as the study sets it; picks the test's fast net settings
            f"fix={arm}",
            "iterations=2",
            "metrics.num_samples=200",
            "metrics.batch_size=200",
            "logger=csv",
            "~callbacks.samples",
            "~callbacks.checkpoint",
            *TINY[STUDIES[study]],
            run_dir=tmp_path / arm,
        )
        assert summary["status"] == "completed", (arm, summary.get("error"))
        headline = (
            "metrics/modes"
            if study != "mode_collapse_stacked_digits"
            else ("metrics/stacked_modes")
        )
        assert headline in summary, arm


def test_stacked_mnist_study_is_the_stacked_digits_study_at_28x28(tmp_path: Path) -> None:
    digits = compose_config(tmp_path, ["experiment=mode_collapse_stacked_digits"])
    mnist = compose_config(tmp_path, ["experiment=mode_collapse_stacked_mnist"])
    assert mnist.data.name == "stacked_mnist" and list(mnist.data.shape) == [3, 28, 28]
    assert mnist.metrics.suite._target_ == digits.metrics.suite._target_
    assert mnist.net.discriminator_channels == digits.net.discriminator_channels == 16
    assert sweep_values(mnist, "fix") == sweep_values(digits, "fix")
    # an arm's five seeds as one batched model, one arm at a time on the GPU
    assert mnist.hydra.runtime.choices["hydra/launcher"] == "members_gpu"
    assert mnist.hydra.launcher.n_jobs == 1 and mnist.hydra.launcher.members == 5
    on_slurm = compose_config(
        tmp_path,
        ["experiment=mode_collapse_stacked_mnist", "hydra/launcher=slurm", "trainer=slurm"],
    )  # the command its config advertises
    assert on_slurm.hydra.launcher.gpus_per_node == 8
    assert digits.hydra.runtime.choices["hydra/launcher"] == "members"
