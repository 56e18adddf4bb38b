"""Metrics: coverage on hand-made samples, domain evaluators, KID / IS properties, logging,
the missing-weights message, and DDP = one process on the same samples."""

from __future__ import annotations

import math
import urllib.error
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import FAST, assert_triples_of, compose_config, fast_overrides, genlab_train_cli
from genlab import CONF_DIR
from genlab.data.images import DigitsDataModule
from genlab.data.toy import GaussianMixture2D
from genlab.errors import GenlabError
from genlab.evaluate import evaluate_checkpoint
from genlab.metrics import evaluators
from genlab.metrics.coverage import mode_coverage
from genlab.metrics.feature_statistics import (
    PROTOCOL_SEED,
    GaussianStatistics,
    frechet_distance,
    inception_score,
    kernel_inception_distance,
)
from genlab.metrics.manifold import ManifoldSettings, manifold_metrics, real_subset
from genlab.metrics.suites import obtain_evaluator
from genlab.train import train

RING = GaussianMixture2D.ring(8, 1.0, 0.01)
GRID = GaussianMixture2D.grid(25, 2.0, 0.05)


def test_coverage_counts_hand_made_samples() -> None:
    on_every_centre = RING.centres.repeat(10, 1)
    full = mode_coverage(on_every_centre, RING.centres, RING.std, 3.0)
    assert (full.modes, full.high_quality, full.mode_kl) == (8, 1.0, 0.0)

    three_modes = RING.centres[:3].repeat(5, 1) + 0.02  # within 3 std of centres 0, 1, 2
    three = mode_coverage(three_modes, RING.centres, RING.std, 3.0)
    assert three.modes == 3 and three.high_quality == 1.0
    assert three.mode_kl == pytest.approx(math.log(8 / 3))

    # half the samples between modes: high quality 0.5, the rest on one mode
    mixed = torch.cat([torch.zeros(10, 2), RING.centres[:1].repeat(10, 1)])
    half = mode_coverage(mixed, RING.centres, RING.std, 3.0)
    assert (half.modes, half.high_quality) == (1, 0.5)
    assert half.mode_kl == pytest.approx(math.log(8))

    nowhere = mode_coverage(torch.full((50, 2), 10.0), RING.centres, RING.std, 3.0)
    assert (nowhere.modes, nowhere.high_quality, nowhere.mode_kl) == (0, 0.0, math.log(8))


@pytest.mark.parametrize(("mixture", "modes"), [(RING, 8), (GRID, 25)])
def test_real_mixture_samples_cover_every_mode(mixture: GaussianMixture2D, modes: int) -> None:
    points, _ = mixture.sample(2500, torch.Generator().manual_seed(0))
    coverage = mode_coverage(points, mixture.centres, mixture.std, 3.0)
    assert coverage.modes == modes
    assert coverage.high_quality > 0.9
    assert coverage.mode_kl < 0.02


def test_frechet_distance_closed_form() -> None:
    torch.manual_seed(0)
    a = torch.randn(20000, 2, dtype=torch.float64)
    b = a * 2 + torch.tensor([3.0, 0.0], dtype=torch.float64)
    # N(0, I) vs N((3, 0), 4I): 9 + 2 + 8 - 2 * 2 * 2 = 11
    assert frechet_distance(GaussianStatistics.of(a), GaussianStatistics.of(b)) == pytest.approx(
        11.0, rel=0.02
    )
    assert frechet_distance(GaussianStatistics.of(a), GaussianStatistics.of(a)) == pytest.approx(
        0.0, abs=1e-9
    )


def test_inception_score_and_kid_properties() -> None:
    torch.manual_seed(0)
    confident_diverse = torch.eye(10).repeat(200, 1) * 50  # sure of each class, all classes
    is_mean, _ = inception_score(confident_diverse, splits=10)
    assert 9.0 < is_mean <= 10.0  # exp(entropy of each split's class histogram)
    collapsed = torch.eye(10)[:1].repeat(2000, 1) * 50
    assert inception_score(collapsed, splits=10)[0] == pytest.approx(1.0)
    assert inception_score(torch.zeros(100, 10), splits=10)[0] == pytest.approx(1.0)
    assert inception_score(confident_diverse, 10) == inception_score(confident_diverse, 10)
    a, b = torch.randn(300, 16), torch.randn(300, 16)
    same, _ = kernel_inception_distance(a, b, subsets=20, subset_size=100)
    shifted, _ = kernel_inception_distance(a, b + 1.0, subsets=20, subset_size=100)
    assert abs(same) < 0.05 < shifted


