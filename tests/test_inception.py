"""genlab's Inception FID / IS against torch-fidelity, on a random-weights Inception (offline)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image


@pytest.fixture(scope="module")
def random_inception(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state dict with torch-fidelity's Inception-v3 architecture and random weights."""
    from torch import nn
    from torch_fidelity import feature_extractor_inceptionv3 as tf_inception

    with pytest.MonkeyPatch.context() as patch:  # construct it without any download or file
        patch.setattr(tf_inception, "load_state_dict_from_url", lambda *a, **k: {})
        patch.setattr(nn.Module, "load_state_dict", lambda self, *a, **k: None)
        torch.manual_seed(0)
        net = tf_inception.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    path = tmp_path_factory.mktemp("weights") / "random-inception.pth"
    torch.save(net.state_dict(), path)
    return path


def _image_folder(root: Path, seed: int, n: int, shift: int) -> Path:
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    for i in range(n):
        pixels = np.clip(rng.integers(0, 200, size=(32, 32, 3)) + shift, 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(root / f"{i:03d}.png")
    return root


@pytest.mark.slow  # full Inception at 299x299: about 7 images/s on this CPU
@pytest.mark.process  # torch-fidelity reads the folders with DataLoader worker processes
def test_fid_and_is_agree_with_torch_fidelity(
    random_inception: Path, tmp_path: Path, monkeypatch
) -> None:
    import torch_fidelity

    from genlab.fid import run as genlab_fid

    a = _image_folder(tmp_path / "a", seed=0, n=30, shift=0)
    b = _image_folder(tmp_path / "b", seed=1, n=30, shift=40)
    ours = genlab_fid([str(a), str(b), "--weights", str(random_inception), "--is"])
    theirs = torch_fidelity.calculate_metrics(
        input1=str(a),
        input2=str(b),
        fid=True,
        isc=True,
        cuda=False,
        verbose=False,
        feature_extractor_weights_path=str(random_inception),
        cache=False,
    )
    assert ours["fid"] > 0
    assert ours["fid"] == pytest.approx(theirs["frechet_inception_distance"], rel=1e-6)
    assert ours["is"] == pytest.approx(theirs["inception_score_mean"], rel=1e-6)
    assert ours["is_std"] == pytest.approx(theirs["inception_score_std"], rel=1e-5, abs=1e-9)


def test_image_sets_load_from_npz_in_either_layout(tmp_path: Path) -> None:
    from genlab.fid import load_images

    rng = np.random.default_rng(0)
    nhwc = rng.integers(0, 256, size=(4, 8, 8, 3), dtype=np.uint8)
    np.savez(tmp_path / "nhwc.npz", nhwc)
    np.savez(tmp_path / "nchw.npz", nhwc.transpose(0, 3, 1, 2))
    np.savez(tmp_path / "grey.npz", nhwc[..., :1])
    a, b = load_images(tmp_path / "nhwc.npz"), load_images(tmp_path / "nchw.npz")
    assert a.shape == (4, 3, 8, 8) and torch.equal(a, b)
    assert load_images(tmp_path / "grey.npz").shape == (4, 3, 8, 8)
    np.savez(tmp_path / "float.npz", nhwc.astype(np.float32))
    with pytest.raises(SystemExit, match="uint8"):
        load_images(tmp_path / "float.npz")


def _inception_suite(weights: Path, reference_stats: Path | None = None):  # noqa: ANN202
    from genlab.metrics.manifold import ManifoldSettings
    from genlab.metrics.suites import InceptionSuite

    manifold = ManifoldSettings(precision_recall_k=3, density_coverage_k=3, num_samples=100)
    return InceptionSuite(
        str(weights), None if reference_stats is None else str(reference_stats), None, 2, 2, 2,
        8, manifold,
    )  # fmt: skip


def _folder_data(root: Path, cache: Path):  # noqa: ANN202
    from genlab.data.images import ImageFolderDataModule

    datamodule = ImageFolderDataModule(
        "image_folder", str(root), 3, 16, "center", False, False, None, None, str(cache),
        0, 2, 0, [3, 16, 16], True,
    )  # fmt: skip
    datamodule.prepare_data()
    return datamodule


@pytest.mark.slow  # Inception-v3 at 299x299 on the CPU: several seconds
def test_real_statistics_are_keyed_by_what_the_images_are(
    random_inception: Path, tmp_path: Path
) -> None:
    folder = _image_folder(tmp_path / "mine", seed=0, n=6, shift=0)
    cache = tmp_path / "cache"
    first = _inception_suite(random_inception)
    first.setup(_folder_data(folder, cache), cache)
    again = _inception_suite(random_inception)
    again.setup(_folder_data(folder, cache), cache)
    assert len(list((cache / "stats").iterdir())) == 1  # the same images: the same entry
    assert torch.equal(again.real_features, first.real_features)
    # the folder changes under the same data set name: new statistics, not the stale ones
    pixels = np.full((32, 32, 3), 255, np.uint8)
    Image.fromarray(pixels).save(folder / "003.png")
    changed = _inception_suite(random_inception)
    changed.setup(_folder_data(folder, cache), cache)
    assert len(list((cache / "stats").iterdir())) == 2
    assert not torch.allclose(changed.real_features[3], first.real_features[3])
    assert torch.equal(changed.real_features[:3], first.real_features[:3])


@pytest.mark.slow  # Inception-v3 at 299x299 on the CPU: several seconds
def test_saved_reference_statistics_are_the_runs_and_are_reused(
    random_inception: Path, tmp_path: Path
) -> None:
    from genlab.fid import run as genlab_fid

    folder = _image_folder(tmp_path / "mine", seed=0, n=6, shift=0)
    Image.fromarray(np.zeros((20, 40, 3), np.uint8)).save(folder / "wide.png")  # cropped
    weights = ["--weights", str(random_inception)]
    reference = tmp_path / "ref.pt"
    genlab_fid([str(folder), "--save-stats", str(reference), "--side", "16", *weights])
    # the features of exactly the images a data=image_folder run at side 16 trains on
    suite = _inception_suite(random_inception)
    suite.setup(_folder_data(folder, tmp_path / "cache"), tmp_path / "cache")
    reused = _inception_suite(random_inception, reference)
    reused.setup(None, tmp_path / "unused")
    assert reused.real_features.shape == (7, 2048)
    assert torch.allclose(reused.real_features, suite.real_features, atol=1e-5)
    assert "7 images, side 16, crop center" in reused.identity()["reference_stats"]
    assert not (tmp_path / "unused").exists()
    other = _image_folder(tmp_path / "other", seed=1, n=6, shift=40)
    direct = genlab_fid([str(other), str(folder), "--side", "16", *weights])
    saved = genlab_fid([str(other), str(reference), "--side", "16", *weights])
    assert saved["fid"] == pytest.approx(direct["fid"], rel=1e-6)
    with pytest.raises(SystemExit, match="differ in size.*--side"):
        genlab_fid([str(folder), "--save-stats", str(tmp_path / "x.pt"), *weights])
    missing = _inception_suite(random_inception, tmp_path / "nope.pt")
    with pytest.raises(Exception, match="genlab-fid --save-stats"):
        missing.setup(None, tmp_path)
