"""Which image sides a conv net can build, in plain Python: the nets use it to lay themselves
out, the config checks to refuse a side before any run folder exists."""

from __future__ import annotations

from collections.abc import Sequence

DCGAN_SMALLEST_START = 4  # the reference DCGAN starts at 4x4 (7x7 at side 28)


def dcgan_auto_stages(side: int) -> int:
    """Stride-2 stages from the smallest map of >= 4 pixels an exact halving reaches, to `side`:
    4 at 64 (4x4), 3 at 32 (4x4), 2 at 28 (7x7), 1 at 8 (4x4); 0 where none is reached."""
    stages = 0
    while side % 2 == 0 and side // 2 >= DCGAN_SMALLEST_START:
        side //= 2
        stages += 1
    return stages


def dcgan_side_problem(side: int, stages: int | None) -> str | None:
    """Why a DCGAN cannot be laid out at `side` with `stages` stride-2 stages (None: as many as
    dcgan_auto_stages gives), or None when it can."""
    if stages is None:
        if dcgan_auto_stages(side) == 0:
            return (
                f"net=dcgan cannot build side {side}: it needs a side that halves exactly to a"
                f" map of >= {DCGAN_SMALLEST_START} pixels (8, 16, 28, 32, 48, 64, 128, ...);"
                " set data.side to such a side, or use net=mlp"
            )
        return None
    if not isinstance(stages, int) or isinstance(stages, bool) or stages < 1:
        return f"net.stages={stages!r} must be a positive integer, or null (as the side allows)"
    if side % 2**stages:
        return (
            f"net.stages={stages} needs a side divisible by {2**stages}, not {side}; set"
            f" net.stages=null (for side {side}: {dcgan_auto_stages(side) or 'none'}) or change"
            " data.side"
        )
    return None


def dcgan_stages(side: int, stages: int | None) -> int:
    """The stage count a DCGAN at `side` uses, or ValueError saying why it cannot be built."""
    problem = dcgan_side_problem(side, stages)
    if problem:
        raise ValueError(problem)
    return dcgan_auto_stages(side) if stages is None else stages


def resnet_side_problem(
    side: int,
    known_sides: Sequence[int | str],
    generator_widths: Sequence[int] | None,
    discriminator_widths: Sequence[int] | None,
    discriminator_downsamples: int | None,
) -> str | None:
    """What makes net=resnet's widths unfit for square images of this side, or None."""
    if (
        generator_widths is None
        or discriminator_widths is None
        or discriminator_downsamples is None
    ):
        return resnet_unknown_side(side, known_sides)
    return resnet_generator_problem(side, generator_widths) or resnet_discriminator_problem(
        side, discriminator_widths, discriminator_downsamples
    )


def resnet_unknown_side(side: int, known_sides: Sequence[int | str]) -> str:
    return (
        f"net=resnet has mimicry's widths for image sides {', '.join(map(str, known_sides))},"
        f" not {side}: resize the images to one of them (data=image_folder: data.side=...),"
        " or set net.generator_widths, net.discriminator_widths and"
        " net.discriminator_downsamples yourself, or use net=dcgan"
    )


def _positive_ints(widths: Sequence[int]) -> bool:
    return all(isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in widths)


def resnet_generator_problem(side: int, widths: Sequence[int]) -> str | None:
    up_blocks = len(widths) - 1
    if not _positive_ints(widths) or up_blocks < 1 or side % 2**up_blocks:
        return (
            f"net.generator_widths={list(widths)} must be at least two positive integers: the"
            f" start width, then one per up-block, with side {side} a multiple of 2**(up-blocks)"
        )
    return None


def resnet_discriminator_problem(side: int, widths: Sequence[int], downsamples: int) -> str | None:
    if not _positive_ints(widths) or not widths:
        return f"net.discriminator_widths={list(widths)} must be a list of positive integers"
    if not 1 <= downsamples <= len(widths) or side % 2**downsamples:
        return (
            f"net.discriminator_downsamples={downsamples} must be between 1 (the first block"
            f" always halves) and the {len(widths)} blocks of net.discriminator_widths, with"
            f" side {side} a multiple of 2**{downsamples}"
        )
    return None
