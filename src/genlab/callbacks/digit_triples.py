"""Stacked digits drawn for people: each sample's three channels as three grey digits side by
side, with the domain evaluator's reading ("3-7-1") under it where there is one.

A stacked sample is one RGB image of three overlaid digits, which nobody can read as three
digits; this is the picture genlab writes of them instead (the run's pictures, genlab-sample)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

CANVAS = 255  # white paper around the digits (black background, white strokes)
INK = 0  # the caption's text


def is_stacked(datamodule: Any) -> bool:
    """Whether the data are stacked digits: the data module has the `digit_set` capability."""
    return datamodule.capability("digit_set") is not None


def readings(digits: torch.Tensor) -> list[str]:
    """Captions "3-7-1" of (N, 3) digits, one per sample."""
    return ["-".join(str(int(d)) for d in triple) for triple in digits]


def triples_grid(
    images: torch.Tensor, nrow: int = 8, captions: list[str] | None = None
) -> torch.Tensor:
    """(3, H, W) uint8 picture of stacked samples (N, 3, S, S) in [-1, 1] (clamped), drawn at
    their size: `nrow` samples a row, each as its R, G, B channels side by side in grey, with
    `captions[i]` (Pillow's default font, scaled with S) centred under sample i."""
    from PIL import Image, ImageDraw, ImageFont

    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"stacked samples are (N, 3, S, S), not {list(images.shape)}")
    if captions is not None and len(captions) != len(images):
        raise ValueError(f"{len(captions)} captions for {len(images)} samples")
    grey = ((images.clamp(-1, 1) + 1) / 2).mul(255).add_(0.5).clamp_(0, 255)
    digits = grey.to(torch.uint8).numpy()  # (N, 3, P, P), rounded as EncodedPicture does
    count, side = len(digits), digits.shape[-1]
    gap = max(2, side // 32)  # between one sample's three digits
    margin = max(8, side // 4)  # between samples
    cell_width = 3 * side + 2 * gap
    font, caption_top, caption_height = None, 0, 0
    if captions is not None:
        font = ImageFont.load_default(size=max(12, side // 3))
        caption_top, caption_height = gap, font.getbbox("0-9")[3] + gap  # to the text's foot
    columns, rows = min(count, nrow), math.ceil(count / nrow)
    row_height = side + caption_top + caption_height
    canvas = np.full(
        (rows * row_height + (rows + 1) * margin, columns * cell_width + (columns + 1) * margin),
        CANVAS,
        dtype=np.uint8,
    )
    corners = []
    for index, sample in enumerate(digits):
        row, column = divmod(index, nrow)
        top = margin + row * (row_height + margin)
        left = margin + column * (cell_width + margin)
        for channel in range(3):
            x = left + channel * (side + gap)
            canvas[top : top + side, x : x + side] = sample[channel]
        corners.append((top, left))
    picture = Image.fromarray(canvas)  # grey (L)
    if captions is not None:
        draw = ImageDraw.Draw(picture)
        for (top, left), caption in zip(corners, captions, strict=True):
            x0, _, x1, _ = draw.textbbox((0, 0), caption, font=font)
            x = left + (cell_width - (x1 - x0)) // 2 - x0
            draw.text((x, top + side + caption_top), caption, fill=INK, font=font)
    return torch.from_numpy(np.asarray(picture.convert("RGB")).copy()).permute(2, 0, 1)
