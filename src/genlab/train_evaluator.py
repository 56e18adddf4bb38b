"""genlab-train-evaluator data=<digits|mnist5k|mnist|fashion_mnist> [evaluator.train_steps=...]:
train (deterministically) and cache the domain evaluator of a data set, then print its identity.

Runs also train it on first use; this command retrains and replaces the cached copy.
"""

from __future__ import annotations

import sys

from genlab.errors import ConfigError, GenlabError

DOMAIN_SETS = ("digits", "mnist5k", "mnist", "fashion_mnist")


def run(argv: list[str]) -> dict[str, object]:
    """Train and cache the evaluator the composed config names; returns its identity."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.utils import instantiate

    from genlab import CONF_DIR
    from genlab.metrics import evaluators

    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=argv)
    data = cfg.data.get("name")
    if data not in DOMAIN_SETS:
        raise ConfigError(f"data={data} has no domain evaluator: use data={'|'.join(DOMAIN_SETS)}")
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    images = datamodule.items()
    settings = evaluators.EvaluatorSettings(
        int(cfg.evaluator.train_steps), int(cfg.evaluator.batch_size), float(cfg.evaluator.lr)
    )
    evaluator = evaluators.train_evaluator(data, images, datamodule.labels, settings)
    path = evaluators.evaluator_path(cfg.paths.cache_dir, data, settings, images, datamodule.labels)
    evaluators.save_evaluator(evaluator, path)
    print(f"{data} evaluator: held-out accuracy {evaluator.accuracy:.4f}")
    print(f"content hash {evaluator.content_hash}, saved to {path}")
    return {"path": str(path), **evaluator.identity()}


def main() -> None:
    """Console entry point."""
    try:
        run(sys.argv[1:])
    except GenlabError as err:
        print(f"genlab-train-evaluator: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
