"""OmegaConf resolvers genlab's configs use; registered when genlab.train is imported."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from genlab.loggers.run_logger import run_name


def register() -> None:
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
