"""A run folder: its layout (summary.json, the recorded and resolved configs, the checkpoint it
continues from, where its config puts it), its record, and its one writer.

summary.json is one flat record per run that genlab-compare and sweepers read.

One writer per run folder: a process that trains, resumes or evaluates into a run folder
holds an exclusive OS lock (flock) on `<folder>/.genlab.lock` until it is done. The OS drops the
lock with the process, so a killed run never leaves it behind; the file only says who held it
last. A second process is refused before any work (FolderInUseError, exit 2; in a sweep rerun
the job is reported as running elsewhere and left alone). Reading a folder (genlab-compare)
takes no lock. Ranks other than 0 of a multi-process run take none either: their rank 0 holds
it. Where the OS has no flock (Windows) nothing is locked.
"""

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

from omegaconf import DictConfig, OmegaConf, open_dict

from genlab import CONF_DIR
from genlab.errors import GenlabError
from genlab.run.config import config_hash

if TYPE_CHECKING:
    from genlab.run.process import HydraJob
    from genlab.run.rerun import Resume

SUMMARY_FILE = "summary.json"
RECORDED_CONFIG = Path(".hydra") / "config.yaml"  # as Hydra composed it, interpolations kept
RESOLVED_CONFIG = "resolved_config.yaml"  # what ran (config.run_config)
STATUSES = ("running", "completed", "failed", "diverged", "interrupted")
VERSIONED = ("torch", "lightning", "hydra-core", "torchmetrics", "genlab")


def last_checkpoint(cfg: DictConfig, run_dir: Path | None = None) -> Path:
    """The checkpoint a run writes last and continues from: `last.ckpt` in the config's
    `callbacks.checkpoint.dirpath`, with `paths.output_dir` at `run_dir` when given. A run
    without that callback (callbacks=none) saves its stop checkpoint where the shipped callback
    would (conf/callbacks/default.yaml)."""
    from genlab.callbacks.checkpoint import IterationCheckpoint

    probe = cfg.copy()
    with open_dict(probe):
        if OmegaConf.select(probe, "callbacks.checkpoint") is None:
            shipped = OmegaConf.load(CONF_DIR / "callbacks" / "default.yaml").checkpoint
            OmegaConf.update(probe, "callbacks.checkpoint", shipped, force_add=True)
        if run_dir is not None:
            probe.paths.output_dir = str(run_dir)
    return Path(probe.callbacks.checkpoint.dirpath) / IterationCheckpoint.LAST


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


LOCK_FILE = ".genlab.lock"
# set for the other ranks of a multi-process run by torchrun, Lightning's launchers and srun
RANK_VARIABLES = ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID")


class FolderInUseError(GenlabError):
    """Another live process holds the run folder's lock."""

    def __init__(self, run_dir: Path, holder: str, doing: str) -> None:
        self.run_dir = run_dir
        self.holder = holder
        stop = f" (kill -INT {self.pid} stops it with a checkpoint)" if self.pid else ""
        super().__init__(
            f"run folder {run_dir} is in use by {holder or 'another process'}: one process at a"
            f" time writes a run folder, so this one does not {doing} there. Wait for it to end,"
            f" or stop it{stop}, then run this again"
        )

    @property
    def pid(self) -> int | None:
        parts = self.holder.split()
        return (
            int(parts[1]) if len(parts) > 1 and parts[0] == "pid" and parts[1].isdigit() else None
        )


def _secondary_rank() -> bool:
    return any(os.environ.get(name, "0") not in ("", "0") for name in RANK_VARIABLES)


class FolderLock:
    """The held lock of one run folder (`acquire`), until `release` or the process ends."""

    def __init__(self, run_dir: Path, fd: int | None) -> None:
        self.run_dir = run_dir
        self._fd = fd

    @classmethod
    def acquire(cls, run_dir: str | Path, doing: str = "train") -> FolderLock:
        """Lock `run_dir` (created if missing) or raise FolderInUseError naming the holder."""
        run_dir = Path(run_dir)
        try:
            import fcntl
        except ImportError:
            return cls(run_dir, None)
        if _secondary_rank():
            return cls(run_dir, None)
        run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode(errors="replace").strip()
            os.close(fd)
            raise FolderInUseError(run_dir, holder, doing) from None
        command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:300]
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}: {command}\n".encode(), 0)
        return cls(run_dir, fd)

    @staticmethod
    def holder(run_dir: str | Path) -> str | None:
        """Who holds `run_dir`'s lock now (None: nobody), without taking it."""
        path = Path(run_dir) / LOCK_FILE
        try:
            import fcntl
        except ImportError:
            return None
        if _secondary_rank() or not path.is_file():
            return None
        fd = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return os.pread(fd, 4096, 0).decode(errors="replace").strip() or "another process"
        finally:
            os.close(fd)
        return None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the lock; the file stays (no unlink race)
            self._fd = None
