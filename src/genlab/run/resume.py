"""resume=<run folder>: the run's own config, its last checkpoint, and the overrides allowed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from genlab.errors import ConfigError
from genlab.run.recorded_config import RECORDED_CONFIG, recorded_config
from genlab.run.run_record import SUMMARY_FILE, read_summary

LAST_CHECKPOINT = Path("checkpoints") / "last.ckpt"  # in a run folder: what resuming continues

# Overrides a resume may carry: they change how long or how loudly, not what is trained.
SAFE_KEYS = (
    "iterations",
    "iterations_per_batch",
    "trainer.enable_progress_bar",
    "callbacks.progress_bar.refresh_rate",
)


@dataclass(frozen=True)
class Resume:
    """What a resumed run needs: its config, checkpoint, and the record so far."""

    cfg: DictConfig
    checkpoint: Path
    iteration: int
    previous: dict[str, Any]


def _override_key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


class BrokenCheckpointError(ConfigError):
    """A checkpoint to continue from is truncated or not a genlab checkpoint."""


def load_checkpoint_iteration(path: Path) -> int:
    """The iteration stored in a genlab checkpoint, read with weights_only loading."""
    import torch

    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        return int(checkpoint["genlab"]["iteration"])
    except Exception as err:
        reason = f"{type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}"
        raise BrokenCheckpointError(
            f"checkpoint {path} cannot be read ({reason}): it is truncated or not a genlab"
            " checkpoint, so nothing continues from it. Either start over (a new run, or move"
            f" the folder {path.parent.parent} away before rerunning its sweep), or move the"
            f" file away (mv {path} {path}.broken): a rerun of its sweep then trains that job"
            " again from iteration 0 in its folder"
        ) from err


def prepare_resume(cfg: DictConfig, overrides: list[str]) -> Resume:
    """The config to continue `cfg.resume` with, after checking the folder and the overrides."""
    run_dir = Path(cfg.resume)
    checkpoint = run_dir / LAST_CHECKPOINT
    for needed in (run_dir / RECORDED_CONFIG, run_dir / SUMMARY_FILE, checkpoint):
        if not needed.is_file():
            raise ConfigError(
                f"resume={cfg.resume}: {needed} does not exist; resume takes the folder of a run"
                " that saved a checkpoint (logs/runs/<date>_<time>)"
            )
    refused = [
        o for o in overrides if _override_key(o) != "resume" and _override_key(o) not in SAFE_KEYS
    ]
    if refused:
        raise ConfigError(
            f"resume continues a run with its own config; refused overrides: {', '.join(refused)}."
            f" Allowed: {', '.join(k + '=...' for k in SAFE_KEYS)} (e.g. iterations=N for more)"
        )
    previous = read_summary(run_dir)
    run_cfg = recorded_config(run_dir)  # with switches gained since, and the seed it ran with
    with open_dict(run_cfg):
        run_cfg.resume = str(cfg.resume)
        for override in overrides:
            key = _override_key(override)
            if key in SAFE_KEYS:
                OmegaConf.update(run_cfg, key, OmegaConf.select(cfg, key), force_add=True)
    iteration = load_checkpoint_iteration(checkpoint)
    if iteration >= run_cfg.iterations:
        raise ConfigError(
            f"resume={cfg.resume}: the checkpoint is at iteration {iteration} and the run is"
            f" set to iterations={run_cfg.iterations}; pass iterations=N with N > {iteration}"
            " to train longer"
        )
    return Resume(run_cfg, checkpoint, iteration, previous)
