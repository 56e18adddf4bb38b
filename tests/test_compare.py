"""genlab-compare on a synthetic sweep folder: statistics, chance row, files, options, errors."""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import stats

from conftest import genlab_env
from genlab.compare import main
from genlab.compare.chance import Protocol, chance_level
from genlab.compare.plots import _mean_curve, strip_axes

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


def table_lines(printed: str, heading: str) -> dict[str, str]:
    """The lines of the printed table under `heading`, by their first cell."""
    section = printed.split(heading, 1)[1].split("\n\n")[1]
    return {line.split(" | ")[0].strip("| "): line for line in section.splitlines()}


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
    # 95% t intervals of the mean (mean ± t(0.975, n-1) s / sqrt(n)) from 2 runs on, by hand:
    # modes 7.333 ± 4.303 * 1.155 / sqrt(3) = [4.465, 10.20]; a t interval may pass the
    # metric's range at small n (it says the mean is poorly pinned down); n < 10 is flagged
    assert lines["fix=ns"] == (
        "| fix=ns | 7.33 ± 1.15 [4.46, 10.2] | 80 ± 10 [55.2, 105] | 0.02 ± 0.01 [-0.00484, 0.0448]"
        " | 0.15 ± 0.0707 [-0.485, 0.785] (n=2) | 1.5 ± 0 [1.5, 1.5] | 3 ⚠ | 3 | 1 | 0 | 0 |"
    )
    # modes [5, 7]: two runs, t(0.975, 1) = 12.71, so 6 ± 12.71; the diverged and the running
    # job do not count
    assert lines["fix=lsgan"].startswith("| fix=lsgan | 6 ± 1.41 [-6.71, 18.7] | 55 ± 7.07 [")
    assert lines["fix=lsgan"].endswith("| 2 ⚠ | 2 | 0 | 1 | 1 |")
    assert "⚠ n < 10: fewer completed seeds than the protocol's 10 (here down to 2)" in table
    assert "Colas et al. 2018" in table
    assert "uniformly over the box" in table

    rows = read_csv(root / "comparison.csv")
    modes = rows[("fix=ns", "metrics/modes")]
    assert float(modes["mean"]) == pytest.approx(22 / 3)
    assert float(modes["std"]) == pytest.approx(math.sqrt(4 / 3))
    low, high = stats.t.interval(0.95, 2, loc=22 / 3, scale=stats.sem([8, 8, 6]))
    assert (float(modes["ci_low"]), float(modes["ci_high"])) == pytest.approx((low, high))
    assert float(modes["iqm"]) == pytest.approx(22 / 3)  # int(3 / 4) = 0 values cut each side
    assert (modes["direction"], rows[("fix=ns", "metrics/seconds")]["direction"]) == ("higher", "")
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
    steps, found = _mean_curve(curves)
    assert steps == [10, 20]
    assert [stat.mean for stat in found] == [2.0, 3.0]
    assert [stat.n for stat in found] == [3, 1]
    # values [1, 3, 2]: 2 ± t(0.975, 2) / sqrt(3) = 2 ± 2.484
    assert (found[0].low, found[0].high) == pytest.approx((-0.4841377, 4.4841377))
    assert not found[1].has_interval  # one run: no band


