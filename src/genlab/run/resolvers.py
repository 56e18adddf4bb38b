"""OmegaConf resolvers genlab's configs use; registered when genlab.train is imported."""

from __future__ import annotations

from typing import Any

from omegaconf import OmegaConf


def register() -> None:
    """Register genlab's resolvers (idempotent)."""
    # first non-null of two values: `${genlab_coalesce:${resume},<fresh run folder>}`
    OmegaConf.register_new_resolver(
        "genlab_coalesce",
        lambda value, fallback: fallback if value is None else value,
        replace=True,
    )
    OmegaConf.register_new_resolver("genlab_resume_subdir", _resume_subdir, replace=True)
    # a sweep job's INFO lines go to its log file; the console gets one line per job
    OmegaConf.register_new_resolver(
        "genlab_console_level",
        lambda mode: "WARNING" if "MULTIRUN" in str(mode) else "INFO",
        replace=True,
    )


def _resume_subdir(resume: Any, stamp: str) -> str:
    return ".hydra" if resume is None else f".hydra/resume_{stamp}"