def test_kid_equals_torch_fidelitys() -> None:
    from torch_fidelity.metric_kid import kid_features_to_metric

    generator = torch.Generator().manual_seed(0)
    a = torch.randn(300, 16, generator=generator, dtype=torch.float64)
    b = torch.randn(300, 16, generator=generator, dtype=torch.float64) * 1.3 + 0.2
    ours = kernel_inception_distance(a, b, subsets=20, subset_size=100)
    theirs = kid_features_to_metric(
        a, b, kid_subsets=20, kid_subset_size=100, kid_degree=3, kid_gamma=None, kid_coef0=1,
        rng_seed=PROTOCOL_SEED, verbose=False,
    )  # fmt: skip
    assert ours[0] == pytest.approx(theirs["kernel_inception_distance_mean"], rel=1e-9)
    assert ours[1] == pytest.approx(theirs["kernel_inception_distance_std"], rel=1e-9)


def test_digits_evaluator_is_accurate_and_separates_real_from_noise(evaluator_cache: Path) -> None:
    train_cfg = OmegaConf.load(CONF_DIR / "train.yaml")
    settings = evaluators.EvaluatorSettings(
        train_cfg.evaluator.train_steps, train_cfg.evaluator.batch_size, train_cfg.evaluator.lr
    )
    dm = DigitsDataModule("digits", 0, 64, 0, [1, 8, 8], True)
    dm.setup()
    images = dm.data * dm.scale + dm.offset
    evaluator = obtain_evaluator("digits", images, dm.labels, settings, evaluator_cache)
    assert evaluator.accuracy >= 0.95
    # the cached copy is the same network
    reloaded = evaluators.load_evaluator(
        evaluators.evaluator_path(evaluator_cache, "digits", settings, images, dm.labels)
    )
    assert reloaded.content_hash == evaluator.content_hash

    train_idx, held_idx = evaluators.split_held_out(len(images))
    with torch.no_grad():
        features = {
            name: evaluator.net(x)[0]
            for name, x in {
                "train": images[train_idx],
                "held": images[held_idx],
                "noise": torch.rand(len(held_idx), 1, 8, 8) * 2 - 1,
            }.items()
        }
    stats = {k: GaussianStatistics.of(v) for k, v in features.items()}
    real_vs_real = frechet_distance(stats["train"], stats["held"])
    real_vs_noise = frechet_distance(stats["train"], stats["noise"])
    assert real_vs_real * 20 < real_vs_noise


def test_metrics_are_logged_and_summarised(run_train) -> None:
    summary = run_train("iterations=10", "metrics.every_n_iterations=4", "metrics.num_samples=500")
    events = EventAccumulator(summary["tensorboard_dir"], size_guidance={"scalars": 0})
    events.Reload()
    assert [e.step for e in events.Scalars("metrics/modes")] == [4, 8, 10]
    for name in ("modes", "high_quality", "mode_kl", "frechet_2d"):
        assert math.isfinite(summary[f"metrics/{name}"])
    assert events.Scalars("metrics/frechet_2d")[-1].value == pytest.approx(
        summary["metrics/frechet_2d"], rel=1e-6
    )


def test_domain_metrics_carry_the_data_set_and_evaluator_identity(run_train) -> None:
    summary = run_train("data=digits", "iterations=2", "metrics.num_samples=200")
    assert summary["evaluator_digits_accuracy"] >= 0.95
    assert len(summary["evaluator_digits_hash"]) == 16
    names = ["fid_digits", "is_digits", "classes_digits", "class_kl_digits"]
    names += [f"{m}_digits" for m in ("precision", "recall", "density", "coverage")]
    for name in names:
        assert math.isfinite(summary[f"metrics/{name}"]), name
    assert "metrics/fid" not in summary and "metrics/precision" not in summary
    from PIL import Image

    # 64 digits of 8x8, each enlarged 8x to 64 pixels, 8 per row with 2-pixel gaps
    with Image.open(Path(summary["run_dir"]) / "samples.png") as picture:
        assert picture.size == (8 * 64 + 9 * 2, 8 * 64 + 9 * 2)


