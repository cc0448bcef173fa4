"""Finding, checking and converting the images a table refers to.

Rows name their image by a file name, a relative path, or a bare stem (HAM10000's ``image_id`` is
``ISIC_0027419`` for ``ISIC_0027419.jpg``). :class:`ImageIndex` lists the image folder once and
resolves such references; :func:`detect_image_column` picks the column whose values match files.

Conversion rule (stated because it changes what the model sees): EXIF orientation is applied;
transparency is flattened onto white; the image is **centre-cropped to a square** on its shorter
side (nothing is padded or stretched) and then **resized with Lanczos** to ``size × size``; the mode
is ``L`` when every image is grayscale (by mode, or RGB with equal channels) and ``RGB`` otherwise.
Pillow's decompression-bomb limit (``Image.MAX_IMAGE_PIXELS``) is kept: a larger image is refused
before its pixels are decoded. JPEGs are decoded at a reduced scale (``draft``), which makes 10k
dermatoscopy photos take seconds rather than minutes and does not change a 32×32 result visibly.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
from PIL import Image, ImageOps, UnidentifiedImageError

ProgressFn = Callable[[int, int], None]
"""Called as ``progress(done, total)`` while images are checked."""


@dataclass(frozen=True)
class ImageScanConfig:
    """Tunables of the image scan, each with its reason.

    ``workers``: threads decoding in parallel — Pillow releases the GIL while decoding, so threads
    scale on the cores without the cost of processes. ``min_match_fraction``: a column is taken as
    the image column when at least this share of its values resolve to files (leaves room for a
    few missing images, which are then reported, while rejecting coincidental matches).
    ``progress_every``: how many images between progress callbacks.
    """

    workers: int = 8
    min_match_fraction: float = 0.5
    progress_every: int = 250


DEFAULT_SCAN_CONFIG = ImageScanConfig()


class ImageIndex:
    """The files under an image folder, addressable by relative path, by name, and by stem.

    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> (root / "scans").mkdir(); _ = (root / "scans" / "ISIC_1.jpg").write_bytes(b"x")
    >>> index = ImageIndex(root)
    >>> [index.resolve(v) for v in ["scans/ISIC_1.jpg", "ISIC_1.jpg", "ISIC_1", "nope.jpg"]]
    ['scans/ISIC_1.jpg', 'scans/ISIC_1.jpg', 'scans/ISIC_1.jpg', None]
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.files: list[str] = sorted(
            p.relative_to(self.root).as_posix()
            for p in self.root.rglob("*")
            if p.is_file()
            and not any(part.startswith(".") or part == "__MACOSX" for part in p.relative_to(self.root).parts)
        )
        self._by_path = {f.lower(): f for f in self.files}
        self._by_name: dict[str, list[str]] = {}
        self._by_stem_path: dict[str, list[str]] = {}
        self._by_stem: dict[str, list[str]] = {}
        for f in self.files:
            pure = PurePosixPath(f)
            self._by_name.setdefault(pure.name.lower(), []).append(f)
            self._by_stem_path.setdefault(str(pure.with_suffix("")).lower(), []).append(f)
            self._by_stem.setdefault(pure.stem.lower(), []).append(f)

    def candidates(self, reference: str) -> list[str]:
        """Every file ``reference`` may mean: the exact relative path first, then by name, then by stem."""
        ref = reference.strip().replace("\\", "/").removeprefix("./").lower()
        if not ref:
            return []
        if ref in self._by_path:
            return [self._by_path[ref]]
        name = PurePosixPath(ref).name
        return self._by_name.get(name) or self._by_stem_path.get(ref) or self._by_stem.get(name, [])

    def is_exact(self, reference: str) -> bool:
        """True when ``reference`` names a file with its extension (not only by stem)."""
        ref = reference.strip().replace("\\", "/").removeprefix("./")
        found = self.candidates(ref)
        return bool(found) and PurePosixPath(found[0]).name.lower() == PurePosixPath(ref).name.lower()

    def resolve(self, reference: str) -> str | None:
        """The one file ``reference`` names (the first in sorted order when it is ambiguous), or None."""
        found = self.candidates(reference)
        return found[0] if found else None

    def path(self, relative: str) -> Path:
        return self.root / relative


