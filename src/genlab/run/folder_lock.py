"""One writer per run folder: a process that trains, resumes or evaluates into a run folder
holds an exclusive OS lock (flock) on `<folder>/.genlab.lock` until it is done. The OS drops the
lock with the process, so a killed run never leaves it behind; the file only says who held it
last. A second process is refused before any work (FolderInUseError, exit 2; in a sweep rerun
the job is reported as running elsewhere and left alone). Reading a folder (genlab-compare)
takes no lock. Ranks other than 0 of a multi-process run take none either: their rank 0 holds
it. Where the OS has no flock (Windows) nothing is locked.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

from genlab.errors import GenlabError

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