def write_metric_sweep(
    root: Path, groups: dict[str, list[float]], first_seed: int = 0, metric: str = "metrics/score"
) -> Path:
    """A sweep folder of completed jobs, one per value (seeds first_seed, first_seed + 1, ...
    within each group), grouped by `fix`."""
    root.mkdir(parents=True)
    number = 0
    for fix, values in groups.items():
        for seed, value in enumerate(values, start=first_seed):
            folder = root / str(number)
            overrides = [f"fix={fix}", f"seed={seed}"]
            (folder / ".hydra").mkdir(parents=True)
            (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
            summary = {"status": "completed", "seed": seed, metric: value}
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
            "one": [1.5],
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
    lines = table_lines(printed, "Difference to the baseline")
    assert lines["fix=far"].endswith(" * |")
    assert " *" not in lines["fix=same"]
    # two runs: a (wide) Welch interval, but no bootstrap interval of the probability of
    # improvement; one run: no interval at all, said so
    assert lines["fix=two"].startswith("| fix=two | +1.44 [")
    assert lines["fix=one"] == "| fix=one | +1.44 (n<2) |"
    assert table_lines(printed, "Probability of improvement")["fix=two"].endswith(" (n<3) |")
    one = rows[("fix=one", "metrics/score")]
    assert (one["ci_low"], one["diff_low"], one["improvement_low"]) == ("", "", "")
    assert "An interval needs 2 runs or more" in printed


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
    # modes of all completed runs [8, 8, 6, 5, 7], g_loss their seeds [1, 2, 3, 1, 2]; 95% t
    # intervals: 6.8 ± 2.776 * 1.304 / sqrt(5) and 1.8 ± 2.776 * 0.837 / sqrt(5)
    assert lines[2] == (
        "| data=ring8 | 6.8 ± 1.3 [5.18, 8.42] | 1.8 ± 0.837 [0.761, 2.84] | 5 ⚠ | 5 | 1 | 1 | 1 |"
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


@pytest.mark.process
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


# --- the statistics on fixed inputs ----------------------------------------------------------

SAMPLE = [0.3, -1.1, 0.8, -0.2, 0.5]
OTHER = [2.0, 3.5, 1.0, 2.2, 9.0, 2.6, 0.4]


def test_t_and_welch_intervals_match_scipy() -> None:
    from genlab.compare.stats import t_interval, welch_interval

    mean = statistics.fmean(SAMPLE)
    expected = stats.t.interval(0.95, len(SAMPLE) - 1, loc=mean, scale=stats.sem(SAMPLE))
    assert t_interval(SAMPLE) == pytest.approx(expected, rel=1e-12)
    # by hand: mean 0.06, s = 0.7436, t(0.975, 4) = 2.7764 -> 0.06 ± 0.9233
    assert t_interval(SAMPLE) == pytest.approx((0.06 - 0.92331, 0.06 + 0.92331), abs=1e-4)
    welch = stats.ttest_ind(OTHER, SAMPLE, equal_var=False).confidence_interval(0.95)
    assert welch_interval(OTHER, SAMPLE) == pytest.approx((welch.low, welch.high), rel=1e-12)
    # constant samples: a point, the difference itself
    assert welch_interval([3.0, 3.0], [1.0, 1.0, 1.0]) == (2.0, 2.0)
    assert t_interval([4.0, 4.0, 4.0]) == (4.0, 4.0)


def test_iqm_of_eight_values_by_hand_and_its_interval_is_reproducible() -> None:
    from genlab.compare.stats import iqm, iqm_interval

    values = [9.0, 1.0, 7.0, 3.0, 100.0, 5.0, -50.0, 4.0]
    # sorted -50, 1, | 3, 4, 5, 7, | 9, 100: the middle half's mean
    assert iqm(values) == (3 + 4 + 5 + 7) / 4
    low, high = iqm_interval(values)
    assert low < 4.75 < high and (low, high) == iqm_interval(values)  # seeded
    assert iqm_interval([2.0, 2.0, 2.0]) == (2.0, 2.0)


def test_probability_of_improvement_by_hand_with_ties() -> None:
    from genlab.compare.stats import (
        HIGHER,
        LOWER,
        _improvement_statistic,
        improvement_interval,
        probability_of_improvement,
    )

    arm, base = [1.0, 2.0, 2.0, 3.0], [2.0, 0.0]
    # pairs (arm, base): 1-2 loses, 1-0 wins, 2-2 tie, 2-0 wins, 2-2 tie, 2-0 wins, 3-2 and 3-0
    # win: (5 + 2 * 0.5) / 8; where lower is better: 1-2 wins and the two ties, (1 + 1) / 8
    assert probability_of_improvement(arm, base, HIGHER) == 6 / 8
    assert probability_of_improvement(arm, base, None) == 6 / 8  # no direction: P(arm > base)
    assert probability_of_improvement(arm, base, LOWER) == 2 / 8
    assert stats.mannwhitneyu(arm, base).statistic / 8 == 6 / 8
    # the vectorised statistic the bootstrap uses agrees with the pair count, resample by resample
    rng = np.random.default_rng(1)
    x, y = rng.integers(0, 4, (50, 4)).astype(float), rng.integers(0, 4, (50, 2)).astype(float)
    for sign, way in ((1.0, HIGHER), (-1.0, LOWER)):
        batch = _improvement_statistic(sign)(x, y, axis=-1)
        assert batch == pytest.approx(
            [probability_of_improvement(list(a), list(b), way) for a, b in zip(x, y, strict=True)]
        )
    low, high = improvement_interval(arm, base, HIGHER)
    assert 0 <= low < 0.75 < high <= 1 and (low, high) == improvement_interval(arm, base, HIGHER)
    assert improvement_interval([5.0, 5.0, 5.0], [1.0, 1.0, 1.0], LOWER) == (0.0, 0.0)


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        ("metrics/modes", "higher"),
        ("metrics/stacked_modes", "higher"),
        ("metrics/high_quality", "higher"),
        ("metrics/classes_digits", "higher"),
        ("metrics/is", "higher"),
        ("metrics/is_digits", "higher"),
        ("metrics/precision_inception", "higher"),
        ("metrics/coverage_digits", "higher"),
        ("metrics/mode_kl", "lower"),
        ("metrics/stacked_kl", "lower"),
        ("metrics/class_kl_digits", "lower"),
        ("metrics/fid", "lower"),
        ("metrics/fid_digits", "lower"),
        ("metrics/frechet_2d", "lower"),
        ("metrics/kid", "lower"),
        ("metrics/is_std", ""),
        ("metrics/kid_std", ""),
        ("metrics/is_digits_std", ""),
        ("metrics/seconds", ""),
        ("train/g_loss", ""),
    ],
)
def test_which_way_each_metric_improves(metric: str, expected: str) -> None:
    from genlab.compare.report import direction_name

    assert direction_name(metric) == expected


