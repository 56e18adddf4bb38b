"""DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training"):
random colour, translation and cutout transforms of image batches, differentiable with respect to
the images, that a GAN applies to real and fake images alike before every D evaluation.

The transforms follow the authors' DiffAugment_pytorch.py on images in [-1, 1], (B, C, H, W),
with one draw per image:
- color: brightness x + (u - 0.5); saturation (x - mean over C) * 2u + that mean; contrast
  (x - mean over C, H, W) * (u + 0.5) + that mean; each with its own u.
- translation: an integer shift uniform in [-s, s] per axis, s = int(side / 8 + 0.5); whole pixels
  move and what enters is 0 (zero padding).
- cutout: one square of int(side / 2 + 0.5) pixels set to 0, its centre's offset uniform in
  [0, side + 1 - size % 2) per axis, the square clipped at the borders.

The randomness comes from a draw callable the model supplies: `draw(m)` returns uniform [0, 1)
draws of shape (B, m), one row per image (GenerativeModel.rand_like: the seeded global RNG in a
plain run, each member's own generator in a member-batched one). Integer draws are floor(u * count),
so a member draws exactly what its plain run draws.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

# The policy names, the uniforms each takes per image, and the reference's ratios
POLICY_DRAWS = {"color": 3, "translation": 2, "cutout": 2}
KNOWN_POLICIES = tuple(POLICY_DRAWS)
TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5

Draw = Callable[[int], Tensor]  # draw(m): uniform [0, 1) of shape (B, m), one row per image


def parse_policy(policy: str) -> tuple[str, ...]:
    """The transform names of a comma-separated policy such as "color,translation,cutout" (any
    subset, applied in the order given); ValueError names unknown or repeated ones."""
    if not isinstance(policy, str):
        raise ValueError(
            f"augment policy {policy!r}: must be one string of {', '.join(KNOWN_POLICIES)}"
            " (comma-separated; quoted on Hydra's command line: model.augment='color,cutout'),"
            " or null (off)"
        )
    names = tuple(name.strip() for name in policy.split(","))
    unknown = [name for name in names if name not in POLICY_DRAWS]
    if unknown:
        raise ValueError(
            f"augment policy {policy!r}: unknown {', '.join(repr(n) for n in unknown)}; known:"
            f" {', '.join(KNOWN_POLICIES)} (any of them, comma-separated)"
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"augment policy {policy!r}: {', '.join(repeated)} given twice")
    return names


def _per_image(u: Tensor, x: Tensor) -> Tensor:
    """(B,) draws as (B, 1, 1, 1) factors in x's dtype."""
    return u.to(x.dtype).view(-1, 1, 1, 1)


def _integers(u: Tensor, count: int) -> Tensor:
    """Uniform integers in [0, count) from uniform [0, 1) draws: floor(u * count)."""
    return torch.floor(u * count).long().clamp_(0, count - 1)


def color(x: Tensor, u: Tensor) -> Tensor:
    """Brightness, saturation and contrast, with u (B, 3) their draws per image."""
    x = x + (_per_image(u[:, 0], x) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_per_image(u[:, 1], x) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_per_image(u[:, 2], x) + 0.5) + mean


def translation_shifts(u: Tensor, height: int, width: int) -> tuple[Tensor, Tensor]:
    """Per-image shifts (rows, columns), each uniform in [-s, s] with s = int(side / 8 + 0.5),
    from u (B, 2)."""
    shifts = []
    for column, side in enumerate((height, width)):
        reach = int(side * TRANSLATION_RATIO + 0.5)
        shifts.append(_integers(u[:, column], 2 * reach + 1) - reach)
    return shifts[0], shifts[1]


def translation(x: Tensor, u: Tensor) -> Tensor:
    """Each image moved by whole pixels (translation_shifts of u (B, 2)), zeros entering: output
    pixel (i, j) is input pixel (i + rows, j + columns), or 0 where that lies outside."""
    batch, channels, height, width = x.shape
    rows_shift, cols_shift = translation_shifts(u, height, width)
    rows = torch.arange(height, device=x.device) + rows_shift.view(-1, 1)  # (B, H) source rows
    cols = torch.arange(width, device=x.device) + cols_shift.view(-1, 1)  # (B, W)
    inside = ((rows >= 0) & (rows < height)).view(batch, 1, height, 1) & (
        (cols >= 0) & (cols < width)
    ).view(batch, 1, 1, width)
    source = rows.clamp(0, height - 1).view(batch, height, 1) * width + cols.clamp(
        0, width - 1
    ).view(batch, 1, width)
    index = source.view(batch, 1, height * width).expand(batch, channels, height * width)
    moved = x.reshape(batch, channels, height * width).gather(2, index)
    return moved.view(batch, channels, height, width).masked_fill(~inside, 0)


def cutout_squares(u: Tensor, height: int, width: int) -> Tensor:
    """Per-image masks (B, H, W), True inside the cutout square of u (B, 2): int(side / 2 + 0.5)
    pixels a side, its offset uniform in [0, side + 1 - size % 2), clipped at the borders."""
    inside = []
    for column, side in enumerate((height, width)):
        size = int(side * CUTOUT_RATIO + 0.5)
        offset = _integers(u[:, column], side + (1 - size % 2))
        start = (offset - size // 2).view(-1, 1)
        index = torch.arange(side, device=u.device)
        inside.append((index >= start) & (index < start + size))  # (B, side)
    return inside[0].unsqueeze(2) & inside[1].unsqueeze(1)


def cutout(x: Tensor, u: Tensor) -> Tensor:
    """Each image with one square set to 0 (cutout_squares of u (B, 2))."""
    square = cutout_squares(u, x.shape[2], x.shape[3])
    return x.masked_fill(square.unsqueeze(1), 0)


TRANSFORMS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "color": color,
    "translation": translation,
    "cutout": cutout,
}


class DiffAugment:
    """The policy's transforms applied in its order to an image batch (B, C, H, W), with fresh
    draws per call: one draw(m) of all the m uniforms the policy takes per image."""

    def __init__(self, policy: str) -> None:
        self.transforms = parse_policy(policy)
        self.policy = ",".join(self.transforms)
        self.draws_per_image = sum(POLICY_DRAWS[name] for name in self.transforms)

    def __call__(self, x: Tensor, draw: Draw) -> Tensor:
        if x.dim() != 4:
            raise ValueError(
                f"DiffAugment ({self.policy}) needs image batches (B, C, H, W), got shape"
                f" {tuple(x.shape)}"
            )
        u = draw(self.draws_per_image)
        if u.shape != (x.shape[0], self.draws_per_image):
            raise ValueError(
                f"DiffAugment's draw returned shape {tuple(u.shape)}, expected"
                f" {(x.shape[0], self.draws_per_image)} (one row per image)"
            )
        first = 0
        for name in self.transforms:
            x = TRANSFORMS[name](x, u[:, first : first + POLICY_DRAWS[name]])
            first += POLICY_DRAWS[name]
        return x

    def __repr__(self) -> str:
        return f"DiffAugment({self.policy!r})"
