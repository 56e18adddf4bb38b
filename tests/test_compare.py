"""genlab-compare on a synthetic sweep folder: statistics, chance row, files, options, errors."""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import genlab_env
from genlab.compare import main
from genlab.compare.chance import Protocol, chance_level
from genlab.compare.plots import _mean_curve

RING8_CONFIG = {
    "seed": 0,
    "data": {
        "layout": "ring",
        "num_modes": 8,
        "radius": 1.0,
        "spacing": None,
        "std": 0.01,
        "name": "ring8",
    },
    "metrics": {"num_samples": 2500, "suite": {"high_quality_stds": 3.0}},
}
# (fix, seed, status, modes, high_quality, frechet_2d); None: no summary.json (still starting)
JOBS = [
    ("ns", 1, "completed", 8, 0.9, 0.1),
    ("ns", 2, "completed", 8, 0.8, 0.2),
    ("ns", 3, "completed", 6, 0.7, math.inf),
    ("ns", 4, "failed", 1, 0.1, 9.0),
    ("lsgan", 1, "completed", 5, 0.5, 0.3),
    ("lsgan", 2, "completed", 7, 0.6, 0.5),
    ("lsgan", 3, "diverged", 0, 0.0, 99.0),
    ("lsgan", 4, None, 0, 0.0, 0.0),
]


def write_job(folder: Path, fix: str, seed: int, status: str | None, values: dict) -> None:
    overrides = ["data=ring8", "iterations=20", f"fix={fix}", f"seed={seed}"]
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    (folder / "resolved_config.yaml").write_text(yaml.safe_dump({**RING8_CONFIG, "seed": seed}))
    if status is None:
        return
    summary = {"status": status, "overrides": overrides, "seed": seed, **values}
    (folder / "summary.json").write_text(json.dumps(summary))
    if status != "completed":
        return
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(str(folder / "tensorboard")) as writer:
        writer.add_scalar("metrics/modes", values["metrics/modes"] - 1, 10)
        writer.add_scalar("metrics/modes", values["metrics/modes"], 20)
    angles = np.linspace(0, 2 * np.pi, 100, endpoint=False)
    points = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)
    np.save(folder / "samples.npy", points)


def make_sweep(root: Path) -> Path:
    root.mkdir()
    (root / "multirun.yaml").write_text("hydra: {}\n")
    for number, (fix, seed, status, modes, high_quality, frechet) in enumerate(JOBS):
        values = {
            "metrics/modes": modes,
            "metrics/high_quality": high_quality,
            "metrics/mode_kl": 0.01 * seed,
            "metrics/frechet_2d": frechet,
            "metrics/seconds": 1.5,
            "train/g_loss": float(seed),
        }
        write_job(root / str(number), fix, seed, status, values)
    return root


def compare(*argv: str) -> str:
    out = io.StringIO()
    with redirect_stdout(out):
        main(list(argv))
    return out.getvalue()