def test_the_strip_plot_has_one_dot_per_completed_seed(sweep) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from genlab.compare.jobs import load_jobs
    from genlab.compare.stats import default_metrics, group_jobs, group_rows

    root, _ = sweep
    jobs = load_jobs(root)
    rows = group_rows(group_jobs(jobs, ["fix"]), default_metrics(jobs))
    for metric, expected in (
        ("metrics/modes", {"fix=ns": [6, 8, 8], "fix=lsgan": [5, 7]}),
        # ns's third seed logged inf: it has no place on the axis (said in the tick label)
        ("metrics/frechet_2d", {"fix=ns": [0.1, 0.2], "fix=lsgan": [0.3, 0.5]}),
        ("metrics/high_quality", {"fix=ns": [70, 80, 90], "fix=lsgan": [50, 60]}),
    ):
        fig, ax = plt.subplots()
        dots = strip_axes(ax, rows, metric, None)
        for label, values in expected.items():
            drawn = dots[label].get_offsets()
            assert sorted(drawn[:, 1]) == pytest.approx(values)
            assert dots[label] in ax.collections
        # the groups' columns stay apart: every ns dot left of every lsgan dot
        assert (
            dots["fix=ns"].get_offsets()[:, 0].max() < dots["fix=lsgan"].get_offsets()[:, 0].min()
        )
        if metric == "metrics/frechet_2d":
            ticks = [t.get_text() for t in ax.get_xticklabels()]
            assert ticks[0] == "fix=ns (n=2, 1 not finite)"
        plt.close(fig)


def test_the_seeds_csv_holds_every_job(sweep) -> None:
    root, printed = sweep
    with (root / "comparison_seeds.csv").open() as f:
        lines = list(csv.DictReader(f))
    assert f"  {root / 'comparison_seeds.csv'}" in printed.splitlines()
    assert [(line["group"], line["seed"], line["job"], line["status"]) for line in lines] == [
        (f"fix={fix}", str(seed), str(number), status or "running")
        for number, (fix, seed, status, *_) in enumerate(JOBS)
    ]
    completed = [line for line in lines if line["status"] == "completed"]
    assert [float(line["metrics/modes"]) for line in completed] == [8, 8, 6, 5, 7]
    assert completed[2]["metrics/frechet_2d"] == "inf"
    assert lines[-1]["metrics/modes"] == ""  # still starting: no values yet


def test_the_tables_are_reproducible(tmp_path: Path) -> None:
    groups = {"vanilla": [0.0, 1.0, 0.0, 2.0, 0.0, 5.0], "fix": [8.0, 7.0, 8.0, 3.0, 8.0, 8.0]}
    first = compare(str(write_metric_sweep(tmp_path / "a", groups)))
    second = compare(str(write_metric_sweep(tmp_path / "b", groups)))
    assert first.split("written:")[0] == second.split("written:")[0]


# --- replication -----------------------------------------------------------------------------

FIRST = {
    "vanilla": [0, 1, 0, 2, 0],
    "lsgan": [8, 8, 8, 7, 8],  # better in both: replicated
    "r1": [5, 6, 7, 6, 5],  # better here, no difference in the second: not replicated
    "ema": [0, 2, 1, 0, 1],  # no difference in either
}
SECOND = {
    "vanilla": [3, 0, 1, 0, 2],
    "lsgan": [8, 8, 7, 8, 8],
    "r1": [1, 4, 0, 2, 1],
    "ema": [0, 1, 0, 2, 1],
}


def replication_pair(tmp_path: Path, second_seed: int = 100) -> tuple[Path, Path]:
    first = write_metric_sweep(tmp_path / "first", FIRST, 0, "metrics/modes")
    second = write_metric_sweep(tmp_path / "second", SECOND, second_seed, "metrics/modes")
    return first, second


