"""A folder of the user's own images, decoded once into a uint8 cache (torchvision's ImageFolder
convention: first-level subfolders are classes).

Every file under the folder whose suffix Pillow knows (PNG, JPEG, BMP, WebP, GIF, TIFF, ...) is an
image; other files (notes, .DS_Store) and hidden ones are ignored. Each image is turned upright
from its EXIF orientation, converted to the configured channels (transparency is composited over
black), centre-cropped to a square (or not), resized to the side with Pillow's antialiasing
bicubic filter, and kept as uint8. The decoded set is cached under
`<cache_dir>/image_folders/<key>/`, the key made of the folder's content (relative paths, sizes,
modification times) and the settings, so a changed folder is decoded again and an unchanged one
loads in seconds. Light to import (numpy and Pillow only): the config checks use it before any run
folder exists.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from genlab.errors import GenlabError

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

log = logging.getLogger(__name__)
CROPS = ("center", "none")
CHANNELS = (1, 3)
CACHE_FORMAT = 1  # part of the key: bump when decoding changes
PROGRESS_FROM = 500  # images: a progress bar from this many on (on a terminal)
SUBSET_SEED = 0  # data.limit keeps a fixed random subset, the same for every run


class ImageFolderError(GenlabError):
    """A folder of images that cannot be used as configured, with the fix."""


@dataclass(frozen=True)
class FolderSettings:
    """How a folder's images are turned into a data set (part of the cache key)."""

    channels: int
    side: int
    crop: str
    labels: bool
    skip_unreadable: bool
    limit: int | None


@dataclass(frozen=True)
class FolderListing:
    """The image files of a folder, sorted, with what identifies their content."""

    root: Path
    files: tuple[str, ...]  # relative to root, '/'-separated
    sizes: tuple[int, ...]
    mtimes: tuple[int, ...]  # nanoseconds

    def class_names(self) -> list[str]:
        """The first-level subfolders that hold images, sorted (ImageFolder's classes)."""
        return sorted({f.split("/", 1)[0] for f in self.files if "/" in f})


@dataclass(frozen=True)
class DecodedFolder:
    """A decoded folder: uint8 images (N, C, S, S; read-only and memory-mapped when read from the
    cache), labels (N,) or None, and what it came from."""

    images: np.ndarray
    labels: np.ndarray | None
    classes: list[str]
    key: str
    skipped: list[str]  # files that could not be decoded (data.skip_unreadable=true)
    decoded: bool  # False: read from the cache


def image_suffixes() -> frozenset[str]:
    """The file suffixes Pillow can open, lower case."""
    from PIL import Image

    return frozenset(suffix.lower() for suffix in Image.registered_extensions())


def list_images(path: str | Path | None) -> FolderListing:
    """The image files under `path`, or ImageFolderError for a missing or empty folder."""
    if path is None:
        raise ImageFolderError(
            "data=image_folder needs the folder of images: data.path=DIR (class subfolders"
            " optional)"
        )
    root = Path(path).expanduser()
    if not root.is_dir():
        what = "is a file, not a folder" if root.exists() else "does not exist"
        raise ImageFolderError(
            f"data.path={path}: {root.absolute()} {what}; point data.path at a folder of images"
        )
    suffixes = image_suffixes()
    found = []
    for folder, subfolders, names in os.walk(root, followlinks=True):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        for name in names:
            if not name.startswith(".") and os.path.splitext(name)[1].lower() in suffixes:
                full = Path(folder) / name
                found.append((full.relative_to(root).as_posix(), full.stat()))
    if not found:
        raise ImageFolderError(
            f"data.path={path}: no image files under {root.absolute()} (searched recursively for"
            " .png, .jpg, .jpeg, .bmp, .webp, .gif, .tif and the other formats Pillow reads);"
            " point data.path at the folder that holds them"
        )
    found.sort()
    return FolderListing(
        root=root.absolute(),
        files=tuple(f for f, _ in found),
        sizes=tuple(s.st_size for _, s in found),
        mtimes=tuple(s.st_mtime_ns for _, s in found),
    )


def settings_problems(settings: FolderSettings) -> list[str]:
    """Problems with the settings alone (no folder needed), each naming the key and the fix."""
    problems = []
    if settings.channels not in CHANNELS:
        problems.append(f"data.channels={settings.channels!r} must be 1 (grey) or 3 (RGB)")
    if not isinstance(settings.side, int) or isinstance(settings.side, bool) or settings.side < 4:
        problems.append(f"data.side={settings.side!r} must be an integer >= 4 (pixels)")
    if settings.crop not in CROPS:
        problems.append(f"data.crop={settings.crop!r}: use center or none")
    limit = settings.limit
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        problems.append(f"data.limit={settings.limit!r} must be a positive integer or null (all)")
    return problems


