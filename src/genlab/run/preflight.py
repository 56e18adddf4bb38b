"""Checks Hydra runs before it creates any output folder: bad config, unwritable log folder, a
run folder another process is writing."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from genlab.errors import GenlabError
from genlab.run.config_checks import check_config
from genlab.run.folder_lock import FolderInUseError, FolderLock
from genlab.run.resume import prepare_resume


def writable_folder_problem(folder: str | Path) -> str | None:
    """Why `folder` cannot be created and written to, or None when it can."""
    path = Path(folder).absolute()
    ancestor = path
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return f"{ancestor} is a file, so {path} cannot be created"
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return f"{ancestor} is not writable, so {path} cannot be created"
    return None


def _stop(message: str) -> None:
    print(f"genlab-train: error: {message}", file=sys.stderr)
    sys.exit(2)


class PreflightChecks(Callback):
    """Hydra callback: refuse a run before its output folder exists, with one clear message."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        resume = config.get("resume")
        if resume is not None and not Path(resume).is_dir():
            _stop(f"resume={resume}: no such run folder; pass the folder of an earlier run")
        self._check(config, config.hydra.run.dir, resumed=resume is not None)
        holder = FolderLock.holder(config.hydra.run.dir)
        if holder is not None:  # before Hydra writes its record and log lines there
            _stop(str(FolderInUseError(Path(config.hydra.run.dir), holder, "train")))

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if config.get("resume") is not None:
            _stop("resume= continues one run; it cannot be combined with -m (multirun)")
        self._check(config, config.hydra.sweep.dir, values_only=True)

    def _check(
        self, config: DictConfig, output_dir: str, resumed: bool = False, values_only: bool = False
    ) -> None:
        problem = writable_folder_problem(output_dir)
        if problem:
            _stop(f"cannot write the run folder: {problem}; set paths.log_dir to a writable folder")
        try:
            if resumed:  # the config to check is the one the run recorded
                config = prepare_resume(config, list(config.hydra.overrides.task)).cfg
            check_config(config, values_only)
        except GenlabError as err:
            _stop(str(err))