def test_replication_marks_replicated_not_replicated_and_no_effect(tmp_path: Path) -> None:
    first, second = replication_pair(tmp_path)
    printed = compare(str(first), "--replicate", str(second))
    table = (first / "replication.md").read_text()
    assert table in printed
    assert f"`{first}` (seeds 0-4) and `{second}` (seeds 100-104)" in table
    lines = table_lines(table, "Replication:")
    assert lines["fix=lsgan"].endswith("| better | replicated |")
    assert "| better |" in lines["fix=r1"] and lines["fix=r1"].endswith(
        "| no difference | not replicated |"
    )
    assert lines["fix=ema"].endswith("| no difference | no effect in either |")
    assert "(n=5/5 ⚠)" in lines["fix=lsgan"]
    assert "replicated: 1, not replicated: 1, no effect in either: 1." in table
    with (first / "replication.csv").open() as f:
        verdicts = {row["group"]: row for row in csv.DictReader(f)}
    assert {g: row["verdict"] for g, row in verdicts.items()} == {
        "fix=lsgan": "replicated",
        "fix=r1": "not replicated",
        "fix=ema": "no effect in either",
    }
    lsgan = verdicts["fix=lsgan"]
    welch = stats.ttest_ind(SECOND["lsgan"], SECOND["vanilla"], equal_var=False)
    interval = welch.confidence_interval(0.95)
    assert float(lsgan["second_diff_low"]) == pytest.approx(interval.low)
    assert float(lsgan["second_diff_high"]) == pytest.approx(interval.high)
    assert (lsgan["direction"], lsgan["first_n"], lsgan["second_conclusion"]) == (
        "higher",
        "5",
        "better",
    )
    assert not (first / "comparison.md").exists()  # a replication writes only its own files


def test_a_conclusion_that_flips_is_not_replicated() -> None:
    from genlab.compare.replication import verdict
    from genlab.compare.stats import LOWER, Difference

    better_lower = Difference.of([0.1, 0.2, 0.15], [0.9, 1.0, 0.95], LOWER)  # kl fell
    worse_lower = Difference.of([0.9, 1.0, 0.95], [0.1, 0.2, 0.15], LOWER)
    one_run = Difference.of([0.1], [0.9, 1.0], LOWER)
    assert (better_lower.conclusion, worse_lower.conclusion) == ("better", "worse")
    assert verdict(better_lower, better_lower) == "replicated"
    assert verdict(better_lower, worse_lower) == "not replicated"
    assert verdict(better_lower, one_run) == "too few runs"
    higher = Difference.of([5.0, 6.0, 5.5], [1.0, 2.0, 1.5], None)
    assert higher.conclusion == "higher"  # no known direction: which way, not better or worse


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("seeds", "share seeds 3-4: a replication needs disjoint seeds; run the second sweep on"),
        ("arms", "the two sweeps' groups differ (grouped by fix): only in the first: fix=ema;"),
        ("metric", "in {second}: --metrics modes: no completed job has it"),
    ],
)
def test_replication_refuses_what_is_no_replication(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: str, expected: str
) -> None:
    first = write_metric_sweep(tmp_path / "first", FIRST, 0, "metrics/modes")
    if change == "seeds":
        second = write_metric_sweep(tmp_path / "second", SECOND, 3, "metrics/modes")
    elif change == "arms":
        other = dict(SECOND)
        other["pack2"] = other.pop("ema")
        second = write_metric_sweep(tmp_path / "second", other, 100, "metrics/modes")
    else:
        second = write_metric_sweep(tmp_path / "second", SECOND, 100, "metrics/score")
    with pytest.raises(SystemExit) as exit_info:
        main([str(first), "--replicate", str(second), "--metrics", "modes"])
    assert exit_info.value.code == 2
    assert expected.format(second=second) in capsys.readouterr().err
    assert not (first / "replication.md").exists()


def test_the_docs_give_the_direction_table_the_code_uses() -> None:
    from genlab.compare.stats import DIRECTIONS

    page = (Path(__file__).resolve().parents[1] / "docs" / "sweeps.md").read_text()
    section = page.split("## Comparing a sweep: `genlab-compare`")[1]
    shown = " ".join(section.split())
    for patterns, way in DIRECTIONS:
        listed = ", ".join(f"`{pattern}`" for pattern in patterns)
        assert listed in shown, (way, listed)


def test_a_rerun_with_sweep_retry_failed_does_not_split_an_arm() -> None:
    from genlab.compare.jobs import Job
    from genlab.compare.stats import varying_keys

    jobs = [
        Job(Path(str(i)), "completed", {"fix": fix, "seed": str(i), **extra})
        for i, (fix, extra) in enumerate(
            [("vanilla", {}), ("vanilla", {"sweep_retry_failed": "True"}), ("pack2", {})]
        )
    ]
    assert varying_keys(jobs) == ["fix"]