def chosen_files(listing: FolderListing, settings: FolderSettings) -> list[int]:
    """Indices of the files the data set uses: all, or a fixed random subset of data.limit."""
    count = len(listing.files)
    if settings.limit is None or settings.limit >= count:
        return list(range(count))
    order = np.random.default_rng(SUBSET_SEED).permutation(count)[: settings.limit]
    return sorted(int(i) for i in order)


def cache_key(listing: FolderListing, settings: FolderSettings) -> str:
    """sha256 (16 hex digits) of the folder's content and the settings."""
    content = {
        "format": CACHE_FORMAT,
        "settings": asdict(settings),
        "files": list(zip(listing.files, listing.sizes, listing.mtimes, strict=True)),
    }
    text = json.dumps(content, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cache_path(cache_dir: str | Path, key: str) -> Path:
    return Path(cache_dir) / "image_folders" / key


def labels_of(listing: FolderListing, indices: list[int]) -> np.ndarray:
    """Class indices (sorted subfolder names) of the chosen files, or -1 where a file lies
    directly in the folder."""
    classes = {name: i for i, name in enumerate(listing.class_names())}
    return np.array(
        [
            classes[f.split("/", 1)[0]] if "/" in f else -1
            for f in (listing.files[i] for i in indices)
        ],
        dtype=np.int64,
    )


def label_problem(listing: FolderListing, settings: FolderSettings) -> str | None:
    """Why the folder's layout does not give every image a class, when labels are asked for."""
    if not settings.labels or not listing.class_names():
        return None
    loose = [f for f in listing.files if "/" not in f]
    if not loose:
        return None
    return (
        f"data.path={listing.root}: {len(loose)} image(s) lie directly in the folder (e.g."
        f" {loose[0]}) beside class subfolders ({', '.join(listing.class_names()[:5])}); move"
        " them into a class subfolder, or set data.labels=false to train without classes"
    )


def memory_problem(count: int, settings: FolderSettings, max_bytes: int | None) -> str | None:
    """Why `count` images at these settings do not fit in memory as uint8, or None."""
    needed = count * settings.channels * settings.side * settings.side
    limit = max_bytes if max_bytes is not None else available_memory()
    if limit is None or needed <= limit:
        return None
    source = f"data.max_bytes={max_bytes:,}" if max_bytes is not None else "available memory"
    return (
        f"data=image_folder: {count:,} images of {settings.channels}x{settings.side}x"
        f"{settings.side} take {needed:,} bytes ({needed / 2**30:.2f} GiB) as uint8, more than"
        f" the {limit:,} bytes allowed ({source}); lower data.side or keep a fixed random subset"
        f" with data.limit=N (at most {max(1, limit // (needed // count)):,} images fit)"
    )


def available_memory() -> int | None:
    """Bytes of memory available now (Linux's MemAvailable), or None where unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _to_uint8_mode(image: PILImage) -> PILImage:
    """16-bit and float greyscale scaled to 8 bits (Pillow's own conversion would clip)."""
    from PIL import Image

    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
        scale = 257.0 if image.mode.startswith("I;16") or array.max() > 255 else 1.0
        return Image.fromarray(np.clip(array / scale + 0.5, 0, 255).astype(np.uint8), "L")
    if image.mode == "F":
        return Image.fromarray(np.clip(np.asarray(image) + 0.5, 0, 255).astype(np.uint8), "L")
    return image


def _flatten_alpha(image: PILImage) -> PILImage:
    """RGB or L with any transparency composited over black."""
    from PIL import Image

    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image


def decode_image(path: Path, settings: FolderSettings) -> np.ndarray:
    """One image file as uint8 (C, S, S) at the settings; raises what Pillow raises."""
    from PIL import Image, ImageOps

    with Image.open(path) as opened:
        opened.seek(0)  # the first frame of an animation
        image = ImageOps.exif_transpose(opened)
        image = _flatten_alpha(_to_uint8_mode(image))
        image = image.convert("RGB" if settings.channels == 3 else "L")
        if settings.crop == "center":
            width, height = image.size
            edge = min(width, height)
            left, top = (width - edge) // 2, (height - edge) // 2
            image = image.crop((left, top, left + edge, top + edge))
        if image.size != (settings.side, settings.side):
            image = image.resize((settings.side, settings.side), Image.Resampling.BICUBIC)
        array = np.asarray(image, dtype=np.uint8)
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def _decode_or_reason(path: Path, settings: FolderSettings) -> np.ndarray | str:
    try:
        return decode_image(path, settings)
    except Exception as err:  # Pillow raises many kinds for broken files
        return f"{type(err).__name__}: {str(err).splitlines()[0][:120] if str(err) else ''}"


def _progress(total: int, root: Path) -> Any:
    from tqdm import tqdm

    show = total >= PROGRESS_FROM and sys.stderr.isatty()
    return tqdm(total=total, desc=f"decoding {root.name}", unit="img", disable=not show)


def decode_folder(
    listing: FolderListing, indices: list[int], settings: FolderSettings
) -> tuple[np.ndarray, list[int], list[tuple[str, str]]]:
    """The chosen files decoded (threads: Pillow releases the GIL), the indices kept, and the
    files that failed with the reason."""
    paths = [listing.root / listing.files[i] for i in indices]
    workers = min(8, os.cpu_count() or 1)
    images, kept, failed = [], [], []
    bar = _progress(len(paths), listing.root)
    with ThreadPoolExecutor(max_workers=workers) as pool, bar:
        results = pool.map(lambda p: _decode_or_reason(p, settings), paths)
        for index, result in zip(indices, results, strict=True):
            bar.update(1)
            if isinstance(result, str):
                failed.append((listing.files[index], result))
            else:
                images.append(result)
                kept.append(index)
    shape = (0, settings.channels, settings.side, settings.side)
    stacked = np.stack(images) if images else np.zeros(shape, np.uint8)
    return stacked, kept, failed


def _unreadable_problem(listing: FolderListing, failed: list[tuple[str, str]]) -> str:
    shown = "; ".join(f"{name} ({reason})" for name, reason in failed[:5])
    more = f" and {len(failed) - 5} more" if len(failed) > 5 else ""
    return (
        f"data.path={listing.root}: {len(failed)} image file(s) cannot be decoded: {shown}{more};"
        " fix or remove them, or set data.skip_unreadable=true to train without them"
    )


def prepare_folder(
    path: str | Path | None,
    settings: FolderSettings,
    cache_dir: str | Path,
    max_bytes: int | None,
) -> DecodedFolder:
    """The folder's data set: from the cache, or decoded once and cached. Raises
    ImageFolderError, naming the fix, for a missing or empty folder, a layout without classes
    for every image, a set too large for memory, and files that cannot be decoded (unless
    data.skip_unreadable)."""
    problems = settings_problems(settings)
    if problems:
        raise ImageFolderError("; ".join(problems))
    listing = list_images(path)
    problem = label_problem(listing, settings)
    if problem:
        raise ImageFolderError(problem)
    indices = chosen_files(listing, settings)
    problem = memory_problem(len(indices), settings, max_bytes)
    if problem:
        raise ImageFolderError(problem)
    key = cache_key(listing, settings)
    cached = cache_path(cache_dir, key)
    if (cached / "meta.json").is_file():
        return _read_cache(cached, key)
    log.info("decoding %d images under %s (once; cached as %s)", len(indices), listing.root, key)
    images, kept, failed = decode_folder(listing, indices, settings)
    if failed and not settings.skip_unreadable:
        raise ImageFolderError(_unreadable_problem(listing, failed))
    if not kept:
        raise ImageFolderError(
            f"data.path={listing.root}: none of its {len(indices)} image files can be decoded"
            f" (e.g. {failed[0][0]}: {failed[0][1]})"
        )
    skipped = [name for name, _ in failed]
    if skipped:
        log.warning(
            "data.skip_unreadable: skipped %d file(s) that cannot be decoded (e.g. %s)",
            len(skipped),
            skipped[0],
        )
    classes = listing.class_names() if settings.labels else []
    labels = labels_of(listing, kept) if classes else None
    decoded = DecodedFolder(images, labels, classes, key, skipped, decoded=True)
    _write_cache(cached, decoded, listing)
    return decoded


def _write_cache(path: Path, decoded: DecodedFolder, listing: FolderListing) -> None:
    """The cache entry: a folder of .npy arrays (read at disk speed) and meta.json, written
    under a temporary name and renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.partial-{os.getpid()}")
    partial.mkdir()
    np.save(partial / "images.npy", decoded.images)
    if decoded.labels is not None:
        np.save(partial / "labels.npy", decoded.labels)
    meta = {"root": str(listing.root), "classes": decoded.classes, "skipped": decoded.skipped}
    (partial / "meta.json").write_text(json.dumps(meta))
    try:
        partial.rename(path)
    except OSError:  # another process cached the same folder first: its entry is the same
        shutil.rmtree(partial, ignore_errors=True)


def _read_cache(path: Path, key: str) -> DecodedFolder:
    """The cached set, its images memory-mapped (read-only): a check that only needs the count
    reads no pixels."""
    meta = json.loads((path / "meta.json").read_text())
    labels = np.load(path / "labels.npy") if (path / "labels.npy").is_file() else None
    images = np.load(path / "images.npy", mmap_mode="r")
    return DecodedFolder(images, labels, meta["classes"], key, meta["skipped"], decoded=False)
