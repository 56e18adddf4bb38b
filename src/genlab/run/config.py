"""Which config a run ran: the resolved config, its hash and the keys where two configs differ;
the settings TensorBoard's HPARAMS view compares (what the user chose, not where the run wrote
or which classes built it); and the OmegaConf resolvers genlab's configs use (registered when
genlab.train is imported).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from genlab.loggers.run_logger import run_name

# Keys that say where or how a run is carried out, not what it trains: two runs that differ only
# in these hash alike (a sweep rerun with sweep_retry_failed=true reuses its job folders).
WHERE_AND_HOW = ("resume", "sweep_retry_failed")
# ... and the key of a logger's node that only names the run in the logger's UI (its overrides
# in their order; null in runs recorded before it said what the run is)
LOGGER_LABEL = "run_name"

# Keys inside a net group that genlab gained after runs were saved, with the value that keeps
# the behaviour from before they existed, by the generator's target. A saved config of such nets
# that lacks them ran with these values (the MLP's activations; the DCGAN's two stages, linear
# ends, conv biases and torch's initialisation).
MLP_GENERATOR = "genlab.nets.mlp.MLPGenerator"
DCGAN_GENERATOR = "genlab.nets.dcgan.DCGANGenerator"
MLP_NET_SWITCHES: dict[str, Any] = {
    "net.activation": "relu",
    "net.discriminator_activation": "leaky_relu",
    "net.generator.activation": "relu",
    "net.discriminator.activation": "leaky_relu",
    "net.critic.activation": "leaky_relu",
    "net.encoder.activation": "relu",
    "net.decoder.activation": "relu",
}
DCGAN_LAYOUT_BEFORE = {"stages": 2, "ends": "linear", "conv_bias": True, "init": "torch"}
DCGAN_NET_SWITCHES: dict[str, Any] = {
    f"net.{role}{key}": value
    for role in ("", "generator.", "discriminator.", "critic.", "encoder.", "decoder.")
    for key, value in DCGAN_LAYOUT_BEFORE.items()
}
NET_SWITCHES = {MLP_GENERATOR: MLP_NET_SWITCHES, DCGAN_GENERATOR: DCGAN_NET_SWITCHES}
# ... and inside the model group, by the model's target (augment null: no DiffAugment)
MODEL_SWITCHES: dict[str, dict[str, Any]] = {
    "genlab.models.gan.GAN": {"model.augment": None},
    "genlab.models.wgan_gp.WGANGP": {"model.augment": None},
}
_ABSENT = object()


def run_config(cfg: DictConfig) -> DictConfig:
    """The config without Hydra's own node, fully resolved."""
    run_keys = [key for key in cfg if key != "hydra"]
    resolved = OmegaConf.to_container(OmegaConf.masked_copy(cfg, run_keys), resolve=True)
    return OmegaConf.create(resolved)


def what_runs(cfg: DictConfig) -> DictConfig:
    """The resolved config with folders (paths.*, and whatever is built from them),
    WHERE_AND_HOW and the loggers' run names replaced by placeholders before resolving, so two
    runs of one experiment in different folders hash alike."""
    placeholder = OmegaConf.masked_copy(cfg, [key for key in cfg if key != "hydra"])
    with open_dict(placeholder):
        for key in placeholder.get("paths") or {}:
            placeholder.paths[key] = f"<paths.{key}>"
        for key in WHERE_AND_HOW:
            placeholder[key] = None
        for node in (placeholder.get("logger") or {}).values():
            if isinstance(node, DictConfig) and LOGGER_LABEL in node:
                node[LOGGER_LABEL] = None
    return run_config(placeholder)


