"""A trained run rebuilt from one of its checkpoints: the config it recorded
(run/recorded_config.py) plus the overrides given, its data module and its model with the
checkpoint's weights, loaded with weights_only loading. What genlab-eval and genlab-sample
start from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genlab.errors import ConfigError


@dataclass
class CheckpointRun:
    cfg: Any  # DictConfig: the run's config, its recorded seed, paths.output_dir = its folder
    datamodule: Any
    model: Any  # the run's GenerativeModel, weights loaded, on the CPU
    iteration: int
    run_dir: Path


def checkpoint_config(ckpt_path: Path, overrides: list[str], tool: str) -> tuple[Any, int]:
    """The config the run that saved `ckpt_path` recorded (recorded_config), with `overrides`
    on top, and the checkpoint's iteration; clear errors for a checkpoint outside a run folder,
    one that cannot be read, or overrides that change the model."""
    from omegaconf import open_dict

    from genlab.run.config_checks import check_config
    from genlab.run.recorded_config import recorded_config, run_folder_of, with_overrides
    from genlab.run.resume import load_checkpoint_iteration

    if not ckpt_path.is_file():
        raise ConfigError(
            f"ckpt_path={ckpt_path}: no such file; pass a checkpoint of a genlab run, e.g."
            " logs/runs/<date>_<time>/checkpoints/last.ckpt"
        )
    run_dir = run_folder_of(ckpt_path.absolute().parent)
    iteration = load_checkpoint_iteration(ckpt_path)  # weights_only; clear error when corrupt
    cfg = with_overrides(recorded_config(run_dir), overrides, tool)
    with open_dict(cfg):
        cfg.paths.output_dir = str(run_dir)
        cfg.resume = None
    check_config(cfg)
    return cfg, iteration


def rebuild(ckpt_path: Path, overrides: list[str], tool: str = "genlab-sample") -> CheckpointRun:
    """The run of `ckpt_path`: config, data module (prepared) and model with its weights."""
    cfg, iteration = checkpoint_config(ckpt_path, overrides, tool)
    return load_run(ckpt_path, cfg, iteration)


def load_run(ckpt_path: Path, cfg: Any, iteration: int) -> CheckpointRun:
    """The data module and model of `cfg` (from checkpoint_config), with `ckpt_path`'s weights."""
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
    return CheckpointRun(cfg, datamodule, model, iteration, Path(cfg.paths.output_dir))
