"""genlab-sample ckpt_path=<run>/checkpoints/last.ckpt [n=64] [seed=0] [out=...] [...]: generate
from a trained run's checkpoint.

The run is rebuilt from the config it recorded, like genlab-eval (run/rebuild.py;
weights-only loading; the EMA generator where the run has one, as in its own pictures). Options
and their defaults: conf/sample.yaml; any other key=value overrides the run's config
(trainer.accelerator=cpu keeps it off the GPU), except keys that change the model.
Writes into `out`:

- `samples.npy`: the n samples, float32, in the data's model space ([-1, 1] for images);
- `grid.png` (images: the run's enlargement rule; stacked digits: each sample's three digits side
  by side in grey, the reading of the run's digits evaluator under it) or `scatter.png` (2-D
  data: the points over the real mixture, as the run draws them);
- with singles=true, `images/00000.png` ...; with walk=K, `walk.png`: walk_rows walks of K frames
  along great circles between seeded latents (spherical interpolation, for Gaussian latents);
- for a VAE on images, `reconstructions.png`: real images each beside its reconstruction.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from genlab import CONF_DIR
from genlab.errors import ConfigError, GenlabError

OPTIONS_FILE = CONF_DIR / "sample.yaml"


def parse_arguments(argv: list[str]) -> tuple[Path, Any, list[str]]:
    """(checkpoint, the options of conf/sample.yaml with those given, the run overrides)."""
    from omegaconf import OmegaConf

    options = OmegaConf.load(OPTIONS_FILE)
    ckpt = [a.split("=", 1)[1] for a in argv if a.startswith("ckpt_path=")]
    if len(ckpt) != 1:
        raise ConfigError("usage: genlab-sample ckpt_path=<run>/checkpoints/last.ckpt [n=64] [...]")
    given, overrides = [], []
    for arg in argv:
        key = arg.split("=", 1)[0]
        if key == "ckpt_path":
            continue
        (given if key in options else overrides).append(arg)
    malformed = [a for a in given if "=" not in a]
    if malformed:
        raise ConfigError(f"{malformed[0]}: options are key=value, e.g. n=64")
    options.merge_with(OmegaConf.from_dotlist(given))
    for key in ("n", "seed", "nrow", "walk", "walk_rows", "reconstructions"):
        if not isinstance(options[key], int) or isinstance(options[key], bool):
            raise ConfigError(f"{key}={options[key]}: needs a whole number")
    if options.n < 1 or options.nrow < 1:
        raise ConfigError(f"n={options.n}, nrow={options.nrow}: both must be at least 1")
    if options.walk < 0 or options.walk == 1 or options.walk_rows < 1:
        raise ConfigError(
            f"walk={options.walk}, walk_rows={options.walk_rows}: a walk needs at least 2 frames"
            " (0: none) and at least 1 row"
        )
    side = options.min_image_side
    if side is not None and (not isinstance(side, int) or isinstance(side, bool) or side < 1):
        raise ConfigError(f"min_image_side={side}: needs a whole number >= 1, or null")
    if options.reconstructions < 0:
        raise ConfigError(f"reconstructions={options.reconstructions}: must be >= 0")
    return Path(ckpt[0]), options, overrides


def slerp(z0: Any, z1: Any, steps: int) -> Any:
    """`steps` points from z0 to z1 (rows of (B, d)) along the great circle through them, with
    the norm interpolated linearly: how a Gaussian latent space is walked."""
    import torch

    t = torch.linspace(0, 1, steps).view(1, steps, 1)
    n0, n1 = z0.norm(dim=1, keepdim=True), z1.norm(dim=1, keepdim=True)
    u0, u1 = z0 / n0, z1 / n1
    omega = torch.arccos((u0 * u1).sum(dim=1, keepdim=True).clamp(-1, 1)).unsqueeze(1)
    sin = torch.sin(omega)
    straight = sin.abs() < 1e-6  # (nearly) the same direction: a straight line
    safe = torch.where(straight, torch.ones_like(sin), sin)
    w0 = torch.where(straight, 1 - t, torch.sin((1 - t) * omega) / safe)
    w1 = torch.where(straight, t, torch.sin(t * omega) / safe)
    direction = w0 * u0.unsqueeze(1) + w1 * u1.unsqueeze(1)
    direction = direction / direction.norm(dim=2, keepdim=True)
    norm = (1 - t) * n0.unsqueeze(1) + t * n1.unsqueeze(1)
    return direction * norm  # (B, steps, d)


def generate(ckpt_path: Path, options: Any, overrides: list[str]) -> dict[str, Path]:
    """Write the outputs (module docstring) and return them by name."""
    import numpy as np
    import torch
    from omegaconf import OmegaConf

    from genlab.callbacks.samples import EncodedPicture, ScatterCanvas, enlarged, images_picture
    from genlab.run.rebuild import rebuild

    run = rebuild(ckpt_path, overrides)
    model, datamodule = run.model, run.datamodule
    accelerator = str(run.cfg.trainer.get("accelerator", "auto"))
    if torch.cuda.is_available() and accelerator != "cpu":
        model.to("cuda")
    out = Path(options.out) if options.out else None
    out = out or run.run_dir / "samples" / f"{ckpt_path.stem}_seed{options.seed}"
    out.mkdir(parents=True, exist_ok=True)
    min_side = options.min_image_side
    if min_side is None:  # as the run's pictures; 1: as generated, when the run drew none
        min_side = OmegaConf.select(run.cfg, "callbacks.samples.min_image_side", default=None) or 1
    min_side = int(min_side)
    generator = torch.Generator().manual_seed(int(options.seed))
    z = torch.randn(options.n, model.latent_dim, generator=generator)
    samples = model.sample(options.n, z).float().cpu()
    written = {"samples": out / "samples.npy"}
    np.save(written["samples"], samples.numpy())

    def picture(name: str, image: Any) -> None:
        written[name] = out / f"{name}.png"
        written[name].write_bytes(EncodedPicture.encode(image).png)

    if datamodule.kind == "points":
        canvas = ScatterCanvas(datamodule.reference_batch(max(options.n, 2000)))
        picture("scatter", canvas.render(samples, f"{options.n} samples, seed {options.seed}"))
        return written
    from genlab.callbacks.digit_triples import is_stacked

    stacked = is_stacked(datamodule)
    reader = digit_reader(run.cfg, datamodule) if stacked else None

    def draw(images: Any, nrow: int) -> Any:  # the run's picture of images (stacked: readable)
        return images_picture(images, min_side, nrow=nrow, stacked=stacked, reader=reader)

    picture("grid", draw(samples, int(options.nrow)))
    if options.singles:
        folder = out / "images"
        folder.mkdir(exist_ok=True)
        for index, image in enumerate(samples):
            path = folder / f"{index:05d}.png"
            single = (enlarged(image, min_side) + 1) / 2  # [0, 1], no grid padding
            single = single.expand(3, -1, -1) if single.shape[0] == 1 else single  # RGB PNG
            path.write_bytes(EncodedPicture.encode(single).png)
        written["images"] = folder
    if options.walk:
        ends = torch.randn(2, options.walk_rows, model.latent_dim, generator=generator)
        path = slerp(ends[0], ends[1], int(options.walk)).flatten(0, 1)
        frames = model.sample(path.shape[0], path).float().cpu()
        picture("walk", draw(frames, int(options.walk)))
    if options.reconstructions and hasattr(model, "reconstruct"):
        real = datamodule.reference_batch(int(options.reconstructions))
        with torch.no_grad():
            rebuilt = model.reconstruct(real).float().cpu()
        pairs = torch.stack([real, rebuilt], dim=1).flatten(0, 1)  # original, reconstruction
        per_row = 2 * max(1, options.nrow // 2)  # whole pairs per row, as the run's pictures
        picture("reconstructions", draw(pairs, per_row))
    return written


def digit_reader(cfg: Any, datamodule: Any) -> Any:
    """The run's stacked-digits metrics suite with its evaluator (from the cache under
    paths.cache_dir, trained and cached when missing, as the suite's setup does), which reads
    each sample's three digits for the pictures; None when the run's metrics do not read digits
    (metrics=none: add metrics=stacked_digits or stacked_mnist to get the readings)."""
    from hydra.utils import instantiate

    from genlab.metrics.suites import StackedDigitsSuite

    suite = instantiate(cfg.metrics.suite) if cfg.metrics.suite is not None else None
    if not isinstance(suite, StackedDigitsSuite):
        return None
    suite.setup_evaluator(datamodule, cfg.paths.cache_dir)
    return suite


def run(argv: list[str]) -> dict[str, Path]:
    """Generate, print what was written; bad input exits with code 2 before any work."""
    from genlab.run.folder import FolderLock

    lock = None
    try:
        ckpt_path, options, overrides = parse_arguments(argv)
        if options.out is None and ckpt_path.is_file():  # it writes into the run folder
            lock = FolderLock.acquire(ckpt_path.parent.parent, doing="write samples")
        written = generate(ckpt_path, options, overrides)
    except GenlabError as err:
        print(f"genlab-sample: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    except Exception as err:  # Hydra's messages for an unknown or malformed override
        if type(err).__module__.startswith(("hydra", "omegaconf")):
            print(f"genlab-sample: error: {err}", file=sys.stderr)
            raise SystemExit(2) from None
        raise
    finally:
        if lock is not None:
            lock.release()
    for name, path in written.items():
        print(f"{name:<16} {path}")
    return written


def main() -> None:
    """Console entry point."""
    run(sys.argv[1:])


if __name__ == "__main__":
    main()
