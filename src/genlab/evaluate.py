"""genlab-eval ckpt_path=<run>/checkpoints/last.ckpt [overrides]: metrics of a checkpoint.

Rebuilds the run from its own overrides (`.hydra/overrides.yaml`) plus the ones given here (e.g.
metrics.num_samples=10000 or metrics=inception), loads the weights with weights_only loading,
prints the metrics as a table and writes them to `<checkpoint>.metrics.json` beside it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

from genlab.errors import ConfigError, GenlabError


def _split_arguments(argv: list[str]) -> tuple[Path, list[str]]:
    ckpt = [a.split("=", 1)[1] for a in argv if a.startswith("ckpt_path=")]
    if len(ckpt) != 1:
        raise ConfigError("usage: genlab-eval ckpt_path=<run>/checkpoints/last.ckpt [overrides]")
    return Path(ckpt[0]), [a for a in argv if not a.startswith("ckpt_path=")]


def evaluate_checkpoint(ckpt_path: Path, overrides: list[str]) -> dict[str, Any]:
    """Metrics of the checkpoint's generator, on the run's config plus `overrides`."""
    import torch
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.utils import instantiate
    from omegaconf import open_dict

    from genlab import CONF_DIR
    from genlab.callbacks.metrics import evaluate
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
    if cfg.metrics.suite is None:
        raise ConfigError(f"data={cfg.data.name} has no metrics configured; pass metrics=<name>")

    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    suite = instantiate(cfg.metrics.suite)
    suite.setup(datamodule, cfg.paths.cache_dir)
    model = instantiate(cfg.model, _convert_="all")
    model.configure_model()  # layers the config adds in each process (spectral norm)
    checkpoint = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    model.load_state_dict(checkpoint["state_dict"])
    values = evaluate(model, suite, int(cfg.metrics.num_samples), int(cfg.metrics.batch_size))
    return {
        "checkpoint": str(ckpt_path),
        "iteration": iteration,
        "num_samples": int(cfg.metrics.num_samples),
        **suite.identity(),
        **values,
    }


def run(argv: list[str]) -> dict[str, Any]:
    """Evaluate, print the table and write the JSON; returns the values."""
    from genlab.run.folder_lock import FolderLock

    lock = None
    try:
        ckpt_path, overrides = _split_arguments(argv)
        out = ckpt_path.with_suffix(".metrics.json")
        if ckpt_path.is_file():  # it writes `out` into the run folder: not while one trains
            lock = FolderLock.acquire(ckpt_path.parent.parent, doing=f"write {out.name}")
        results = evaluate_checkpoint(ckpt_path, overrides)
        out.write_text(json.dumps(results, indent=2) + "\n")
    except GenlabError as err:
        print(f"genlab-eval: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    finally:
        if lock is not None:
            lock.release()
    width = max(len(k) for k in results)
    for key, value in results.items():
        shown = f"{value:.6g}" if isinstance(value, float) else value
        print(f"{key:<{width}}  {shown}")
    print(f"written to {out}")
    return results


def main() -> None:
    """Console entry point."""
    run(sys.argv[1:])


if __name__ == "__main__":
    main()