def read_csv(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    with path.open() as f:
        return {(row["group"], row["metric"]): row for row in csv.DictReader(f)}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = make_sweep(tmp_path_factory.mktemp("multirun") / "2026-11-29_10-00-00")
    return root, compare(str(root))


def test_groups_by_the_varying_override_with_statistics_and_counts(sweep) -> None:
    root, printed = sweep
    table = (root / "comparison.md").read_text()
    assert table in printed
    main_table = table.split("\n\n")[0]
    lines = {line.split(" | ")[0].strip("| "): line for line in main_table.splitlines()}
    assert lines["group"] == (
        "| group | modes | high_quality (%) | mode_kl | frechet_2d | seconds | n | completed"
        " | failed | diverged | running |"
    )
    # modes [8, 8, 6]; high quality [90, 80, 70] %; frechet [0.1, 0.2] (inf left out);
    # 95% bootstrap intervals of the mean from 3 runs on
    assert lines["fix=ns"] == (
        "| fix=ns | 7.33 ± 1.15 [6, 8] | 80 ± 10 [70, 90] | 0.02 ± 0.01 [0.01, 0.03]"
        " | 0.15 ± 0.0707 (n=2) | 1.5 ± 0 [1.5, 1.5] | 3 | 3 | 1 | 0 | 0 |"
    )
    # modes [5, 7]: two runs, no interval; the diverged and the running job do not count
    assert lines["fix=lsgan"].startswith("| fix=lsgan | 6 ± 1.41 | 55 ± 7.07 | 0.015 ± 0.00707 |")
    assert lines["fix=lsgan"].endswith("| 2 | 2 | 0 | 1 | 1 |")
    assert "uniformly over the box" in table

    rows = read_csv(root / "comparison.csv")
    modes = rows[("fix=ns", "metrics/modes")]
    assert float(modes["mean"]) == pytest.approx(22 / 3)
    assert float(modes["std"]) == pytest.approx(math.sqrt(4 / 3))
    assert (modes["n"], modes["completed"], modes["failed"]) == ("3", "3", "1")
    lsgan = rows[("fix=lsgan", "metrics/high_quality")]
    assert float(lsgan["mean"]) == pytest.approx(0.55)
    assert (lsgan["diverged"], lsgan["running"]) == ("1", "1")


@pytest.mark.parametrize(
    ("layout", "modes", "scale", "std"), [("ring", 8, 1.0, 0.01), ("grid", 25, 2.0, 0.05)]
)
def test_chance_level_matches_its_closed_form(
    layout: str, modes: int, scale: float, std: float
) -> None:
    # uniform points over a box of area A: each lands within r = 3 std of a given centre with
    # p = pi r^2 / A (the discs lie inside the box and apart), so the high-quality fraction is
    # K p and the expected number of modes hit by N points is K (1 - (1 - p)^N)
    protocol = Protocol(layout, modes, scale, std, num_samples=2500, high_quality_stds=3.0)
    chance = chance_level(protocol)
    x0, x1, y0, y1 = chance.box
    p = math.pi * (3 * std) ** 2 / ((x1 - x0) * (y1 - y0))
    expected_modes = modes * (1 - (1 - p) ** 2500)
    n = chance.repeats
    hq_se = math.sqrt(modes * p * (1 - modes * p) / 2500 / n)
    assert abs(chance.stats["metrics/modes"].mean - expected_modes) < 4 * (
        chance.stats["metrics/modes"].std / math.sqrt(n)
    )
    assert abs(chance.stats["metrics/high_quality"].mean - modes * p) < 4 * hq_se
    if layout == "ring":  # the GUIDE's figures: about 4.3-4.8 modes, 0.3%; grid: 21, 1.8%
        assert (x1 - x0) == pytest.approx(2 + 2 * math.sin(math.pi / 8))
    else:
        assert (x1 - x0, y1 - y0) == pytest.approx((10.0, 10.0))


def test_chance_row_is_in_the_table_for_ring8(sweep) -> None:
    root, _ = sweep
    rows = read_csv(root / "comparison.csv")
    modes = rows[("chance (uniform)", "metrics/modes")]
    assert 3.5 < float(modes["mean"]) < 6 and float(modes["std"]) > 0
    assert modes["n"] == "100"
    assert ("chance (uniform)", "metrics/frechet_2d") not in rows
    assert "| chance (uniform) |" in (root / "comparison.md").read_text()


def test_plots_are_written(sweep) -> None:
    root, printed = sweep
    for name in ("modes", "high_quality", "mode_kl", "frechet_2d", "seconds"):
        assert (root / f"comparison_{name}.png").stat().st_size > 1000
    assert (root / "curves_modes.png").stat().st_size > 1000
    assert not (root / "curves_mode_kl.png").exists()  # never logged to TensorBoard
    assert (root / "samples_grid.png").stat().st_size > 1000
    assert f"  {root / 'samples_grid.png'}" in printed.splitlines()


def test_mean_curve_over_runs_that_logged_each_iteration() -> None:
    curves = [[(10, 1.0), (20, 3.0)], [(10, 3.0)], [(10, 2.0)]]
    steps, stats = _mean_curve(curves)
    assert steps == [10, 20]
    assert [stat.mean for stat in stats] == [2.0, 3.0]
    assert [stat.n for stat in stats] == [3, 1]
    assert stats[0].has_interval and 1.0 <= stats[0].low < 2.0 < stats[0].high <= 3.0
    assert not stats[1].has_interval  # one run: no band


def write_metric_sweep(root: Path, groups: dict[str, list[float]]) -> Path:
    """A sweep folder of completed jobs, one per value, grouped by `fix`."""
    root.mkdir(parents=True)
    number = 0
    for fix, values in groups.items():
        for seed, value in enumerate(values):
            folder = root / str(number)
            overrides = [f"fix={fix}", f"seed={seed}"]
            (folder / ".hydra").mkdir(parents=True)
            (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
            summary = {"status": "completed", "seed": seed, "metrics/score": value}
            (folder / "summary.json").write_text(json.dumps(summary))
            number += 1
    return root


def test_difference_interval_contains_zero_for_identical_groups_and_not_10_sigma_apart(
    tmp_path: Path,
) -> None:
    noise = [0.3, -1.1, 0.8, -0.2, 0.5]
    root = write_metric_sweep(
        tmp_path / "sweep",
        {
            "same": noise,
            "vanilla": noise,
            "far": [10 + v for v in noise],
            "two": [1.0, 2.0],
        },
    )
    printed = compare(str(root))
    assert "Difference to the baseline `fix=vanilla`" in printed  # the default baseline
    rows = read_csv(root / "comparison.csv")
    same, far = rows[("fix=same", "metrics/score")], rows[("fix=far", "metrics/score")]
    assert same["baseline"] == "fix=vanilla"
    assert float(same["diff"]) == 0.0
    assert float(same["diff_low"]) < 0 < float(same["diff_high"])
    assert float(far["diff"]) == pytest.approx(10.0)
    assert 0 < float(far["diff_low"]) < 10 < float(far["diff_high"])
    lines = {
        line.split(" | ")[0].strip("| "): line for line in printed.split("\n\n")[3].splitlines()
    }
    assert lines["fix=far"].endswith(" *|") or lines["fix=far"].endswith(" * |")
    assert " *" not in lines["fix=same"]
    # two runs: no interval for the group or its difference, said so
    assert lines["fix=two"] == "| fix=two | +1.44 (n<3) |"
    two = rows[("fix=two", "metrics/score")]
    assert (two["ci_low"], two["diff_low"]) == ("", "")
    assert "an interval is not meaningful" in printed


def test_baseline_option_picks_a_group_and_refuses_an_unknown_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_metric_sweep(tmp_path / "sweep", {"a": [1.0, 2.0, 3.0], "b": [2.0, 3.0, 4.0]})
    printed = compare(str(root), "--baseline", "b")
    assert "Difference to the baseline `fix=b`" in printed
    assert "| fix=a | -1 [" in printed
    with pytest.raises(SystemExit) as exit_info:
        main([str(root), "--baseline", "vanilla"])
    assert exit_info.value.code == 2
    assert "--baseline vanilla is no group of this sweep; groups: fix=a, fix=b" in (
        capsys.readouterr().err
    )


def test_by_and_metrics_options(tmp_path: Path) -> None:
    root = make_sweep(tmp_path / "sweep")
    printed = compare(str(root), "--by", "data", "--metrics", "modes", "train/g_loss")
    lines = printed.splitlines()
    assert lines[0] == (
        "| group | modes | train/g_loss | n | completed | failed | diverged | running |"
    )
    # modes of all completed runs [8, 8, 6, 5, 7], g_loss their seeds [1, 2, 3, 1, 2]
    assert lines[2] == (
        "| data=ring8 | 6.8 ± 1.3 [5.8, 7.8] | 1.8 ± 0.837 [1.2, 2.4] | 5 | 5 | 1 | 1 | 1 |"
    )
    assert lines[3].startswith("| chance (uniform) | ")
    assert lines[3].endswith(" | - | 100 | - | - | - | - |")  # no chance level for g_loss
    assert sorted(p.name for p in root.glob("comparison_*.png")) == [
        "comparison_modes.png",
        "comparison_train_g_loss.png",
    ]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["{root}/missing"], "is not a folder; pass a multirun folder"),
        (["{root}/empty"], "holds no job folders"),
        (["{root}/sweep/0"], "it is the folder of a single run or job; pass the multirun"),
        (["{root}"], "it holds sweeps; pass one of them, e.g. {root}/sweep"),
        (
            ["{root}/sweep", "--metrics", "fid"],
            "--metrics fid: no completed job has it; available: modes",
        ),
        (["{root}/sweep", "--by", "lr"], "--by lr: not an override of any job; available: data,"),
    ],
)
def test_bad_input_exits_2_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    make_sweep(tmp_path / "sweep")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as exit_info:
        main([a.format(root=tmp_path) for a in argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("genlab-compare: error: ")
    assert expected.format(root=tmp_path) in err
    assert not (tmp_path / "sweep" / "comparison.md").exists()


def test_help_answers_without_importing_torch(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "genlab.compare", "--help"],
        capture_output=True,
        text=True,
        env=genlab_env(tmp_path),
        timeout=60,
    )
    assert result.returncode == 0 and "usage: genlab-compare" in result.stdout
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, genlab.compare; print('torch' in sys.modules)"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert loaded.stdout.strip() == "False"


def test_a_trained_ring8_run_saves_its_points_and_compares(run_train, tmp_path: Path) -> None:
    job = tmp_path / "sweep" / "0"
    summary = run_train("iterations=4", run_dir=job)
    points = np.load(job / "samples.npy")
    assert points.dtype == np.float32 and points.shape == (2000, 2)
    assert np.isfinite(points).all()
    printed = compare(str(tmp_path / "sweep"))
    row = next(line for line in printed.splitlines() if line.startswith("| all |"))
    assert row.startswith(f"| all | {summary['metrics/modes']:.3g} ± - |")
    assert (tmp_path / "sweep" / "curves_modes.png").is_file()
    assert (tmp_path / "sweep" / "samples_grid.png").is_file()
