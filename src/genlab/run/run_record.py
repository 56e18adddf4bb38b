"""summary.json: one flat record per run that genlab-compare and sweepers read."""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import time
import traceback
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genlab.run.config_identity import config_hash

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from genlab.run.hydra_job import HydraJob
    from genlab.run.resume import Resume

SUMMARY_FILE = "summary.json"
STATUSES = ("running", "completed", "failed", "diverged", "interrupted")
VERSIONED = ("torch", "lightning", "hydra-core", "torchmetrics", "genlab")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def git_state(folder: Path) -> dict[str, Any]:
    """The commit of the git checkout holding `folder` and whether its tree is dirty."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(folder), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()

    try:
        return {
            "git_commit": git("rev-parse", "HEAD"),
            "git_dirty": bool(git("status", "--porcelain")),
        }
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": None, "git_dirty": None}


def environment_facts(code_dir: Path) -> dict[str, Any]:
    """Where and with what a run ran: commit, versions, host, command line."""
    facts: dict[str, Any] = git_state(code_dir)
    facts["python_version"] = platform.python_version()
    for package in VERSIONED:
        try:
            facts[f"{package.split('-')[0]}_version"] = metadata.version(package)
        except metadata.PackageNotFoundError:
            facts[f"{package.split('-')[0]}_version"] = None
    facts["host"] = socket.gethostname()
    facts["command"] = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])
    return facts


class RunRecord:
    """The static facts of a run, plus writing its summary as the run progresses.

    `prior_wall_seconds` carries the time a resumed run spent before this process; `last` is
    the summary written last (what the run returns to a sweeper, without reading it back).
    """

    def __init__(
        self, run_dir: str | Path, facts: dict[str, Any], prior_wall_seconds: float = 0.0
    ) -> None:
        self.run_dir = Path(run_dir)
        self.facts = dict(facts)
        self.started = time.time()
        self.prior_wall_seconds = prior_wall_seconds
        self.last: dict[str, Any] | None = None

    @property
    def path(self) -> Path:
        return self.run_dir / SUMMARY_FILE

    @staticmethod
    def failure_fields(err: BaseException) -> dict[str, str]:
        """What summary.json says about an exception: one line and the whole traceback."""
        return {
            "error": f"{type(err).__name__}: {err}",
            "traceback": "".join(traceback.format_exception(err)),
        }

    def write(
        self, status: str, iterations_done: int, values: dict[str, float], **extra: Any
    ) -> dict[str, Any]:
        """Write summary.json atomically; keys: status, facts, progress, then final values."""
        if status not in STATUSES:
            raise ValueError(f"unknown run status {status!r}")
        summary: dict[str, Any] = {
            "status": status,
            **self.facts,
            "iterations_done": iterations_done,
            "wall_seconds": round(self.prior_wall_seconds + time.time() - self.started, 3),
            "updated_at": now_iso(),
            "ended_at": None if status == "running" else now_iso(),
            **extra,
            **values,
        }
        self.run_dir.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".json.partial")
        partial.write_text(json.dumps(summary, indent=2, default=str) + "\n")
        os.replace(partial, self.path)
        self.last = summary
        return summary


def start_facts(
    choices: dict[str, str],
    overrides: list[str],
    seed: int,
    previous: dict[str, Any] | None = None,
    resumed_from: int | None = None,
) -> dict[str, Any]:
    """What a run's record says about how it began: for a new run, its groups, seed and
    overrides; for a continued one (`previous`: its summary so far), those of its first start
    plus this resumption (from the checkpoint of iteration `resumed_from`)."""
    if previous is None:
        return {
            "model": choices.get("model"),
            "data": choices.get("data"),
            "net": choices.get("net"),
            "seed": seed,
            "overrides": overrides,
            "started_at": now_iso(),
            "resumed_at": [],
        }
    keep = ("model", "data", "net", "seed", "overrides", "started_at", "resumed_at")
    facts = {key: previous.get(key) for key in keep}
    resumed = {"iteration": resumed_from, "time": now_iso()}
    facts["resumed_at"] = [*(facts["resumed_at"] or []), resumed]
    return facts


def read_summary(run_dir: str | Path) -> dict[str, Any]:
    """The summary.json of a run folder."""
    return json.loads((Path(run_dir) / SUMMARY_FILE).read_text())


def start_record(
    cfg: DictConfig,
    seed: int,
    job: HydraJob,
    resume: Resume | None,
    num_threads: int | None,
    code_dir: Path,
) -> RunRecord:
    """The record of a run about to train (or continue, with `resume`): how it began, what it
    runs (`config_hash`) and where, with what code (`code_dir`'s git state) and versions."""
    previous = resume.previous if resume else None
    facts = start_facts(
        job.choices, job.overrides, seed, previous, resume.iteration if resume else None
    )
    facts.update(
        iterations=int(cfg.iterations),
        num_threads=num_threads,
        run_dir=str(Path(cfg.paths.output_dir).resolve()),
        config_hash=config_hash(cfg),
        **environment_facts(code_dir),
    )
    prior_seconds = float(previous.get("wall_seconds", 0.0)) if previous else 0.0
    return RunRecord(cfg.paths.output_dir, facts, prior_wall_seconds=prior_seconds)
