"""One way to rebuild a run from its folder (run/rebuild.py): genlab-sample and genlab-eval
start from the config the run recorded, not from today's configs, so a run made with the user's
own --config-dir rebuilds without it, a run saved before a switch existed rebuilds with the value
it ran with, and overrides that would change the model are refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate

from conftest import FAST, FAST_CONV, genlab_train_cli
from genlab import CONF_DIR
from genlab.evaluate import run as evaluate
from genlab.sample import run as sample

# the runs fixture trains with genlab-train subprocesses (make test, not test-fast)
pytestmark = pytest.mark.process

TINY = ["iterations=4", "log_every_n_iterations=2", "logger=csv", "callbacks.samples=null"]
# the user's experiment: a latent size and nets no shipped config has, so a rebuild from today's
# configs could not load its weights
MY_EXPERIMENT = """# @package _global_
defaults:
  - override /data: ring8
model:
  latent_dim: 3
net:
  hidden: [24, 24]
  discriminator_hidden: [16, 16]
metrics:
  num_samples: 500
"""
OLD_DCGAN = ["net.stages=2", "net.ends=linear", "net.conv_bias=true", "net.init=torch"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two trained runs: `mine` from a --config-dir experiment (its folder is deleted after the
    reference samples are drawn in-process), `dcgan` with the DCGAN layout of before the
    net.stages / ends / conv_bias / init switches."""
    root = tmp_path_factory.mktemp("rebuild")
    config_dir = root / "my_configs"
    (config_dir / "experiment").mkdir(parents=True)
    (config_dir / "experiment" / "mine.yaml").write_text(MY_EXPERIMENT)
    user_run = [f"--config-dir={config_dir}", "experiment=mine", "hydra.run.dir=mine"]
    mine = genlab_train_cli(root, *user_run, *FAST[:3], *TINY)
    assert mine.returncode == 0, mine.stderr[-3000:]
    dcgan = genlab_train_cli(
        root, "data=digits", "net=dcgan", *FAST_CONV, *OLD_DCGAN, "metrics=none", *TINY,
        "hydra.run.dir=dcgan",
    )  # fmt: skip
    assert dcgan.returncode == 0, dcgan.stderr[-3000:]
    # what the user's run draws, rebuilt in-process from the user's configs
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        searchpath = f"hydra.searchpath=[file://{config_dir}]"
        cfg = compose("train", overrides=[searchpath, "experiment=mine"])
    GlobalHydra.instance().clear()
    model = instantiate(cfg.model, _convert_="all")
    checkpoint = root / "mine" / "checkpoints" / "last.ckpt"
    model.load_state_dict(torch.load(checkpoint, weights_only=True)["state_dict"])
    z = torch.randn(16, 3, generator=torch.Generator().manual_seed(5))
    np.save(root / "expected.npy", model.sample(16, z).float().numpy())
    shutil.rmtree(config_dir)  # the user's config folder is gone
    return {"root": root, "mine": checkpoint, "dcgan": root / "dcgan" / "checkpoints" / "last.ckpt"}


def test_a_config_dir_run_samples_and_evaluates_without_its_config_folder(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    recorded = (runs["mine"].parent.parent / ".hydra" / "config.yaml").read_text()
    assert "hidden: ${net.hidden}" in recorded  # the checks before the run resolve nothing in it
    written = sample([f"ckpt_path={runs['mine']}", "n=16", "seed=5", f"out={tmp_path}"])
    samples = np.load(written["samples"])
    assert samples.shape == (16, 2)
    assert np.array_equal(samples, np.load(runs["root"] / "expected.npy"))
    results = evaluate([f"ckpt_path={runs['mine']}"])
    assert results["iteration"] == 4 and results["num_samples"] == 500  # the experiment's
    assert 0 <= results["metrics/modes"] <= 8
    written_json = runs["mine"].parent / "last.metrics.json"
    assert json.loads(written_json.read_text())["metrics/modes"] == results["metrics/modes"]


def test_eval_overrides_change_how_it_is_measured(runs: dict[str, Path]) -> None:
    results = evaluate([f"ckpt_path={runs['mine']}", "metrics.num_samples=300"])
    assert results["num_samples"] == 300


def test_a_run_saved_before_a_switch_samples_with_the_value_it_ran_with(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    run = runs["dcgan"].parent.parent
    old = tmp_path / "old_run"
    shutil.copytree(run, old)
    config_file = old / ".hydra" / "config.yaml"
    config = yaml.safe_load(config_file.read_text())
    for node in [config["net"], *(v for v in config["net"].values() if isinstance(v, dict))]:
        for key in ("stages", "ends", "conv_bias", "init"):
            node.pop(key, None)
    del config["model"]["augment"], config["compile"]  # a nested and a top-level switch
    config_file.write_text(yaml.safe_dump(config))
    assert "stages" not in config_file.read_text()
    now = sample([f"ckpt_path={runs['dcgan']}", "n=6", f"out={tmp_path / 'now'}"])
    before = sample([f"ckpt_path={old / 'checkpoints' / 'last.ckpt'}", "n=6", f"out={tmp_path}"])
    assert np.array_equal(np.load(now["samples"]), np.load(before["samples"]))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.latent_dim=8", "model.latent_dim (3 -> 8)"),
        ("net.hidden=[8,8]", "model.generator.hidden ([24, 24] -> [8, 8])"),
        ("fix=lsgan", "a fix= option changes what is trained"),
        ("metrics=nope", "genlab ships no metrics option 'nope'"),
        ("model.no_such_key=1", "the run's config has no model.no_such_key"),
    ],
)
def test_overrides_that_change_the_model_are_refused(
    runs: dict[str, Path],
    tmp_path: Path,
    override: str,
    message: str,
    capsys: pytest.CaptureFixture,
) -> None:
    with pytest.raises(SystemExit) as stopped:
        sample([f"ckpt_path={runs['mine']}", override, f"out={tmp_path}"])
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "samples.npy").exists()


def test_a_checkpoint_outside_a_run_folder_is_refused(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    loose = tmp_path / "loose.ckpt"
    shutil.copy(runs["mine"], loose)
    with pytest.raises(SystemExit) as stopped:
        evaluate([f"ckpt_path={loose}"])
    assert stopped.value.code == 2
    assert "is not inside a genlab run folder" in capsys.readouterr().err