def config_hash(cfg: DictConfig) -> str:
    """sha256 of what_runs(cfg) as JSON with sorted keys (first 16 hex digits): the order of
    the command-line overrides does not change it."""
    text = json.dumps(OmegaConf.to_container(what_runs(cfg)), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _flat(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        flat: dict[str, Any] = {}
        for key, value in node.items():
            flat.update(_flat(value, f"{prefix}{key}."))
        return flat if flat or not prefix else {prefix[:-1]: {}}
    return {prefix[:-1]: node}


def new_switches(previous: DictConfig, current: DictConfig) -> list[str]:
    """Top-level keys of `current` that `previous` (a folder's resolved config) lacks and that
    `current` holds at the value genlab's train.yaml ships: switches genlab gained after
    `previous` was written, left at their defaults (which by convention keep the behaviour from
    before they existed)."""
    from genlab import CONF_DIR

    shipped = OmegaConf.load(CONF_DIR / "train.yaml")
    return [
        key
        for key in current
        if key not in ("hydra", "defaults")
        and key not in previous
        and key in shipped
        and OmegaConf.select(current, key)
        == OmegaConf.select(shipped, key, throw_on_resolution_failure=False)
    ]


def gained_nested_switches(previous: DictConfig) -> dict[str, Any]:
    """The nested switches (NET_SWITCHES, MODEL_SWITCHES) that `previous`, a saved config,
    predates: each dotted key with the value it ran with."""
    switches = {
        **NET_SWITCHES.get(str(OmegaConf.select(previous, "net.generator._target_")), {}),
        **MODEL_SWITCHES.get(str(OmegaConf.select(previous, "model._target_")), {}),
    }
    return {
        key: value
        for key, value in switches.items()
        if OmegaConf.select(previous, key, default=_ABSENT) is _ABSENT
    }


def new_nested_switches(previous: DictConfig, current: DictConfig) -> list[str]:
    """Dotted keys of the nested switches `previous` predates that `current` holds at the value
    `previous` ran with (gained_nested_switches)."""
    return [
        key
        for key, value in gained_nested_switches(previous).items()
        if OmegaConf.select(current, key, default=_ABSENT) == value
    ]


def config_hash_without(cfg: DictConfig, keys: list[str]) -> str:
    """config_hash of `cfg` with `keys` left out: top-level keys, or dotted nested ones."""
    kept = OmegaConf.masked_copy(cfg, [key for key in cfg if key not in keys])
    with open_dict(kept):
        for key in keys:
            parent, _, leaf = key.rpartition(".")
            node = OmegaConf.select(kept, parent) if parent else None
            if isinstance(node, DictConfig) and leaf in node:
                del node[leaf]
    return config_hash(kept)


def differing_keys(previous: DictConfig, current: DictConfig) -> list[str]:
    """The dotted keys whose resolved values differ between a folder's resolved_config.yaml
    (`previous`) and the config of a run about to use that folder (`current`), sorted; folders,
    WHERE_AND_HOW and the loggers' run names do not count."""
    ignored = ("paths.", *WHERE_AND_HOW)

    def flat(cfg: DictConfig) -> dict[str, Any]:
        items = _flat(OmegaConf.to_container(run_config(cfg)))
        return {
            k: v
            for k, v in items.items()
            if not k.startswith(ignored)
            and not (k.startswith("logger.") and k.endswith(f".{LOGGER_LABEL}"))
        }

    flat_a, flat_b = flat(previous), flat(current)
    return sorted(
        k
        for k in flat_a.keys() | flat_b.keys()
        if flat_a.get(k, "<absent>") != flat_b.get(k, "<absent>")
    )


# Config groups whose chosen option names the experiment.
GROUPS = ("experiment", "fix", "model", "data", "net", "metrics", "trainer")
# Keys that say where or how a value is built, never what was chosen.
SKIPPED_KEYS = {"_target_", "_partial_", "_convert_", "root", "download", "data_shape"}
# Model keys that point at nets (their settings come from the net group) .
NET_ROLES = {"generator", "discriminator", "critic", "encoder", "decoder"}
TRAINER_KEYS = ("accelerator", "devices", "num_nodes", "precision", "strategy")
# The data set's name says which data; a changed value of its other settings shows up among the
# overrides. These two also shape every run.
DATA_KEYS = ("name", "batch_size")


def _flat_settings(node: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key not in SKIPPED_KEYS:
                _flat_settings(value, f"{prefix}/{key}" if prefix else str(key), out)
    elif isinstance(node, list | tuple):
        out[prefix] = str(list(node))
    elif node is None or isinstance(node, bool | int | float | str):
        out[prefix] = "null" if node is None else node


def chosen_settings(
    config: dict[str, Any], choices: dict[str, Any], overrides: list[str]
) -> dict[str, Any]:
    """Flat `section/key` -> value: the command-line overrides (`cli/<key>`: TensorBoard sorts by
    name and shows the first few, so what a sweep varies comes first), the chosen group options,
    the model's settings, the data set's name and batch size, net widths, the trainer's placement
    and precision, iterations and seed (resolved `config`; `choices`, `overrides` from Hydra)."""
    out: dict[str, Any] = {}
    for item in overrides:
        key, _, value = str(item).partition("=")
        if not key.lstrip("+~").startswith(("paths.", "hydra.")):
            out[f"cli/{key.lstrip('+~')}"] = value
    for group in GROUPS:
        if choices.get(group) is not None:
            out[f"group/{group}"] = str(choices[group])
    for key in ("seed", "iterations"):
        out[key] = config.get(key)
    model = {k: v for k, v in (config.get("model") or {}).items() if k not in NET_ROLES}
    _flat_settings(model, "model", out)
    data = config.get("data") or {}
    _flat_settings({k: data[k] for k in DATA_KEYS if k in data}, "data", out)
    net = {k: v for k, v in (config.get("net") or {}).items() if not isinstance(v, dict)}
    _flat_settings(net, "net", out)
    trainer = config.get("trainer") or {}
    _flat_settings({k: trainer.get(k) for k in TRAINER_KEYS if k in trainer}, "trainer", out)
    return out


def register_resolvers() -> None:
    """Register genlab's resolvers (idempotent)."""
    # first non-null of two values: `${genlab_coalesce:${resume},<fresh run folder>}`
    OmegaConf.register_new_resolver(
        "genlab_coalesce",
        lambda value, fallback: fallback if value is None else value,
        replace=True,
    )
    OmegaConf.register_new_resolver("genlab_hydra_subdir", hydra_subdir, replace=True)
    # a run's name in MLflow / W&B (conf/logger/mlflow.yaml, wandb.yaml: logger.*.run_name)
    OmegaConf.register_new_resolver("genlab_run_name", run_name, replace=True)
    # a sweep job's INFO lines go to its log file; the console gets one line per job
    OmegaConf.register_new_resolver(
        "genlab_console_level",
        lambda mode: "WARNING" if "MULTIRUN" in str(mode) else "INFO",
        replace=True,
    )


def hydra_subdir(resume: Any, output_dir: str, stamp: str) -> str:
    """Where Hydra records a job's config: `.hydra`, or for a folder that already holds that
    record (resume=..., a rerun sweep job) `.hydra/resume_<stamp>` / `.hydra/rerun_<stamp>`, so
    the record of the first start stays as it was."""
    if resume is not None:
        return f".hydra/resume_{stamp}"
    if (Path(output_dir) / ".hydra" / "config.yaml").is_file():
        return f".hydra/rerun_{stamp}"
    return ".hydra"
