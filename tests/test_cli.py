"""The genlab-train command as users run it: output lines, exit codes, offline messages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FAST, genlab_env, genlab_train_cli

genlab_train = genlab_train_cli

# every test here runs genlab-train in a subprocess, as users do (make test, not test-fast)
pytestmark = pytest.mark.process


def test_help_lists_the_config_groups(tmp_path: Path) -> None:
    result = genlab_train(tmp_path, "--help")
    assert result.returncode == 0
    # Hydra's own help (overrides were given) lists the bases (_*.yaml) the options build on too
    for group in ("model: gan, vae, wgan_gp", "data: _base", "cifar10, digits", "debug: fdr"):
        assert group in result.stdout


def test_plain_help_needs_neither_torch_nor_a_composed_config(tmp_path: Path) -> None:
    code = (
        "import sys; sys.argv = ['genlab-train', '--help']; from genlab.train import main; main();"
        " print('loaded:', sorted(m for m in ('torch', 'lightning') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=genlab_env(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    assert "fix: diffaugment, ema, hinge" in result.stdout
    assert "hydra/launcher: basic (default)" in result.stdout
    assert "loaded: []" in result.stdout
    # with overrides, Hydra's help shows the composed config
    composed = genlab_train(tmp_path, "model=vae", "--help")
    assert composed.returncode == 0 and "_target_: genlab.models.vae.VAE" in composed.stdout


def test_run_prints_where_its_outputs_are(tmp_path: Path) -> None:
    result = genlab_train(tmp_path, "iterations=3", *FAST)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    run_dir = Path(
        next(ln for ln in lines if ln.startswith("run folder:")).split(":", 1)[1].strip()
    )
    assert run_dir.parent == tmp_path / "logs" / "runs"
    assert any(ln.startswith(f"tensorboard: tensorboard --logdir {run_dir}") for ln in lines)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert (run_dir / ".hydra" / "config.yaml").is_file()
