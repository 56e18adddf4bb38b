"""Metrics: samples/s of each metric suite (feature extraction and scoring of generated
samples), and the share of a default run's wall time (`make train`) spent on metrics."""

from __future__ import annotations

import time
from pathlib import Path

from bench_common import QUIET, compose, genlab_train


def random_inception_state() -> dict:
    """torch-fidelity's Inception-v3 with random weights, built without any download."""
    from unittest import mock

    import torch
    from torch_fidelity import feature_extractor_inceptionv3 as tf_inception

    with (
        mock.patch.object(tf_inception, "load_state_dict_from_url", lambda *a, **k: {}),
        mock.patch.object(torch.nn.Module, "load_state_dict", lambda self, *a, **k: None),
    ):
        torch.manual_seed(0)
        net = tf_inception.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    return net.state_dict()


def metric_rates(scratch: Path) -> dict[str, dict[str, float]]:
    """Samples/s of scoring generated samples with each metric suite (extract + score), each
    suite and data module built from genlab's own configs."""
    import torch
    from hydra.utils import instantiate

    def built(overrides: list[str]):  # noqa: ANN202 - the suite, set up on its data module
        cfg = compose([*overrides, f"paths.root_dir={scratch}"])
        suite, datamodule = instantiate(cfg.metrics.suite), instantiate(cfg.data)
        suite.setup(datamodule, scratch / "cache")
        return suite

    def rate(suite, samples) -> float:  # noqa: ANN001
        started = time.perf_counter()
        suite.score(suite.extract(samples))
        return len(samples) / (time.perf_counter() - started)

    coverage = built(["data=ring8", "metrics=coverage"])
    domain = built(["data=digits", "metrics=domain"])
    # Inception with random weights in torch-fidelity's architecture: the timing is the
    # protocol's (resize to 299, 2048-d features), the values are meaningless.
    weights = scratch / "inception-random.pth"
    if not weights.exists():
        torch.save(random_inception_state(), weights)
    fid = built(
        ["data=digits", "metrics=inception", f"metrics.inception_weights={weights}"]
        + ["metrics.suite.num_real_samples=32", "metrics.suite.kid_subsets=2"]
        + ["metrics.suite.kid_subset_size=16"]
    )
    return {
        "coverage (ring8, 2,500 points)": {"samples_per_s": rate(coverage, torch.randn(2500, 2))},
        "domain FID/IS (digits classifier)": {
            "samples_per_s": rate(domain, torch.rand(5000, 1, 8, 8) * 2 - 1)
        },
        "Inception FID/IS/KID (torch-fidelity protocol)": {
            "samples_per_s": rate(fid, torch.rand(32, 1, 8, 8) * 2 - 1),
        },
    }


def measure(scratch: Path) -> dict:
    """The suites' rates (`metrics`) and the default run's metrics share (`default_run`)."""
    rates = metric_rates(scratch)
    summary, wall = genlab_train([*QUIET], scratch)  # the default run, metrics on
    return {
        "metrics": rates,
        "default_run": {
            "wall_s": wall,
            "metrics_s": summary.get("metrics/seconds"),
            "metrics_share": summary.get("metrics/seconds", 0.0) / wall,
        },
    }


def print_lines(extras: dict) -> None:
    for name, values in extras.get("metrics", {}).items():
        print(f"metric {name}: {values['samples_per_s']:.1f} samples/s")
    default = extras.get("default_run")
    if default:
        print(
            f"default run (make train): {default['wall_s']:.1f} s wall, metrics"
            f" {default['metrics_s']:.2f} s = {100 * default['metrics_share']:.1f}% (target <= 10%)"
        )
