"""A trained run rebuilt from one of its checkpoints: its own config (`.hydra/overrides.yaml` plus
the overrides given), its data module and its model with the checkpoint's weights, loaded with
weights_only loading. What genlab-eval and genlab-sample start from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from genlab.errors import ConfigError


@dataclass
class CheckpointRun:
    cfg: Any  # DictConfig: the run's config, its recorded seed, paths.output_dir = its folder
    datamodule: Any
    model: Any  # the run's GenerativeModel, weights loaded, on the CPU
    iteration: int
    run_dir: Path


def run_config(ckpt_path: Path, overrides: list[str]) -> tuple[Any, int]:
    """The config of the run that saved `ckpt_path` (plus `overrides`) and the checkpoint's
    iteration; clear errors for a checkpoint outside a run folder or one that cannot be read."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import open_dict

    from genlab import CONF_DIR
    from genlab.run.config_checks import check_config
    from genlab.run.resume import load_checkpoint_iteration
    from genlab.run.run_record import read_summary

    run_dir = ckpt_path.parent.parent
    overrides_file = run_dir / ".hydra" / "overrides.yaml"
    if not ckpt_path.is_file() or not overrides_file.is_file():
        raise ConfigError(
            f"ckpt_path={ckpt_path}: needs a checkpoint inside a genlab run folder"
            f" (<run>/checkpoints/*.ckpt with <run>/.hydra/overrides.yaml); missing:"
            f" {ckpt_path if not ckpt_path.is_file() else overrides_file}"
        )
    iteration = load_checkpoint_iteration(ckpt_path)  # weights_only; clear error when corrupt
    run_overrides = yaml.safe_load(overrides_file.read_text()) or []
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=[*run_overrides, *overrides])
    with open_dict(cfg):
        cfg.paths.output_dir = str(run_dir)
        cfg.seed = read_summary(run_dir)["seed"]
    check_config(cfg)
    return cfg, iteration


def rebuild(ckpt_path: Path, overrides: list[str]) -> CheckpointRun:
    """The run of `ckpt_path`: config, data module (prepared) and model with its weights."""
    cfg, iteration = run_config(ckpt_path, overrides)
    return load_run(ckpt_path, cfg, iteration)


def load_run(ckpt_path: Path, cfg: Any, iteration: int) -> CheckpointRun:
    """The data module and model of `cfg` (from run_config), with `ckpt_path`'s weights."""
    import torch
    from hydra.utils import instantiate

    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    model = instantiate(cfg.model, _convert_="all")
    model.configure_model()  # layers the config adds in each process (spectral norm)
    state = torch.load(ckpt_path, map_location="cpu", weights_only=True)["state_dict"]
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).splitlines()[1].strip() if "\n" in str(err) else str(err)
        raise ConfigError(
            f"ckpt_path={ckpt_path}: its weights do not fit the {type(model).__name__} of this"
            f" run's config ({first[:200]}); was it copied from another run, or are the overrides"
            " given here changing the model?"
        ) from None
    return CheckpointRun(cfg, datamodule, model, iteration, ckpt_path.parent.parent)
