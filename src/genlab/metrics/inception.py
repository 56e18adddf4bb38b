"""The Inception-v3 feature extractor of torch-fidelity (TF1-exact resize, 2015-12-05 weights).

Images go in as uint8 (N, 3, H, W); the extractor resizes them to 299 with torch-fidelity's
TensorFlow-1-compatible bilinear interpolation and returns the 2048-d pool features (FID, KID) and
the `logits_unbiased` (IS). Weights come from `metrics.inception_weights`, else torch's hub cache,
else a download; offline without the file, the run stops before training with the fix.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from genlab.errors import GenlabError

WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{WEIGHTS_FILE}"
FEATURES = ("2048", "logits_unbiased")


class InceptionWeightsMissingError(GenlabError):
    """The Inception weights are not on disk and could not be downloaded."""


def resolve_weights(configured: str | None) -> Path:
    """The local weights file: the configured path, the hub cache, or a fresh download."""
    if configured is not None:
        path = Path(configured).expanduser()
        if not path.is_file():
            raise InceptionWeightsMissingError(
                f"metrics.inception_weights={configured}: no such file. Download {WEIGHTS_URL}"
                " and set metrics.inception_weights to its path"
            )
        return path
    cached = Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILE
    if cached.is_file():
        return cached
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(WEIGHTS_URL, str(cached), progress=True)
        return cached
    except Exception as err:
        cached.unlink(missing_ok=True)
        raise InceptionWeightsMissingError(
            f"the Inception weights {WEIGHTS_FILE} are not in {cached.parent} and the download"
            f" failed ({type(err).__name__}: {err}).\n  fix: download {WEIGHTS_URL} on a machine"
            " with internet, then set metrics.inception_weights=/path/to/"
            f"{WEIGHTS_FILE} (or copy it into {cached.parent})"
        ) from err


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] (N, C, H, W) -> uint8 RGB; grey images are repeated to 3 channels."""
    pixels = ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return pixels.expand(-1, 3, -1, -1) if pixels.shape[1] == 1 else pixels


class InceptionFeatures(nn.Module):
    """Frozen, eval-mode Inception-v3: uint8 images -> (pool features 2048-d, unbiased logits)."""

    def __init__(self, weights: str | Path) -> None:
        super().__init__()
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        self.net = FeatureExtractorInceptionV3(
            "inception-v3-compat", list(FEATURES), feature_extractor_weights_path=str(weights)
        )
        self.net.requires_grad_(False).eval()

    def train(self, mode: bool = True) -> InceptionFeatures:
        return super().train(False)  # always eval

    @torch.no_grad()
    def forward(self, images_uint8: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pool, logits = self.net(images_uint8)
        return pool, logits


# A file of reference features (genlab-fid --save-stats): the real side of FID / KID / precision /
# recall, computed once and named by metrics.reference_stats.
REFERENCE_PROTOCOL = "torch-fidelity inception-v3-compat 2015-12-05, 2048-d pool, uint8 input"


class ReferenceStatsError(GenlabError):
    """A reference-statistics file that cannot be used."""


def save_reference(path: str | Path, pool: torch.Tensor, source: str) -> None:
    """Write the pool features of a reference image set, with the protocol and their source."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"pool": pool.float().contiguous(), "protocol": REFERENCE_PROTOCOL, "source": source}
    partial = path.with_name(path.name + ".partial")
    torch.save(record, partial)
    partial.replace(path)


def load_reference(path: str | Path) -> tuple[torch.Tensor, str]:
    """The pool features of a reference file and what they were computed from."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ReferenceStatsError(
            f"metrics.reference_stats={path}: no such file; make it with"
            f" genlab-fid --save-stats {path} <folder of reference images>"
        )
    try:
        record = torch.load(path, map_location="cpu", weights_only=True)
        pool, protocol, source = record["pool"], record["protocol"], record["source"]
    except Exception as err:
        raise ReferenceStatsError(
            f"{path} is not a genlab-fid --save-stats file ({type(err).__name__}); make it again"
        ) from err
    if protocol != REFERENCE_PROTOCOL or pool.dim() != 2 or pool.shape[1] != 2048:
        raise ReferenceStatsError(
            f"{path} holds features of another protocol ({protocol!r}, {list(pool.shape)}); make"
            " it again with this genlab's genlab-fid --save-stats"
        )
    return pool, str(source)
