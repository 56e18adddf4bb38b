"""genlab-eval ckpt_path=<run>/checkpoints/last.ckpt [overrides]: metrics of a checkpoint.

Rebuilds the run from the config it recorded (run/rebuild.py) plus the overrides given
here (e.g. metrics.num_samples=10000 or metrics=inception; none that change the model), loads the
weights with weights_only loading, prints the metrics as a table and writes them beside the
checkpoint with the suffix .metrics.json (checkpoints/last.ckpt -> checkpoints/last.metrics.json).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from genlab.errors import ConfigError, GenlabError


def _split_arguments(argv: list[str]) -> tuple[Path, list[str]]:
    ckpt = [a.split("=", 1)[1] for a in argv if a.startswith("ckpt_path=")]
    if len(ckpt) != 1:
        raise ConfigError("usage: genlab-eval ckpt_path=<run>/checkpoints/last.ckpt [overrides]")
    return Path(ckpt[0]), [a for a in argv if not a.startswith("ckpt_path=")]


def evaluate_checkpoint(ckpt_path: Path, overrides: list[str]) -> dict[str, Any]:
    """Metrics of the checkpoint's generator, on the run's config plus `overrides`."""
    from hydra.utils import instantiate

    from genlab.callbacks.metrics import evaluate
    from genlab.run.rebuild import checkpoint_config, load_run

    cfg, iteration = checkpoint_config(ckpt_path, overrides, "genlab-eval")
    if cfg.metrics.suite is None:
        raise ConfigError(f"data={cfg.data.name} has no metrics configured; pass metrics=<name>")
    run = load_run(ckpt_path, cfg, iteration)
    suite = instantiate(run.cfg.metrics.suite)
    suite.setup(run.datamodule, run.cfg.paths.cache_dir)
    num_samples = int(run.cfg.metrics.num_samples)
    values = evaluate(run.model, suite, num_samples, int(run.cfg.metrics.batch_size))
    return {
        "checkpoint": str(ckpt_path),
        "iteration": run.iteration,
        "num_samples": num_samples,
        **suite.identity(),
        **values,
    }


def run(argv: list[str]) -> dict[str, Any]:
    """Evaluate, print the table and write the JSON; returns the values."""
    from genlab.run.folder import FolderLock

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
