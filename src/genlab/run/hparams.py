"""The settings of a run that TensorBoard's HPARAMS view compares: what the user chose, not
where the run wrote or which classes built it."""

from __future__ import annotations

from typing import Any

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


def _flat(node: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key not in SKIPPED_KEYS:
                _flat(value, f"{prefix}/{key}" if prefix else str(key), out)
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
    _flat(model, "model", out)
    data = config.get("data") or {}
    _flat({k: data[k] for k in DATA_KEYS if k in data}, "data", out)
    net = {k: v for k, v in (config.get("net") or {}).items() if not isinstance(v, dict)}
    _flat(net, "net", out)
    trainer = config.get("trainer") or {}
    _flat({k: trainer.get(k) for k in TRAINER_KEYS if k in trainer}, "trainer", out)
    return out
