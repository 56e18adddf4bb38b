"""The one way a run is rebuilt from its folder: the config it recorded, never a recomposition.

Resume, genlab-eval and genlab-sample start from `<run>/.hydra/config.yaml` (the composed config
Hydra saved, interpolations kept so that `paths.output_dir` re-points the run's folders), fill in
the switches genlab gained after the run was saved with the values it ran with, and take the seed
it ran with from its summary. A run made from the user's own `--config-dir` rebuilds without that
folder. Rebuilding instantiates the `_target_`s the recorded config names: a run folder from
someone else is trusted like code (checkpoints are loaded weights-only).

`rebuild` gives what genlab-eval and genlab-sample start from: that config plus the overrides
given, its data module, and its model with a checkpoint's weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from genlab.errors import ConfigError
from genlab.run.config import gained_nested_switches
from genlab.run.folder import RECORDED_CONFIG, SUMMARY_FILE, read_summary

# Groups whose options are `# @package _global_`: they change what is trained, not how a trained
# run is looked at, so a rebuilt run does not take them.
GLOBAL_GROUPS = ("experiment", "fix", "debug", "hparams_search", "hydra")
_ABSENT = object()


def run_folder_of(path: Path) -> Path:
    """The run folder holding `path` (a checkpoint, or the folder itself): the nearest folder,
    `path` or above, with a recorded config."""
    for folder in (path, *path.parents):
        if (folder / RECORDED_CONFIG).is_file():
            return folder
    raise ConfigError(
        f"{path} is not inside a genlab run folder (no {RECORDED_CONFIG} beside it or above it);"
        " pass a checkpoint of a run genlab-train made, e.g. logs/runs/<date>_<time>/checkpoints/"
        "last.ckpt"
    )


def shipped_switches() -> DictConfig:
    """The top-level keys of genlab's train.yaml (its switches), as shipped."""
    from genlab import CONF_DIR

    shipped = OmegaConf.load(CONF_DIR / "train.yaml")
    return OmegaConf.masked_copy(shipped, [key for key in shipped if key != "defaults"])


def recorded_config(run_dir: Path) -> DictConfig:
    """The config `run_dir`'s run recorded, completed with every switch genlab gained since, at
    the value that keeps the behaviour from before it existed (by convention the shipped default
    for top-level switches; run/config.py's tables for nested ones), and its seed (the one it
    ran with, also when it was drawn)."""
    config_file = run_dir / RECORDED_CONFIG
    for needed in (config_file, run_dir / SUMMARY_FILE):
        if not needed.is_file():
            raise ConfigError(
                f"{run_dir} is not a genlab run folder: {needed} does not exist (a run folder"
                " is logs/runs/<date>_<time>, or one job folder of a sweep)"
            )
    cfg = OmegaConf.load(config_file)
    if not isinstance(cfg, DictConfig):
        raise ConfigError(f"{config_file} does not hold a config")
    shipped = shipped_switches()
    with open_dict(cfg):
        for key in shipped:
            if key not in cfg:
                cfg[key] = shipped[key]
        for key, value in gained_nested_switches(cfg).items():
            OmegaConf.update(cfg, key, value, force_add=True)
        cfg.seed = read_summary(run_dir)["seed"]
    return cfg


def _differences(before: Any, after: Any, prefix: str) -> list[str]:
    if isinstance(before, dict) and isinstance(after, dict):
        keys = sorted(before.keys() | after.keys())
        return [
            change
            for key in keys
            for change in _differences(
                before.get(key, "<absent>"), after.get(key, "<absent>"), f"{prefix}.{key}"
            )
        ]
    return [] if before == after else [f"{prefix} ({before!r} -> {after!r})"]


def _group_node(group: str, option: str) -> Any:
    """The node of option `option` of genlab's shipped group `group` (e.g. metrics=inception)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from genlab import CONF_DIR

    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
            return compose("train", overrides=[f"{group}={option}"])[group]
    finally:
        GlobalHydra.instance().clear()


def with_overrides(cfg: DictConfig, overrides: list[str], tool: str) -> DictConfig:
    """`cfg` (a recorded config) with command-line overrides on top: `key=value`, `+key=value`,
    `~key`, or a shipped group's option (`metrics=inception`). Overrides that change the model
    the checkpoint holds (anything the resolved `model` node holds: its nets, the data's shape)
    and `@package _global_` groups are refused."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from genlab import CONF_DIR

    if not overrides:
        return cfg
    parsed = OverridesParser.create().parse_overrides(list(overrides))
    changed = cfg.copy()
    with open_dict(changed):
        for override in parsed:
            key = override.key_or_group
            if key.split("/")[0] in GLOBAL_GROUPS:
                raise ConfigError(
                    f"{override.input_line}: {tool} rebuilds the run as it was trained; a"
                    f" {key}= option changes what is trained (train a new run with it instead)"
                )
            if override.is_delete():
                parent, _, leaf = key.rpartition(".")
                node = OmegaConf.select(changed, parent) if parent else changed
                if not isinstance(node, DictConfig) or leaf not in node:
                    raise ConfigError(f"{override.input_line}: the run's config has no {key}")
                del node[leaf]
                continue
            value = override.value()
            group_dir = CONF_DIR / key
            if group_dir.is_dir() and isinstance(value, str) and not override.is_add():
                if not (group_dir / f"{value}.yaml").is_file():
                    options = sorted(p.stem for p in group_dir.glob("[!_]*.yaml"))
                    raise ConfigError(
                        f"{override.input_line}: genlab ships no {key} option {value!r};"
                        f" choose one of {', '.join(options)}"
                    )
                changed[key] = _group_node(key, value)
                continue
            absent = OmegaConf.select(changed, key, default=_ABSENT) is _ABSENT
            if absent and not override.is_add():
                raise ConfigError(
                    f"{override.input_line}: the run's config has no {key}; add a new key with"
                    f" +{override.input_line}"
                )
            OmegaConf.update(changed, key, value, force_add=True)
    before = OmegaConf.to_container(cfg.model, resolve=True)
    after = OmegaConf.to_container(changed.model, resolve=True)
    model_changes = _differences(before, after, "model")
    if model_changes:
        raise ConfigError(
            f"{' '.join(overrides)}: {tool} rebuilds the model the checkpoint holds, and these"
            f" overrides change it: {'; '.join(model_changes[:5])}. Drop them; they may change"
            " how the run is sampled or evaluated (metrics, trainer.accelerator, data loading),"
            " not the model"
        )
    return changed


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

    from genlab.run.checks import check_config
    from genlab.run.rerun import load_checkpoint_iteration

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
