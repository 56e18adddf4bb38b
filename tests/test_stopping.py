"""A run or sweep stops when told and a run folder has one writer: SIGINT / SIGTERM end every job
with a checkpoint and leave no process behind, the same command continues bit-exactly; a second
process on a folder in use is refused; a failed checkpoint write and a broken checkpoint get
clear errors and lose nothing."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import FAST, compose_config, final_values, genlab_env, genlab_train_cli
from genlab.run.folder import read_summary
from genlab.run.rerun import load_checkpoint_iteration
from genlab.train import train

# genlab-train subprocesses, stopped by signals (make test, not test-fast)
pytestmark = pytest.mark.process

# batches end every 5 iterations, checkpoints every 10: a run held at 15 is stopped there
STOPPABLE = [
    "iterations=40",
    "log_every_n_iterations=5",
    "callbacks.checkpoint.every_n_iterations=10",
    "callbacks.samples.every_n_iterations=1000",
    "metrics.every_n_iterations=20",
    "num_threads=1",  # the same arithmetic whichever launcher runs a job
    *FAST,
]
CHECKPOINT = Path("checkpoints") / "last.ckpt"
needs_proc = pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process tree")


def wait_at(tmp_path: Path, iteration: int = 15, **options: Any) -> list[str]:
    """Overrides adding tests/interrupt.py's WaitAtIteration (markers tmp_path/waiting.<job>)."""
    node = "+callbacks.wait"
    overrides = [
        f"{node}._target_=interrupt.WaitAtIteration",
        f"{node}.iteration={iteration}",
        f"{node}.marker={tmp_path / 'waiting'}",
    ]
    return overrides + [f"{node}.{key}={value}" for key, value in options.items()]


def start(tmp_path: Path, *args: str, new_session: bool = False) -> subprocess.Popen[str]:
    flags = [a for a in args if a.startswith("-")]
    overrides = [a for a in args if not a.startswith("-")]
    return subprocess.Popen(
        [sys.executable, "-m", "genlab.train", *flags, f"paths.root_dir={tmp_path}", *overrides],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=genlab_env(tmp_path),
        cwd=tmp_path,
        start_new_session=new_session,
        # SIGINT as at a terminal, also when pytest itself runs in the background (`make test &`
        # starts it with SIGINT ignored, which a child would inherit)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def wait_for(paths: list[Path], process: subprocess.Popen[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not all(p.exists() for p in paths):
        if process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"exited {process.returncode} before {paths}:\n{err[-3000:]}")
        assert time.monotonic() < deadline, f"timed out waiting for {paths}"
        time.sleep(0.05)