def detect_image_column(
    frame: pd.DataFrame, index: ImageIndex, *, config: ImageScanConfig = DEFAULT_SCAN_CONFIG
) -> tuple[str | None, dict[str, float]]:
    """The column whose values best match files (None when none reaches the threshold) and each column's match share.

    Ties (``P1`` and ``p1.png`` both match ``p1.png``) go to the column naming files with their extension.
    """
    shares: dict[str, float] = {}
    exact: dict[str, float] = {}
    sample_size = 500
    for name in frame.columns:
        values = frame[name].dropna()
        if values.empty:
            continue
        sample = [str(v) for v in values.iloc[:: max(1, len(values) // sample_size)]]
        shares[name] = float(np.mean([index.resolve(v) is not None for v in sample]))
        exact[name] = float(np.mean([index.is_exact(v) for v in sample]))
    best = max(shares, key=lambda n: (shares[n], exact[n]), default=None)
    if best is None or shares[best] < config.min_match_fraction:
        return None, shares
    return best, shares


@dataclass(frozen=True)
class ImageResult:
    """One file's outcome: the converted pixels (RGB, size×size), whether it is grayscale, or why it failed."""

    pixels: np.ndarray | None
    grayscale: bool
    error_rule: str | None = None
    error: str | None = None


def load_image(path: Path, *, size: int) -> ImageResult:
    """Open, check and convert one image by the module's rule; failures come back as a rule + message."""
    try:
        with Image.open(path) as img:
            width, height = img.size
            if width * height > (Image.MAX_IMAGE_PIXELS or float("inf")):
                return ImageResult(
                    None,
                    False,
                    "image_too_large",
                    f"{width}×{height} pixels exceeds Pillow's decompression-bomb limit of "
                    f"{Image.MAX_IMAGE_PIXELS:,} pixels",
                )
            gray_mode = img.mode in ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")
            if img.format == "JPEG":
                img.draft("RGB" if img.mode != "L" else "L", (size * 2, size * 2))
            img.load()
            img = _to_rgb(ImageOps.exif_transpose(img))
            img = ImageOps.fit(img, (size, size), method=Image.Resampling.LANCZOS, centering=(0.5, 0.5))
            pixels = np.asarray(img, dtype=np.uint8)
    except Image.DecompressionBombError as exc:
        return ImageResult(None, False, "image_too_large", str(exc))
    except UnidentifiedImageError:
        return ImageResult(None, False, "image_not_an_image", "Pillow does not recognise this file as an image")
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError, ZeroDivisionError) as exc:
        return ImageResult(None, False, "image_corrupt", f"the image is truncated or corrupt ({exc})")
    grayscale = gray_mode or bool((pixels[..., 0] == pixels[..., 1]).all() and (pixels[..., 1] == pixels[..., 2]).all())
    return ImageResult(pixels, grayscale)


def _to_rgb(img: Image.Image) -> Image.Image:
    """RGB with transparency flattened onto white; 16/32-bit grayscale scaled to 8 bits."""
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        values = np.asarray(img, dtype=np.float64)
        top = 65535.0 if values.max(initial=0) > 255 else 255.0
        img = Image.fromarray(np.clip(values / top * 255.0, 0, 255).astype(np.uint8), mode="L")
    if img.mode in ("RGBA", "LA", "PA", "P") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def load_images(
    paths: Iterable[Path],
    *,
    size: int,
    config: ImageScanConfig = DEFAULT_SCAN_CONFIG,
    progress: ProgressFn | None = None,
) -> list[ImageResult]:
    """:func:`load_image` on every path, in parallel threads, results in input order."""
    paths = list(paths)
    results: list[ImageResult] = []
    with warnings.catch_warnings():
        # Our own pixel check above reports bombs as issues; Pillow's warning would only add noise.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with ThreadPoolExecutor(max_workers=config.workers) as pool:
            for done, result in enumerate(pool.map(lambda p: load_image(p, size=size), paths), start=1):
                results.append(result)
                if progress is not None and (done % config.progress_every == 0 or done == len(paths)):
                    progress(done, len(paths))
    return results


def to_mode(pixels: np.ndarray, mode: str) -> np.ndarray:
    """(n, H, W, 3) RGB uint8 → (n, H, W, 1) luminance for mode ``L`` (ITU-R 601), unchanged for ``RGB``."""
    if mode == "RGB":
        return pixels
    weights = np.array([0.299, 0.587, 0.114])
    return np.clip(np.rint(pixels.astype(np.float64) @ weights), 0, 255).astype(np.uint8)[..., None]
