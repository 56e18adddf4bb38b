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
