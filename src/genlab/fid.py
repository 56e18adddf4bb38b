"""genlab-fid A B: FID (and IS / KID) between two image sets on torch-fidelity's protocol.
genlab-fid --save-stats FILE B: the reference features of B, computed once, for later
genlab-fid calls (`genlab-fid A FILE`) and for runs (metrics.reference_stats=FILE).

A and B are folders of images (every format Pillow reads; searched recursively), .npz files
holding one uint8 array of shape (N, H, W, C) or (N, C, H, W) (the pytorch-fid habit), or, for B,
a --save-stats file. A folder's images must share one size unless --side is given: then each is
centre-cropped and resized to side x side as data=image_folder does, so `--side` equal to a run's
data.side gives the statistics of exactly the images that run trains on.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch


def load_images(source: str | Path, side: int | None = None, crop: str = "center") -> torch.Tensor:
    """uint8 (N, 3, H, W) images from a folder (at `side`, when given) or an .npz file."""
    path = Path(source)
    if path.is_dir():
        array = _folder_array(path, side, crop)
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


def _folder_array(path: Path, side: int | None, crop: str) -> np.ndarray:
    """A folder's images as uint8 (N, 3, S, S): decoded by genlab's image-folder reader."""
    from PIL import Image

    from genlab.data import image_folder

    try:
        listing = image_folder.list_images(path)
    except image_folder.ImageFolderError as err:
        raise SystemExit(f"genlab-fid: error: {err}") from None
    if side is None:
        sizes = set()
        for name in listing.files:
            with Image.open(listing.root / name) as image:
                sizes.add(image.size)
        if len(sizes) > 1:
            raise SystemExit(
                f"genlab-fid: error: images in {path} differ in size ({len(sizes)} sizes); pass"
                " --side S to centre-crop and resize them"
            )
        (width, height) = sizes.pop()
        if width != height:
            raise SystemExit(
                f"genlab-fid: error: images in {path} are {width}x{height}; pass --side S to"
                " centre-crop and resize them to squares"
            )
        side, crop = width, "none"
    settings = image_folder.FolderSettings(3, side, crop, False, False, None)
    array, _, failed = image_folder.decode_folder(
        listing, list(range(len(listing.files))), settings
    )
    if failed:
        name, reason = failed[0]
        raise SystemExit(
            f"genlab-fid: error: {len(failed)} file(s) in {path} cannot be decoded, e.g. {name}"
            f" ({reason})"
        )
    return array


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
    parser.add_argument("a", help="generated images: folder or .npz (with --save-stats: B)")
    parser.add_argument(
        "b", nargs="?", help="reference images: folder, .npz or a --save-stats file"
    )
    parser.add_argument(
        "--save-stats",
        metavar="FILE",
        help="only compute the reference features of the one image set given and save them",
    )
    parser.add_argument("--side", type=int, help="centre-crop and resize folders to side x side")
    parser.add_argument("--crop", choices=["center", "none"], default="center")
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
    from genlab.metrics.inception import (
        InceptionFeatures,
        load_reference,
        resolve_weights,
        save_reference,
    )

    if (args.save_stats is None) == (args.b is None):
        parser.error("give two image sets A B, or one with --save-stats FILE")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("genlab-fid: error: --device cuda but this machine has no CUDA device")
    if args.side is not None and args.side < 1:
        parser.error("--side must be a positive number of pixels")
    try:
        net = InceptionFeatures(resolve_weights(args.weights)).to(args.device)
        if args.save_stats is not None:
            images = load_images(args.a, args.side, args.crop)
            pool, _ = extract(net, images, args.batch_size, args.device)
            source = f"{Path(args.a).resolve()} ({len(images)} images"
            source += f", side {args.side}, crop {args.crop})" if args.side else ")"
            save_reference(args.save_stats, pool, source)
            print(f"saved the features of {len(images)} images to {args.save_stats}")
            return {"count": float(len(images))}
        pool_a, logits_a = extract(
            net, load_images(args.a, args.side, args.crop), args.batch_size, args.device
        )
        if Path(args.b).suffix == ".pt" and Path(args.b).is_file():
            pool_b, _ = load_reference(args.b)
        else:
            pool_b, _ = extract(
                net, load_images(args.b, args.side, args.crop), args.batch_size, args.device
            )
    except GenlabError as err:
        raise SystemExit(f"genlab-fid: error: {err}") from err
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