def descendants(pid: int) -> set[int]:
    """Every process below `pid` in the process tree, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def none_alive(pids: set[int], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while any(alive(p) for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def resume(run: Path) -> None:
    """`genlab-train resume=<run>` in this process (the command-line resume: test_robustness)."""
    train(compose_config(run, [f"resume={run}"]))


def continue_command(stderr: str) -> list[str]:
    """The arguments of the `continue it with: genlab-train ...` line."""
    match = re.search(r"continue it with: genlab-train (.*)", stderr)
    assert match, stderr[-3000:]
    return shlex.split(match.group(1))


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[int, dict[str, float]]:
    """Final values of seeds 0-3 trained without interruption (one sweep, basic launcher)."""
    root = tmp_path_factory.mktemp("reference")
    result = genlab_train_cli(root, "-m", "seed=0,1,2,3", *STOPPABLE, "hydra.sweep.dir=sweep")
    assert result.returncode == 0, result.stderr[-3000:]
    return {seed: final_values(read_summary(root / "sweep" / str(seed))) for seed in range(4)}


@needs_proc
@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_a_stop_signal_ends_a_run_with_its_checkpoint_and_resume_continues_it(
    tmp_path: Path, signame: str, reference: dict[int, dict[str, float]]
) -> None:
    run = tmp_path / "run"
    process = start(tmp_path, "seed=0", *STOPPABLE, *wait_at(tmp_path), f"hydra.run.dir={run}")
    wait_for([tmp_path / "waiting.0"], process)
    tree = descendants(process.pid)
    process.send_signal(signal.Signals[signame])
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.Signals[signame], stderr[-3000:]
    assert f"stopped on {signame} at iteration 15, checkpoint saved" in stderr
    assert f"continue it with: genlab-train resume={run}" in stderr
    assert "Traceback" not in stderr
    assert none_alive(tree)
    summary = read_summary(run)
    assert summary["status"] == "interrupted" and summary["interrupted_at_iteration"] == 15
    assert summary["stop_signal"] == signame
    assert load_checkpoint_iteration(run / CHECKPOINT) == 15

    resume(run)
    summary = read_summary(run)
    assert summary["status"] == "completed" and summary["resumed_at"][0]["iteration"] == 15
    assert final_values(summary) == reference[0]


@needs_proc
def test_a_second_signal_stops_at_once_and_the_last_checkpoint_continues(
    tmp_path: Path, reference: dict[int, dict[str, float]]
) -> None:
    run = tmp_path / "run"
    held = wait_at(tmp_path, hold="true")  # still busy when the second Ctrl-C comes
    process = start(tmp_path, "seed=0", *STOPPABLE, *held, f"hydra.run.dir={run}")
    wait_for([tmp_path / "waiting.0"], process)
    process.send_signal(signal.SIGINT)
    time.sleep(0.5)
    assert process.poll() is None  # the first one waits for the end of the batch
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr[-3000:]
    assert "stopped on SIGINT at once" in stderr and "Traceback" not in stderr
    summary = read_summary(run)
    assert summary["status"] == "interrupted" and summary["interrupted_at_iteration"] is None
    assert load_checkpoint_iteration(run / CHECKPOINT) == 10  # the last one saved: valid

    resume(run)
    assert final_values(read_summary(run)) == reference[0]


@needs_proc
@pytest.mark.slow
@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_a_stopped_parallel_sweep_ends_its_workers_and_the_same_command_continues_it(
    tmp_path: Path, signame: str, reference: dict[int, dict[str, float]]
) -> None:
    sweep = tmp_path / "sweep"
    go = tmp_path / "go"  # the rerun's new jobs do not wait
    command = ["-m", "hydra/launcher=parallel", "seed=0,1,2,3", *STOPPABLE]
    command += wait_at(tmp_path, release=go)
    # SIGINT as a terminal's Ctrl-C sends it (to the whole process group), SIGTERM as `kill`
    process = start(tmp_path, *command, f"hydra.sweep.dir={sweep}", new_session=True)
    wait_for([tmp_path / "waiting.0", tmp_path / "waiting.1"], process)
    tree = descendants(process.pid)
    assert len(tree) >= 2  # the two workers
    signum = signal.Signals[signame]
    if signum is signal.SIGINT:
        os.killpg(process.pid, signum)
    else:
        process.send_signal(signum)
    _, stderr = process.communicate(timeout=90)
    assert process.returncode == 128 + signum, stderr[-3000:]
    assert none_alive(tree), "a worker outlived its sweep"
    assert f"sweep stopped on {signame}: 2 job(s) stopped, 2 not started" in stderr
    for job in (0, 1):
        assert re.search(rf"job {job} \[.*\] at iteration 15, checkpoint saved", stderr)
        summary = read_summary(sweep / str(job))
        assert summary["status"] == "interrupted" and summary["interrupted_at_iteration"] == 15
        assert load_checkpoint_iteration(sweep / str(job) / CHECKPOINT) == 15
    assert not (sweep / "2" / "summary.json").exists() and not (sweep / "3").exists()
    command = continue_command(stderr)
    if signum is signal.SIGINT:
        return  # the folders are as SIGTERM leaves them (above): its case runs the continuation

    go.touch()
    rerun = genlab_train_cli(tmp_path, *command, root_dir=False)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    for seed in range(4):
        summary = read_summary(sweep / str(seed))
        assert summary["status"] == "completed"
        assert final_values(summary) == reference[seed]


@needs_proc
@pytest.mark.slow
def test_a_stopped_members_sweep_saves_every_member_and_continues_bit_exactly(
    tmp_path: Path,
) -> None:
    members = ["-m", "hydra/launcher=members", "hydra.launcher.n_jobs=1", "seed=0,1", *STOPPABLE]
    whole = genlab_train_cli(tmp_path, *members, "hydra.sweep.dir=whole")
    assert whole.returncode == 0, whole.stderr[-3000:]
    sweep = tmp_path / "sweep"
    process = start(tmp_path, *members, *wait_at(tmp_path), f"hydra.sweep.dir={sweep}")
    wait_for([tmp_path / "waiting.0"], process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr[-3000:]
    assert "sweep stopped on SIGTERM: 2 job(s) stopped, 0 not started" in stderr
    for job in (0, 1):
        summary = read_summary(sweep / str(job))
        assert summary["status"] == "interrupted" and summary["interrupted_at_iteration"] == 15
        assert load_checkpoint_iteration(sweep / str(job) / CHECKPOINT) == 15

    rerun = genlab_train_cli(tmp_path, *continue_command(stderr), root_dir=False)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    for job in (0, 1):
        summary = read_summary(sweep / str(job))
        assert summary["status"] == "completed"
        assert final_values(summary) == final_values(read_summary(tmp_path / "whole" / str(job)))


@needs_proc
def test_a_second_process_on_a_folder_in_use_is_refused_before_any_work(
    tmp_path: Path, reference: dict[int, dict[str, float]]
) -> None:
    run = tmp_path / "run"
    go = tmp_path / "go"
    first = start(
        tmp_path, "seed=0", *STOPPABLE, *wait_at(tmp_path, release=go), f"hydra.run.dir={run}"
    )
    wait_for([tmp_path / "waiting.0"], first)
    files = sorted(p.name for p in run.rglob("*"))
    second = genlab_train_cli(tmp_path, "seed=0", *STOPPABLE, f"hydra.run.dir={run}")
    assert second.returncode == 2, second.stderr[-3000:]
    assert f"run folder {run} is in use by pid {first.pid}" in second.stderr
    assert "Traceback" not in second.stderr
    evaluation = subprocess.run(
        [sys.executable, "-m", "genlab.evaluate", f"ckpt_path={run / CHECKPOINT}"],
        capture_output=True,
        text=True,
        env=genlab_env(tmp_path),
        cwd=tmp_path,
    )
    assert evaluation.returncode == 2 and f"in use by pid {first.pid}" in evaluation.stderr
    assert sorted(p.name for p in run.rglob("*")) == files  # neither wrote anything there

    go.touch()
    _, stderr = first.communicate(timeout=60)
    assert first.returncode == 0, stderr[-3000:]
    assert final_values(read_summary(run)) == reference[0]
    after = subprocess.run(  # the lock went with the process
        [sys.executable, "-m", "genlab.evaluate", f"ckpt_path={run / CHECKPOINT}"],
        capture_output=True,
        text=True,
        env=genlab_env(tmp_path),
        cwd=tmp_path,
    )
    assert after.returncode == 0, after.stderr[-3000:]


@needs_proc
def test_a_sweep_rerun_leaves_a_job_running_elsewhere_alone(tmp_path: Path) -> None:
    go = tmp_path / "go"
    command = ["-m", "seed=0", *STOPPABLE, "hydra.sweep.dir=sweep"]
    first = start(tmp_path, *command, *wait_at(tmp_path, release=go))
    wait_for([tmp_path / "waiting.0"], first)
    rerun = genlab_train_cli(tmp_path, *command, *wait_at(tmp_path, release=go))
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"running elsewhere: pid {first.pid}" in rerun.stdout
    assert read_summary(tmp_path / "sweep" / "0")["status"] == "running"
    go.touch()
    _, stderr = first.communicate(timeout=60)
    assert first.returncode == 0, stderr[-3000:]
    assert read_summary(tmp_path / "sweep" / "0")["status"] == "completed"


def test_a_failed_checkpoint_write_fails_the_run_and_keeps_the_last_checkpoint(
    tmp_path: Path, reference: dict[int, dict[str, float]]
) -> None:
    run = tmp_path / "run"
    disk_full = ["+callbacks.disk._target_=interrupt.DiskFullAtSave", "+callbacks.disk.save=2"]
    disk_full.append(f"+callbacks.disk.marker={tmp_path / 'disk_full'}")
    failed = genlab_train_cli(tmp_path, "seed=0", *STOPPABLE, *disk_full, f"hydra.run.dir={run}")
    assert failed.returncode == 2, failed.stderr[-3000:]
    assert f"could not write the checkpoint {run / CHECKPOINT}" in failed.stderr
    assert "No space left on device" in failed.stderr and "Traceback" not in failed.stderr
    summary = read_summary(run)
    assert summary["status"] == "failed" and str(run / CHECKPOINT) in summary["error"]
    assert load_checkpoint_iteration(run / CHECKPOINT) == 10  # the previous one, intact
    assert not (run / "checkpoints" / "last.ckpt.partial").exists()

    resume(run)
    summary = read_summary(run)
    assert summary["status"] == "completed"
    assert [r["iteration"] for r in summary["resumed_at"]] == [10]
    assert final_values(summary) == reference[0]


def test_a_truncated_checkpoint_gets_a_message_with_the_ways_on(tmp_path: Path) -> None:
    tiny = ["iterations=20", *STOPPABLE[1:]]
    first = genlab_train_cli(tmp_path, "-m", "seed=0", *tiny, "hydra.sweep.dir=sweep")
    assert first.returncode == 0, first.stderr[-3000:]
    job = tmp_path / "sweep" / "0"
    checkpoint = job / CHECKPOINT
    checkpoint.write_bytes(checkpoint.read_bytes()[:5000])
    summary = read_summary(job)
    summary_text = (job / "summary.json").read_text().replace('"completed"', '"interrupted"')
    (job / "summary.json").write_text(summary_text)  # as if it had been stopped

    for args in (["-m", "seed=0", *tiny, "hydra.sweep.dir=sweep"], [f"resume={job}"]):
        resuming = len(args) == 1
        extra = ["iterations=40"] if resuming else []
        result = genlab_train_cli(tmp_path, *args, *extra, root_dir=not resuming)
        assert result.returncode == 2, result.stderr[-3000:]
        assert f"checkpoint {checkpoint} cannot be read" in result.stderr
        assert f"mv {checkpoint} {checkpoint}.broken" in result.stderr
        assert "Traceback" not in result.stderr
    assert read_summary(job)["iterations_done"] == summary["iterations_done"]  # untouched
