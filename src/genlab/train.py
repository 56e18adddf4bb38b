"""genlab-train: compose -> check -> instantiate -> fit -> summary.json; returns the swept metric.

Lightning, torchvision and the models are imported only when training starts, so `--help`
and config errors come back fast.
"""

from __future__ import annotations

import logging
import math
import random
import sys
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf, open_dict

from genlab.config_checks import check_config
from genlab.errors import GenlabError
from genlab.run_record import RunRecord, read_summary

log = logging.getLogger("genlab.train")

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


def resolve_seed(cfg: DictConfig) -> int:
    """The run's seed; `seed: null` draws one and writes it into cfg so it is recorded."""
    if cfg.seed is None:
        with open_dict(cfg):
            cfg.seed = random.SystemRandom().randrange(2**31)
        log.info("seed=null: drew seed %d", cfg.seed)
    return int(cfg.seed)


def _hydra_facts() -> dict[str, Any]:
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return {"overrides": [], "choices": {}}
    hydra_cfg = HydraConfig.get()
    return {
        "overrides": list(hydra_cfg.overrides.task),
        "choices": dict(hydra_cfg.runtime.choices),
    }


def _run_config(cfg: DictConfig) -> DictConfig:
    """The config without Hydra's own node, fully resolved."""
    run_keys = [key for key in cfg if key != "hydra"]
    return OmegaConf.create(
        OmegaConf.to_container(OmegaConf.masked_copy(cfg, run_keys), resolve=True)
    )


def train(cfg: DictConfig) -> float | None:
    """Train one run as configured; returns the value named by cfg.optimized_metric, if any."""
    check_config(cfg)
    seed = resolve_seed(cfg)
    run_dir = Path(cfg.paths.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    resolved = _run_config(cfg)
    (run_dir / "resolved_config.yaml").write_text(OmegaConf.to_yaml(resolved))

    hydra_facts = _hydra_facts()
    choices = hydra_facts["choices"]
    record = RunRecord(
        run_dir,
        {
            "model": choices.get("model"),
            "data": choices.get("data"),
            "net": choices.get("net"),
            "seed": seed,
            "overrides": hydra_facts["overrides"],
            "iterations": int(cfg.iterations),
            "run_dir": str(run_dir.resolve()),
        },
    )
    try:
        _fit(cfg, seed, record, OmegaConf.to_container(resolved))
    except BaseException as err:
        if not record.path.exists() or read_summary(run_dir)["status"] == "running":
            record.write("failed", 0, {}, error=f"{type(err).__name__}: {err}")
        raise

    summary = read_summary(run_dir)
    print(f"\nrun folder:  {run_dir}")
    print(f"summary:     {record.path}  (status: {summary['status']})")
    if summary.get("tensorboard_dir"):
        print(f"tensorboard: tensorboard --logdir {summary['tensorboard_dir']}")
    if cfg.optimized_metric is None:
        return None
    value = summary.get(cfg.optimized_metric)
    return float(value) if value is not None and math.isfinite(value) else None


def _fit(cfg: DictConfig, seed: int, record: RunRecord, hparams: dict[str, Any]) -> None:
    from genlab.callbacks.summary import RunSummary

    datamodule, model, trainer = build(cfg, seed, extra_callbacks=[RunSummary(record, hparams)])
    trainer.fit(model, datamodule=datamodule)


def build(cfg: DictConfig, seed: int, extra_callbacks: list[Any] | None = None) -> tuple[Any, ...]:
    """Seed, then instantiate (datamodule, model, trainer) from a checked config."""
    import lightning as L
    from hydra.utils import instantiate

    from genlab.callbacks.scalars import ScalarLogger

    L.seed_everything(seed, workers=True, verbose=False)
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()  # missing data sets stop the run here, before any model work
    model = instantiate(cfg.model, _convert_="all")
    datamodule.configure_loop(
        num_steps=int(cfg.iterations), batches_per_step=model.real_batches_per_iteration
    )
    callbacks = [ScalarLogger(int(cfg.log_every_n_iterations)), *(extra_callbacks or [])]
    callbacks += [instantiate(c) for c in (cfg.callbacks or {}).values() if c is not None]
    loggers = [instantiate(lg) for lg in (cfg.logger or {}).values() if lg is not None]
    trainer = instantiate(
        cfg.trainer,
        callbacks=callbacks,
        logger=loggers or False,
        max_steps=int(cfg.iterations) * model.optimizer_steps_per_iteration,
    )
    return datamodule, model, trainer


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Console entry point (genlab-train / python -m genlab.train)."""
    try:
        return train(cfg)
    except GenlabError as err:
        print(f"genlab-train: error: {err}", file=sys.stderr)
        log.debug("error details", exc_info=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
