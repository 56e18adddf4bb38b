"""genlab as an installed package: the wheel carries its configs, runs from any folder without
the checkout, and picks up a user's own config folder."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import genlab_env

# builds a wheel and runs python from it (make test, not test-fast)
pytestmark = pytest.mark.process

REPO = Path(__file__).resolve().parents[1]
PACKAGED_CONFIGS = REPO / "src" / "genlab" / "conf"

USER_DATA = """\
# a user's own data set: ring8's mixture on a circle of radius 2
defaults:
  - ring8
radius: 2.0
name: ring8_wide
"""
USER_EXPERIMENT = """\
# @package _global_
defaults:
  - override /data: ring8_wide
iterations: 3
model:
  latent_dim: 4
"""


def run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, cwd=cwd, env=env, timeout=600)


def test_wheel_ships_its_configs_and_runs_with_a_user_config_folder(tmp_path: Path) -> None:
    env = genlab_env(tmp_path)
    source = tmp_path / "source"  # a clean copy: a checkout's build/ may hold stale files
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(REPO / "src", source / "src", ignore=skip)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    built = run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "-w", str(tmp_path / "dist"), str(source)],
        tmp_path,
        env,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-2000:]
    [wheel] = (tmp_path / "dist").glob("genlab-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "hydra_plugins/genlab_optuna_sweeper/continuing_sweeper.py" in names
    assert "hydra_plugins/genlab_parallel_launcher/parallel_launcher.py" in names
    assert "hydra_plugins/genlab_members_launcher/members_launcher.py" in names
    shipped = {n for n in names if n.endswith(".yaml")}
    expected = {
        f"genlab/conf/{p.relative_to(PACKAGED_CONFIGS).as_posix()}"
        for p in PACKAGED_CONFIGS.rglob("*.yaml")
    }
    assert len(expected) > 50 and shipped == expected

    site = tmp_path / "site"
    installed = run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(site), str(wheel)],
        tmp_path,
        env,
    )
    assert installed.returncode == 0, installed.stderr[-2000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env["PYTHONPATH"] = str(site)  # ahead of the checkout's editable install
    where = run([sys.executable, "-c", "import genlab; print(genlab.__file__)"], elsewhere, env)
    assert where.stdout.strip().startswith(str(site)), where

    helped = run([sys.executable, "-m", "genlab.train", "--help"], elsewhere, env)
    assert helped.returncode == 0 and "mode_collapse_ring8" in helped.stdout, helped.stderr

    user = elsewhere / "my_configs"
    (user / "data").mkdir(parents=True)
    (user / "experiment").mkdir()
    (user / "data" / "ring8_wide.yaml").write_text(USER_DATA)
    (user / "experiment" / "my_study.yaml").write_text(USER_EXPERIMENT)
    trained = run(
        [
            sys.executable,
            "-m",
            "genlab.train",
            "--config-dir",
            str(user),
            "experiment=my_study",
            "logger=csv",
            "callbacks=none",
            "trainer.enable_progress_bar=false",
            "hydra.run.dir=run",
        ],
        elsewhere,
        env,
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    summary = json.loads((elsewhere / "run" / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["iterations_done"] == 3
    assert summary["data"] == "ring8_wide"
    resolved = (elsewhere / "run" / "resolved_config.yaml").read_text()
    assert "radius: 2.0" in resolved and "latent_dim: 4" in resolved