def test_missing_inception_weights_stop_before_training(tmp_path: Path, monkeypatch) -> None:
    from conftest import make_fake_cifar10

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    make_fake_cifar10(tmp_path / "data")
    cfg = compose_config(
        tmp_path,
        fast_overrides([f"paths.root_dir={tmp_path}", "data=cifar10", "data.download=false"]),
    )
    with pytest.raises(GenlabError) as err:
        train(cfg)
    message = str(err.value)
    assert "weights-inception-2015-12-05-6726825d.pth" in message
    assert "metrics.inception_weights" in message and "https://" in message
    assert not list(tmp_path.rglob("events.out.tfevents.*"))


@pytest.mark.process
def test_missing_inception_weights_file_exits_nonzero(tmp_path: Path) -> None:
    from conftest import make_fake_cifar10

    make_fake_cifar10(tmp_path / "data")
    result = genlab_train_cli(
        tmp_path,
        "data=cifar10",
        "data.download=false",
        f"metrics.inception_weights={tmp_path / 'nowhere.pth'}",
    )
    assert result.returncode == 2
    assert "metrics.inception_weights=" in result.stderr and "no such file" in result.stderr


@pytest.mark.process
@pytest.mark.slow
def test_ddp_metrics_equal_one_process_on_the_same_samples(
    tmp_path: Path, evaluator_cache: Path
) -> None:
    """Mode coverage (ring8) and the domain evaluator's metrics (digits), one job each."""
    result = genlab_train_cli(
        tmp_path,
        "-m",
        "data=ring8,digits",
        "net=mlp",
        f"paths.cache_dir={evaluator_cache}",
        "trainer=ddp_cpu",
        "iterations=6",
        "metrics.num_samples=301",  # not a multiple of the world size
        "hydra.sweep.dir=sweep",
        *FAST,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    from genlab.run.folder import read_summary

    for job in ("0", "1"):
        logged = read_summary(tmp_path / "sweep" / job)
        single = evaluate_checkpoint(tmp_path / "sweep" / job / "checkpoints" / "last.ckpt", [])
        metric_keys = [k for k in single if k.startswith("metrics/")]
        assert len(metric_keys) >= 4
        for key in metric_keys:
            assert logged[key] == pytest.approx(single[key], rel=1e-6, abs=1e-9), (job, key)


def test_train_evaluator_command_is_deterministic(tmp_path: Path) -> None:
    from genlab.train_evaluator import run

    args = ["data=digits", f"paths.cache_dir={tmp_path}", "evaluator.train_steps=60"]
    first, second = run(args), run(args)
    assert first == second  # same weights: same content hash
    assert Path(first["path"]).is_file()
    with pytest.raises(GenlabError, match="no domain evaluator"):
        run(["data=ring8"])


MANIFOLD = ManifoldSettings(precision_recall_k=3, density_coverage_k=5, num_samples=400)


def test_manifold_metrics_equal_the_libraries_on_the_same_features() -> None:
    from prdc import compute_prdc
    from torch_fidelity.metric_prc import calculate_precision_recall_full

    g = torch.Generator().manual_seed(0)
    real = torch.randn(400, 8, generator=g)
    generated = torch.randn(400, 8, generator=g) * 1.3 + 0.4
    ours = manifold_metrics(generated, real, MANIFOLD)
    precision, recall = calculate_precision_recall_full(generated, real, 3)
    theirs = compute_prdc(real.numpy(), generated.numpy(), 5)
    assert (ours["precision"], ours["recall"]) == (precision, recall)
    assert ours["density"] == pytest.approx(float(theirs["density"]), abs=1e-12)
    assert ours["coverage"] == pytest.approx(float(theirs["coverage"]), abs=1e-12)
    assert min(precision, recall) > 0.2 and max(precision, recall) < 0.99  # not a corner case


def test_manifold_metrics_on_identical_and_collapsed_sets() -> None:
    g = torch.Generator().manual_seed(1)
    real = torch.randn(400, 8, generator=g)
    same = manifold_metrics(real.clone(), real, MANIFOLD)
    assert same == {"precision": 1.0, "recall": 1.0, "density": 1.0, "coverage": 1.0}
    # every generated sample near one real sample: precise, but no recall and no coverage
    collapsed = real[:1] + 0.01 * torch.randn(400, 8, generator=g)
    one = manifold_metrics(collapsed, real, MANIFOLD)
    assert one["precision"] == 1.0
    assert one["recall"] < 0.02 and one["coverage"] < 0.02
    # non-finite samples lie in no ball: precision and density shrink by their share
    broken = real.clone()
    broken[:100] = float("nan")
    quarter = manifold_metrics(broken, real, MANIFOLD)
    assert quarter["precision"] == pytest.approx(0.75)


def test_manifold_subset_of_the_real_set_is_fixed() -> None:
    features = torch.arange(1000.0).unsqueeze(1)
    first, second = real_subset(features, 300), real_subset(features, 300)
    assert torch.equal(first, second) and len(first) == 300
    assert torch.all(first[1:] > first[:-1])  # original order, no repeats
    assert real_subset(features[:200], 300).shape == (200, 1)
    with pytest.raises(ValueError, match="num_samples=4 is too small"):
        ManifoldSettings(3, 5, 4)


def test_stacked_digits_channels_are_digits_of_the_set() -> None:
    from genlab.data.images import StackedDigitsDataModule, load_sklearn_digits

    dm = StackedDigitsDataModule("stacked_digits", 500, 3, 64, 0, [3, 8, 8], True)
    dm.setup()
    assert_triples_of(dm.data[:50], dm.labels[:50], *load_sklearn_digits())
    again = StackedDigitsDataModule("stacked_digits", 500, 3, 64, 0, [3, 8, 8], True)
    again.setup()
    assert torch.equal(again.data, dm.data)  # the seed fixes the triples
    other = StackedDigitsDataModule("stacked_digits", 500, 4, 64, 0, [3, 8, 8], True)
    other.setup()
    assert not torch.equal(other.data, dm.data)
    assert len(torch.unique(dm.labels)) > 300  # 500 triples of 1,000 modes


def test_stacked_digits_suite_counts_hand_made_triples(evaluator_cache: Path) -> None:
    from genlab.data.images import StackedDigitsDataModule
    from genlab.metrics.suites import StackedDigitsSuite

    train_cfg = OmegaConf.load(CONF_DIR / "train.yaml")
    suite = StackedDigitsSuite(
        train_cfg.evaluator.train_steps,
        train_cfg.evaluator.batch_size,
        train_cfg.evaluator.lr,
        num_real_samples=2000,
        batch_size=500,
        manifold=MANIFOLD,
    )
    dm = StackedDigitsDataModule("stacked_digits", 4000, 0, 64, 0, [3, 8, 8], True)
    suite.setup(dm, evaluator_cache)
    digits = dm.digit_set()
    # 10 chosen triples (digits the evaluator reads right), 30 samples each
    correct = suite.net(digits.images)[1].argmax(dim=1) == digits.labels
    first_of = {d: int((correct & (digits.labels == d)).nonzero()[0]) for d in range(10)}
    triples = [(d, (d + 3) % 10, (7 * d) % 10) for d in range(10)]
    samples = torch.stack(
        [torch.cat([digits.images[first_of[c]] for c in triple]) for triple in triples]
    ).repeat(30, 1, 1, 1)
    assert suite.read_digits(samples[:10]).tolist() == [list(t) for t in triples]  # captions
    scores = suite.score(suite.extract(samples))
    assert scores["stacked_modes"] == 10.0
    assert scores["stacked_kl"] == pytest.approx(math.log(100))
    assert scores["recall_stacked_digits"] < 0.05 and scores["coverage_stacked_digits"] < 0.25
    # the real stacked set itself: almost every mode, near-perfect manifold scores
    real = suite.score(suite.extract(dm.items(slice(0, 2000))))
    assert real["stacked_modes"] > 800
    assert real["fid_stacked_digits"] * 10 < scores["fid_stacked_digits"]
    assert real["coverage_stacked_digits"] > 0.9


def test_stacked_mnist_modes_and_training(run_train, tmp_path: Path) -> None:
    from conftest import make_fake_mnist

    make_fake_mnist(tmp_path / "data", n=60)
    summary = run_train(
        "data=stacked_mnist",
        "data.num_samples=64",
        "data.batch_size=16",
        "data.download=false",
        "iterations=2",
        "evaluator.train_steps=5",
        "metrics.num_samples=50",
        "metrics.batch_size=25",
        "metrics.suite.num_real_samples=64",
        "manifold_metrics.num_samples=50",
    )
    assert summary["status"] == "completed"
    assert 1 <= summary["metrics/stacked_modes"] <= 50
    assert 0 <= summary["metrics/coverage_stacked_mnist"] <= 1


def test_stacked_digits_trains_and_logs_every_metric(run_train) -> None:
    summary = run_train(
        "data=stacked_digits",
        "data.num_samples=2000",
        "iterations=4",
        "metrics.num_samples=600",
        "metrics.suite.num_real_samples=600",
        "manifold_metrics.num_samples=600",
    )
    assert summary["status"] == "completed"
    assert summary["evaluator_digits_accuracy"] >= 0.95
    events = EventAccumulator(summary["tensorboard_dir"], size_guidance={"scalars": 0})
    events.Reload()
    names = ["stacked_modes", "stacked_kl", "fid_stacked_digits"]
    names += [f"{m}_stacked_digits" for m in ("precision", "recall", "density", "coverage")]
    for name in names:
        assert math.isfinite(summary[f"metrics/{name}"]), name
        assert events.Scalars(f"metrics/{name}")[-1].value == pytest.approx(
            summary[f"metrics/{name}"], rel=1e-6
        )


def test_suites_name_the_data_they_need(tmp_path: Path) -> None:
    from genlab.data.toy import GaussianMixtureDataModule
    from genlab.metrics.suites import CoverageSuite

    digits = DigitsDataModule("digits", 0, 64, 0, [1, 8, 8], True)
    assert digits.capability("mixture") is None
    with pytest.raises(GenlabError, match="metrics=coverage needs a 2-D Gaussian mixture"):
        CoverageSuite(3.0, 100).setup(digits, tmp_path)
    ring = GaussianMixtureDataModule("ring", 8, 1.0, None, 0.01, 500, "ring8", 0, 64, 0, [2], False)
    assert ring.capability("mixture") is ring.mixture
    with pytest.raises(ValueError, match="no data capability named 'labels'"):
        ring.capability("labels")
    suite = CoverageSuite(3.0, 100)
    suite.setup(ring, tmp_path)
    assert suite.score(suite.extract(ring.mixture.centres.repeat(4, 1)))["modes"] == 8


def _cache_side_by_side(path: str) -> None:
    import time

    from genlab.metrics.suites import cached_tensor

    def slow() -> torch.Tensor:
        time.sleep(0.3)  # every process is computing before any has written
        return torch.arange(4.0)

    save = torch.save

    def slow_save(*args: object, **kwargs: object) -> None:
        save(*args, **kwargs)
        time.sleep(0.3)  # a slow disk: every process has written before any renames

    torch.save = slow_save
    assert torch.equal(cached_tensor(Path(path), slow), torch.arange(4.0))


@pytest.mark.process
def test_jobs_side_by_side_may_fill_one_cache_file_at_once(tmp_path: Path) -> None:
    # two members groups of a sweep computed the same real statistics at once; a shared
    # temporary name made one of them fail (FileNotFoundError on the rename)
    import multiprocessing

    path = tmp_path / "stats" / "real.pt"
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_cache_side_by_side, args=(str(path),)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [worker.exitcode for worker in workers] == [0, 0, 0, 0]
    assert torch.equal(torch.load(path, weights_only=True), torch.arange(4.0))
    assert not list(path.parent.glob("*.partial"))
