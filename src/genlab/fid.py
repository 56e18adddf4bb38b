"""genlab-fid A B: FID (and IS / KID) between two image sets on torch-fidelity's protocol.

A and B are folders of images (png, jpg, bmp; searched recursively) or .npz files holding one
uint8 array of shape (N, H, W, C) or (N, C, H, W) (the pytorch-fid habit).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp"}


def load_images(source: str | Path) -> torch.Tensor:
    """uint8 (N, 3, H, W) images from a folder or an .npz file."""
    path = Path(source)
    if path.is_dir():
        from PIL import Image

        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise SystemExit(
                f"genlab-fid: error: no images ({', '.join(IMAGE_SUFFIXES)}) in {path}"
            )
        arrays = [np.asarray(Image.open(f).convert("RGB")) for f in files]
        if len({a.shape for a in arrays}) > 1:
            raise SystemExit(
                f"genlab-fid: error: images in {path} differ in size; resize them first"
            )
        array = np.stack(arrays)
    elif path.suffix == ".npz" and path.is_file():
        with np.load(path) as npz:
            array = npz[npz.files[0]]
    else:
        raise SystemExit(
            f"genlab-fid: error: {path} is neither a folder of images nor an .npz file"
        )
    if array.dtype != np.uint8 or array.ndim != 4:
        raise SystemExit(
            f"genlab-fid: error: {path} must hold uint8 images (N, H, W, C) or (N, C, H, W),"
            f" got {array.dtype} {array.shape}"
        )
    images = torch.from_numpy(array)
    if images.shape[-1] in (1, 3) and images.shape[1] not in (1, 3):
        images = images.permute(0, 3, 1, 2)
    return images.expand(-1, 3, -1, -1).contiguous() if images.shape[1] == 1 else images


def extract(net: torch.nn.Module, images: torch.Tensor, batch_size: int, device: str):
    pools, logits = [], []
    for start in range(0, len(images), batch_size):
        pool, logit = net(images[start : start + batch_size].to(device))
        pools.append(pool.cpu())
        logits.append(logit.cpu())
    return torch.cat(pools), torch.cat(logits)


def run(argv: list[str] | None = None) -> dict[str, float]:
    """Compute, print and return the metrics for the command-line arguments."""
    parser = argparse.ArgumentParser(prog="genlab-fid", description=__doc__.splitlines()[0])
    parser.add_argument("a", help="generated images: folder or .npz")
    parser.add_argument("b", help="reference images: folder or .npz")
    parser.add_argument("--weights", help="local weights-inception-2015-12-05-6726825d.pth")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument(
        "--is", dest="isc", action="store_true", help="also the IS of A (10 splits)"
    )
    parser.add_argument("--kid", action="store_true", help="also KID (100 subsets)")
    parser.add_argument("--kid-subset-size", type=int, default=1000)
    args = parser.parse_args(argv)

    from genlab.errors import GenlabError
    from genlab.metrics.feature_statistics import (
        GaussianStatistics,
        frechet_distance,
        inception_score,
        kernel_inception_distance,
    )
    from genlab.metrics.inception import InceptionFeatures, resolve_weights

    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("genlab-fid: error: --device cuda but this machine has no CUDA device")
    try:
        net = InceptionFeatures(resolve_weights(args.weights)).to(args.device)
    except GenlabError as err:
        raise SystemExit(f"genlab-fid: error: {err}") from err
    pool_a, logits_a = extract(net, load_images(args.a), args.batch_size, args.device)
    pool_b, _ = extract(net, load_images(args.b), args.batch_size, args.device)
    results = {
        "fid": frechet_distance(GaussianStatistics.of(pool_a), GaussianStatistics.of(pool_b))
    }
    if args.isc:
        results["is"], results["is_std"] = inception_score(logits_a, splits=10)
    if args.kid:
        size = min(args.kid_subset_size, len(pool_a), len(pool_b))
        results["kid"], results["kid_std"] = kernel_inception_distance(pool_a, pool_b, 100, size)
    for name, value in results.items():
        print(f"{name}: {value:.7g}")
    sys.stdout.flush()
    return results


def main() -> None:
    """Console entry point."""
    run(sys.argv[1:])


if __name__ == "__main__":
    main()
