"""What genlab's callbacks hand a logger besides scalars: pictures, the chosen settings, the end."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# The file in a run folder that names the logger run a resumed genlab run continues.
RUN_ID_FILE = "{name}_run_id"


class RunLogger:
    """Mixed into a Lightning logger class: genlab's SampleLogger and RunSummary call these on
    rank 0 (TensorBoard keeps its own paths). build.instantiate_loggers passes `purge_step`
    (None for a new run folder, 0 for a restart in a used one, the first iteration to log again
    for a resumed run) and `multirun` (the run is a sweep's job)."""

    def log_picture(self, tag: str, png: bytes, step: int) -> None:
        """One sample picture (PNG bytes) at an iteration."""
        raise NotImplementedError

    def log_run_start(self, settings: dict[str, Any], config: dict[str, Any]) -> None:
        """The chosen settings (genlab.run.config) and the whole resolved config."""
        raise NotImplementedError

    def log_run_end(self, status: str, summary_path: Path) -> None:
        """The run's status (completed / diverged / failed / interrupted) and its summary.json."""
        raise NotImplementedError

    def record_fields(self) -> dict[str, Any]:
        """What summary.json says about where this logger wrote (printed by the closing report)."""
        raise NotImplementedError


def recorded_run_id(run_dir: str | Path, name: str, purge_step: int | None) -> str | None:
    """The logger run to continue: the id recorded in the run folder when this is a resumed run
    (purge_step > 0), else None (a new logger run)."""
    path = Path(run_dir) / RUN_ID_FILE.format(name=name)
    if not purge_step or not path.is_file():
        return None
    return path.read_text().strip() or None


def record_run_id(run_dir: str | Path, name: str, run_id: str) -> None:
    """Keep the logger run's id in the run folder, for a later resume."""
    path = Path(run_dir) / RUN_ID_FILE.format(name=name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(run_id + "\n")


def run_label(run_dir: str | Path, log_dir: str) -> str:
    """The run folder relative to paths.log_dir (e.g. multirun/2026-12-02_10-00-00/3)."""
    try:
        return str(Path(run_dir).absolute().relative_to(Path(log_dir).absolute()))
    except ValueError:
        return str(run_dir)


# Overrides that say where a run writes and logs, how loudly, in which process or how fast,
# never what it trains or measures: left out of its logger run name (run_name). A key is left
# out when it is one of these or lies under one (`paths.root_dir`, `hydra/launcher`).
NOT_IN_RUN_NAME = (
    "paths",
    "hydra",
    "logger",
    "resume",
    "sweep_retry_failed",
    "preemption_signal",
    "num_threads",
    "iterations_per_batch",
    "trainer.enable_progress_bar",
    "trainer.enable_model_summary",
    "callbacks.progress_bar",
)
# Where Hydra records a run's own command-line overrides (kept as they were by a resume).
RECORDED_OVERRIDES = Path(".hydra") / "overrides.yaml"


def _in_run_name(override: str) -> bool:
    key = override.split("=", 1)[0].lstrip("+~")
    return not any(key == k or key.startswith((f"{k}.", f"{k}/")) for k in NOT_IN_RUN_NAME)


def run_name(overrides: Sequence[str], resume: str | None, run_dir: str, log_dir: str) -> str:
    """What the run is, as its MLflow / W&B run name (the resolver genlab_run_name): its
    command-line overrides less NOT_IN_RUN_NAME, joined by spaces (`fix=lsgan seed=1`), or for
    a run without any its folder (run_label). A resumed run keeps the name it started with: the
    overrides its folder recorded."""
    if resume is not None:
        from omegaconf import OmegaConf

        recorded = Path(resume) / RECORDED_OVERRIDES
        overrides = list(OmegaConf.load(recorded)) if recorded.is_file() else []
    kept = [str(o) for o in overrides if _in_run_name(str(o))]
    return " ".join(kept) or run_label(run_dir, log_dir)


def route_to_run_log(name: str) -> None:
    """A library logger that brought its own console handler (mlflow does) hands its records to
    Hydra's handlers instead: each once, INFO in the run's log file only."""
    logger = logging.getLogger(name)
    for handler in list(logger.handlers):
        if type(handler) is logging.StreamHandler:
            logger.removeHandler(handler)
    logger.propagate = True
