"""Shared test helpers: compose genlab's configs in-process, fast and offline."""

from __future__ import annotations

import multiprocessing.process
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

from genlab import CONF_DIR
from genlab.data.fake import (  # noqa: F401 - the tests' fake data sets, imported from here
    IMAGE_FOLDER_FORMATS,
    make_fake_cifar10,
    make_fake_mnist,
    make_image_folder,
)

TESTS_DIR = Path(__file__).resolve().parent

# make test runs the suite in pytest-xdist workers (-n auto): each worker, and every run it
# starts, gets its share of the cores instead of each asking torch for all of them
XDIST_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
if XDIST_WORKERS:
    WORKER_THREADS = max(1, len(os.sched_getaffinity(0)) // XDIST_WORKERS)
    os.environ["OMP_NUM_THREADS"] = str(WORKER_THREADS)
    torch.set_num_threads(WORKER_THREADS)

# Small nets and quiet trainers on the CPU (the suite is about the CPU paths, on a GPU machine
# too; scripts/gpu_check.py checks the GPU ones); each test adds what it checks.
FAST = [
    "trainer.accelerator=cpu",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "net.hidden=[32,32]",
    "net.discriminator_hidden=[32,32]",
]
FAST_CONV = [
    "trainer.accelerator=cpu",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "net.channels=8",
    "net.discriminator_channels=8",
]


FAST_RESNET = [
    *FAST_CONV[:3],
    "net.generator_widths=[8,8]",
    "net.discriminator_widths=[8,8]",
    "net.discriminator_downsamples=1",
]


def fast_overrides(overrides: list[str]) -> list[str]:
    """FAST, FAST_CONV or FAST_RESNET depending on the net the overrides select."""
    if "net=resnet" in overrides:
        return FAST_RESNET + overrides
    conv = any(
        o.startswith("data=") and o.split("=")[1] not in ("ring8", "grid25") for o in overrides
    )
    conv = conv and "net=mlp" not in overrides
    return (FAST_CONV if conv else FAST) + overrides


def build_fast(tmp_path: Path, *overrides: str) -> tuple[Any, Any, Any]:
    """(datamodule, model, trainer) of a fast in-process run in tmp_path without sample pictures
    or checkpoints, seed 0."""
    from genlab.run.build import build

    quiet = [f"paths.root_dir={tmp_path}", "~callbacks.samples", "~callbacks.checkpoint"]
    cfg = compose_config(tmp_path / "run", fast_overrides([*quiet, *overrides]))
    return build(cfg, seed=0)


def compose_config(run_dir: Path, overrides: list[str]) -> DictConfig:
    """The config genlab-train would run with these overrides, writing into run_dir."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(run_dir)
        cfg.hydra.job.num = 0
    HydraConfig.instance().set_config(cfg)
    return cfg


def write_hydra_record(cfg: DictConfig) -> None:
    """What Hydra writes into a run folder before the run starts: `.hydra/config.yaml` (the
    config without Hydra's node, interpolations kept) and `.hydra/overrides.yaml`, so that an
    in-process run (compose_config) can be resumed."""
    record = Path(cfg.hydra.runtime.output_dir) / ".hydra"
    record.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(
        OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]), record / "config.yaml"
    )
    OmegaConf.save(cfg.hydra.overrides.task, record / "overrides.yaml")


@pytest.fixture(autouse=True)
def _offline_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path_factory.mktemp("torch_home")
    monkeypatch.setenv("TORCH_HOME", str(home))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    # no test may reach the network: downloads fail at once, as they would offline
    import torch

    from genlab.data import torchvision_sets

    def no_network(*args: object, **kwargs: object) -> None:
        raise OSError("network access is disabled in tests")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    monkeypatch.setattr(torchvision_sets, "download", no_network)


# --- The two tiers: `make test` runs every test, `make test-fast` only the in-process ones ------
# (-m "not process and not slow"). A test that starts a process (genlab_train_cli, subprocess, a
# genlab-* command, python -m, a wheel build, DDP, multiprocessing, a wandb run's service) or sends
# a signal carries @pytest.mark.process. Without the mark, the test (or a fixture it sets up)
# fails at the process start or signal, in both tiers: none can sit in the fast tier unnoticed.

# Quick tools that libraries run in-process to inspect the machine: genlab's run record and
# GitPython (git), platform (uname), matplotlib's first font cache (fc-list),
# ctypes.util.find_library (ldconfig)
IN_PROCESS_TOOLS = frozenset({"git", "uname", "fc-list", "ldconfig"})
# the audit events of process starts and signals (see ProcessGuard.audit)
STARTS = ("subprocess.Popen", "os.posix_spawn")
SIGNALS = ("os.kill", "os.killpg", "signal.pthread_kill")
AUDITED = frozenset({*STARTS, *SIGNALS, "os.fork", "os.forkpty", "os.system"})


class ProcessGuard:
    """While a test without the process mark runs (`test`: its id), refuses process starts and
    signals; `refused` keeps the refusals a library caught, to fail the test all the same."""

    def __init__(self) -> None:
        self.test: str | None = None
        self.refused: list[str] = []

    def refuse(self, what: str) -> None:
        if self.test is None:
            return
        message = (
            f"this test starts a process or sends a signal: mark it @pytest.mark.process"
            f" ({self.test} {what}; see the two tiers in tests/conftest.py)"
        )
        self.refused.append(message)
        pytest.fail(message)

    def audit(self, event: str, args: tuple[Any, ...]) -> None:
        """sys.addaudithook's hook: the process starts and signals os and subprocess report."""
        if self.test is None or event not in AUDITED:
            return
        if event in STARTS:  # (executable, argv, ...)
            command = [os.fsdecode(a) for a in args[1]]
            if Path(os.fsdecode(args[0] or command[0])).name not in IN_PROCESS_TOOLS:
                self.refuse(f"runs {' '.join(command)[:300]!r}")
        elif event in SIGNALS:  # (process or thread, signal)
            if args[1] != 0:  # signal 0 only asks whether the process exists
                self.refuse(f"sends signal {args[1]} ({event})")
        else:
            self.refuse(f"starts a process ({event})")


GUARD = ProcessGuard()


def pytest_configure(config: pytest.Config) -> None:
    # what no audit event reports: multiprocessing's spawn and forkserver starts (DDP spawn,
    # loky's workers), and signal.raise_signal
    start, raise_signal = multiprocessing.process.BaseProcess.start, signal.raise_signal

    def guarded_start(self: multiprocessing.process.BaseProcess) -> None:
        GUARD.refuse(f"starts a {type(self).__name__}")
        start(self)

    def guarded_raise_signal(signalnum: int) -> None:
        GUARD.refuse(f"raises signal {signalnum}")
        raise_signal(signalnum)

    multiprocessing.process.BaseProcess.start = guarded_start  # type: ignore[method-assign]
    signal.raise_signal = guarded_raise_signal
    sys.addaudithook(GUARD.audit)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator:
    """The guard is on through the test's setup (fixtures of any scope), call and teardown."""
    GUARD.test = None if item.get_closest_marker("process") else item.nodeid
    try:
        return (yield)
    finally:
        GUARD.test = None
        GUARD.refused.clear()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Generator:
    report = yield
    refused = GUARD.refused.copy()
    GUARD.refused.clear()
    if refused and report.passed:  # a library caught the refusal: the test fails all the same
        report.outcome = "failed"
        report.longrepr = "\n".join(refused)
    return report


@pytest.fixture(scope="session")
def evaluator_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache of trained domain evaluators and real statistics for the whole session, shared
    by pytest-xdist's workers (each worker's base folder sits in the session's; every cache write
    is atomic, so two workers that miss the same entry both compute it and either file stands)."""
    base = tmp_path_factory.getbasetemp()
    cache = (base.parent if XDIST_WORKERS else base) / "genlab_cache"
    cache.mkdir(exist_ok=True)
    return cache


@pytest.fixture
def run_train(tmp_path: Path, evaluator_cache: Path) -> Callable[..., dict[str, Any]]:
    """Train in-process with fast settings and the session's evaluator cache; returns the run's
    summary.json as a dict."""
    from genlab.run.folder import read_summary

    def _run(*overrides: str, run_dir: Path | None = None) -> dict[str, Any]:
        run_dir = run_dir or tmp_path / "run"
        train_recorded(run_dir, [f"paths.cache_dir={evaluator_cache}", *overrides], tmp_path)
        return read_summary(run_dir)

    return _run


def train_recorded(run_dir: Path, overrides: list[str], root_dir: Path) -> Path:
    """Train in-process with fast settings into run_dir, which holds the record genlab-train
    writes (so genlab-sample, genlab-eval and resume read it); returns the run's last.ckpt."""
    from genlab.run.folder import last_checkpoint
    from genlab.train import train

    cfg = compose_config(run_dir, fast_overrides([f"paths.root_dir={root_dir}", *overrides]))
    write_hydra_record(cfg)
    train(cfg)
    return last_checkpoint(cfg)


def genlab_env(tmp_path: Path) -> dict[str, str]:
    """Environment for subprocess runs: offline caches in tmp_path, no visible GPU (subprocess
    tests check CPU behaviour, such as the message for trainer.accelerator=gpu without one)."""
    env = dict(os.environ)
    env["CUDA_VISIBLE_DEVICES"] = ""
    env["TORCH_HOME"] = str(tmp_path / "torch_home")
    env["MPLBACKEND"] = "Agg"
    # test helpers that runs load as plug-ins (tests/interrupt.py)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS_DIR), env.get("PYTHONPATH")]))
    return env


def genlab_train_cli(
    tmp_path: Path, *args: str, root_dir: bool = True, timeout: int = 600
) -> subprocess.CompletedProcess[str]:
    """`python -m genlab.train` in tmp_path, offline (genlab_env): Hydra's flags (-m, ...) first,
    then paths.root_dir=tmp_path (unless root_dir=False), then the overrides."""
    flags = [a for a in args if a.startswith("-")]
    overrides = [a for a in args if not a.startswith("-")]
    paths = [f"paths.root_dir={tmp_path}"] if root_dir else []
    return subprocess.run(
        [sys.executable, "-m", "genlab.train", *flags, *paths, *overrides],
        capture_output=True,
        text=True,
        env=genlab_env(tmp_path),
        cwd=tmp_path,
        timeout=timeout,
    )


def interrupt(tmp_path: Path, job: int, signal_name: str, iteration: int = 25) -> list[str]:
    """Overrides adding tests/interrupt.py's callback: `signal_name` once, in job `job`."""
    node = "+callbacks.interrupt"
    return [
        f"{node}._target_=interrupt.SignalAtIteration",
        f"{node}.job={job}",
        f"{node}.iteration={iteration}",
        f"{node}.marker={tmp_path / 'interrupted'}",
        f"{node}.signal_name={signal_name}",
    ]


def final_values(summary: dict[str, Any]) -> dict[str, float]:
    """The run's final logged values, but for the time its metrics took."""
    return {
        k: v
        for k, v in summary.items()
        if k.startswith(("metrics/", "train/")) and k != "metrics/seconds"
    }


def assert_triples_of(
    items: torch.Tensor, modes: torch.Tensor, digits: torch.Tensor, labels: torch.Tensor
) -> None:
    """Each stacked item's channels are digits of the single-digit set whose labels spell its
    mode (hundreds, tens, units)."""
    flat = digits.flatten(1)
    for item, mode in zip(items, modes, strict=True):
        expected = [int(mode) // 100, int(mode) // 10 % 10, int(mode) % 10]
        for channel, digit in enumerate(expected):
            matches = (flat == item[channel].flatten()).all(dim=1).nonzero().flatten()
            assert len(matches) >= 1 and digit in labels[matches].tolist()
