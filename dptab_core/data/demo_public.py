"""The demo's *public* labelled image set, ``public/<label>/*.png``, for the PrivImage semantic query.

PrivImage pre-trains the image model on the part of a public dataset that looks like the sensitive
images: a classifier trained on the public labels votes (under DP) for the labels the sensitive photos
resemble. To show that stage doing something, the set needs many labels of which only a few are
close to skin-lesion photos (:data:`CLOSE_LABELS`), the rest far (sky, grass, brick wall, text…).
All drawn procedurally and deterministically from the seed, with the camera effects of the lesion
photos so that the classifier cannot tell the sets apart by noise or lighting alone.

>>> import numpy as np
>>> imgs = draw_label("brick_wall", 3, rng=np.random.default_rng(0))
>>> imgs.shape, imgs.dtype
((3, 32, 32, 3), dtype('uint8'))
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from dptab_core.data.demo_images import (
    STYLE,
    blob_alpha,
    draw_hairs,
    finish,
    grid,
    save_pngs,
    skin_background,
    smooth_noise,
)

CLOSE_LABELS = ("skin_close_up", "mole", "rash", "freckles")
"""Labels semantically close to the demo's lesion photos: the semantic query should pick these."""
FAR_LABELS = ("sky", "grass", "brick_wall", "water", "sand", "text", "stripes", "checkerboard", "wood", "pebbles")
PUBLIC_LABELS = CLOSE_LABELS + FAR_LABELS

Drawer = Callable[[np.random.Generator, int, int], np.ndarray]


def write_public_set(root: Path, *, per_label: int, size: int, rng: np.random.Generator) -> dict[str, int]:
    """Write ``root/<label>/<label>_NNNN.png`` for every label; returns the image count per label."""
    counts = {}
    for label, label_rng in zip(PUBLIC_LABELS, rng.spawn(len(PUBLIC_LABELS)), strict=True):
        folder = root / label
        folder.mkdir(parents=True, exist_ok=True)
        images = draw_label(label, per_label, rng=label_rng, size=size)
        save_pngs(images, [folder / f"{label}_{i:04d}.png" for i in range(per_label)])
        counts[label] = per_label
    return counts


def draw_label(label: str, n: int, *, rng: np.random.Generator, size: int = 32) -> np.ndarray:
    """``n`` uint8 images ``(n, size, size, 3)`` of one public label."""
    if n == 0:
        return np.zeros((0, size, size, 3), np.uint8)
    yy, xx = grid(size)
    return finish(_DRAWERS[label](rng, n, size), rng, yy, xx)


def _random_skin(rng: np.random.Generator, n: int, size: int, darkest: int = 5) -> np.ndarray:
    """Skin of a tone drawn anywhere between Fitzpatrick I and ``darkest`` (0-based index)."""
    tones = np.array(list(STYLE.skin_tones.values()), np.float32)
    pos = rng.uniform(0, darkest, n)
    low = np.floor(pos).astype(int)
    high = np.minimum(low + 1, len(tones) - 1)
    tone = tones[low] + (pos - low)[:, None] * (tones[high] - tones[low])
    return skin_background(rng, tone, size)


def _spots(
    rng: np.random.Generator,
    img: np.ndarray,
    counts: np.ndarray,
    radius: tuple[float, float],
    colour: np.ndarray,
    opacity: float,
) -> None:
    """Small soft round spots blended onto ``img`` (in place); ``colour`` is ``(n, 3)``."""
    yy, xx = grid(img.shape[1])
    for k in range(int(counts.max(initial=0))):
        centre = rng.uniform(0, img.shape[1], (len(img), 2))
        r = rng.uniform(*radius, (len(img), 1, 1))
        d2 = (yy[None] - centre[:, 0, None, None]) ** 2 + (xx[None] - centre[:, 1, None, None]) ** 2
        a = (opacity * (counts > k)[:, None, None] * np.exp(-d2 / r**2))[..., None]
        img[:] = img * (1 - a) + colour[:, None, None, :] * a


def _skin_close_up(rng, n, size):
    img = _random_skin(rng, n, size)
    yy, xx = grid(size)
    draw_hairs(img, rng, rng.integers(0, 6, n), yy, xx, colour=STYLE.hair_colour, dense=np.zeros(n, bool))
    return img


def _mole(rng, n, size):
    img = _random_skin(rng, n, size)
    yy, xx = grid(size)
    alpha, depth = blob_alpha(
        rng, rng.uniform(1.5, 5.5, n), yy, xx, irregularity=0.05, softness=0.6, max_aspect=1.3, centre_jitter=3.0
    )
    colour = np.array([112, 70, 44], np.float32) * rng.uniform(0.6, 1.2, (n, 1, 1, 1))
    colour = colour * (1 - 0.2 * depth[..., None])
    a = alpha[..., None] * 0.92
    return img * (1 - a) + colour * a


def _rash(rng, n, size):
    img = _random_skin(rng, n, size, darkest=4)
    flush = np.clip(smooth_noise(rng, n, size, cells=3), 0, None)[..., None] * 0.12
    img = img * (1 - flush) + np.array([200, 60, 60], np.float32) * flush
    red = np.array([190, 50, 55], np.float32) * rng.uniform(0.8, 1.1, (n, 1))
    _spots(rng, img, rng.integers(12, 40, n), (0.6, 1.6), red, 0.75)
    return img


def _freckles(rng, n, size):
    img = _random_skin(rng, n, size, darkest=2)
    brown = np.array([170, 110, 70], np.float32) * rng.uniform(0.85, 1.05, (n, 1))
    _spots(rng, img, rng.integers(15, 45, n), (0.4, 0.9), brown, 0.6)
    return img


def _sky(rng, n, size):
    yy, _ = grid(size)
    top = np.array([60, 110, 200], np.float32) * rng.uniform(0.8, 1.15, (n, 1, 1, 1))
    bottom = np.array([170, 200, 238], np.float32) * rng.uniform(0.9, 1.05, (n, 1, 1, 1))
    t = (yy / (size - 1))[None, ..., None]
    img = top * (1 - t) + bottom * t
    clouds = np.clip(smooth_noise(rng, n, size, cells=5) - rng.uniform(0.0, 1.2, (n, 1, 1)), 0, 1)[..., None]
    return img * (1 - clouds) + 245 * clouds


def _grass(rng, n, size):
    img = np.array([58, 112, 38], np.float32) * rng.uniform(0.7, 1.2, (n, 1, 1, 1)) * np.ones((n, size, size, 1))
    yy, xx = grid(size)
    for shade in ((30, 70, 20), (120, 170, 70)):
        draw_hairs(img, rng, rng.integers(15, 30, n), yy, xx, colour=shade, dense=np.zeros(n, bool), length=(5, 12))
    return img


def _brick_wall(rng, n, size):
    yy, xx = grid(size)
    height = rng.uniform(4.5, 7.5, (n, 1, 1))
    width = height * rng.uniform(1.8, 2.4, (n, 1, 1))
    row = np.floor((yy[None] + rng.uniform(0, 8, (n, 1, 1))) / height)
    shifted = xx[None] + (row % 2) * width / 2 + rng.uniform(0, 16, (n, 1, 1))
    mortar = ((yy[None] % height) < 1.0) | ((shifted % width) < 1.0)
    brick_id = row * 13 + np.floor(shifted / width)
    shade = 0.85 + 0.15 * np.sin(brick_id * 12.9898) ** 2
    brick = np.array([160, 70, 48], np.float32) * rng.uniform(0.8, 1.15, (n, 1, 1, 1)) * shade[..., None]
    return np.where(mortar[..., None], np.float32(190), brick)


def _water(rng, n, size):
    yy, xx = grid(size)
    base = np.array([30, 90, 140], np.float32) * rng.uniform(0.8, 1.2, (n, 1, 1, 1))
    turn = rng.uniform(-0.4, 0.4, (n, 1, 1))
    phase = (yy[None] * np.cos(turn) + xx[None] * np.sin(turn)) * rng.uniform(0.6, 1.2, (n, 1, 1))
    ripples = np.sin(phase + 1.5 * smooth_noise(rng, n, size, cells=3))
    return base * (1 + 0.18 * ripples[..., None]) + 60 * np.clip(ripples - 0.8, 0, None)[..., None]


def _sand(rng, n, size):
    yy, xx = grid(size)
    base = np.array([214, 186, 140], np.float32) * rng.uniform(0.85, 1.08, (n, 1, 1, 1))
    dunes = np.sin((yy[None] + 0.3 * xx[None]) * rng.uniform(0.3, 0.6, (n, 1, 1)) + smooth_noise(rng, n, size, 2))
    grain = rng.normal(0, 0.07, (n, size, size))
    return base * (1 + 0.06 * dunes[..., None] + grain[..., None])


def _text(rng, n, size):
    yy, xx = grid(size)
    paper = np.array([238, 234, 222], np.float32) * rng.uniform(0.9, 1.05, (n, 1, 1, 1)) * np.ones((n, size, size, 1))
    line_h = rng.uniform(5, 8, (n, 1, 1))
    in_line = ((yy[None] % line_h) > 1.2) & ((yy[None] % line_h) < line_h - 1.5)
    glyph_w = rng.uniform(1.5, 2.5, (n, 1, 1))
    col = np.floor(xx[None] / glyph_w)
    row = np.floor(yy[None] / line_h)
    inked = np.sin(col * 78.233 + row * 37.719 + rng.uniform(0, 100, (n, 1, 1))) > -0.1
    strokes = in_line & inked & ((xx[None] % glyph_w) < glyph_w * 0.6)
    return np.where(strokes[..., None], np.float32(30), paper)


def _stripes(rng, n, size):
    yy, xx = grid(size)
    a, b = (rng.uniform(20, 235, (n, 1, 1, 3)).astype(np.float32) for _ in range(2))
    turn = rng.uniform(0, np.pi, (n, 1, 1))
    phase = (xx[None] * np.cos(turn) + yy[None] * np.sin(turn)) * 2 * np.pi / rng.uniform(4, 10, (n, 1, 1))
    return np.where((np.sin(phase) > 0)[..., None], a, b)


def _checkerboard(rng, n, size):
    yy, xx = grid(size)
    a, b = (rng.uniform(20, 235, (n, 1, 1, 3)).astype(np.float32) for _ in range(2))
    turn = rng.uniform(0, np.pi / 2, (n, 1, 1))
    cell = rng.uniform(3, 8, (n, 1, 1))
    u = (xx[None] * np.cos(turn) + yy[None] * np.sin(turn)) / cell
    v = (-xx[None] * np.sin(turn) + yy[None] * np.cos(turn)) / cell
    return np.where(((np.floor(u) + np.floor(v)) % 2 == 0)[..., None], a, b)


def _wood(rng, n, size):
    yy, xx = grid(size)
    centre = rng.uniform(-40, 70, (n, 2))
    dist = np.sqrt((yy[None] - centre[:, 0, None, None]) ** 2 + ((xx[None] - centre[:, 1, None, None]) * 0.25) ** 2)
    rings = np.sin(dist * rng.uniform(1.2, 2.2, (n, 1, 1)) + 2 * smooth_noise(rng, n, size, cells=2))
    base = np.array([150, 100, 60], np.float32) * rng.uniform(0.75, 1.2, (n, 1, 1, 1))
    return base * (1 + 0.15 * rings[..., None])


def _pebbles(rng, n, size):
    img = np.full((n, size, size, 3), 110, np.float32) * rng.uniform(0.7, 1.2, (n, 1, 1, 1))
    grey = rng.uniform(90, 200, (n, 1)) * np.ones((1, 3), np.float32)
    _spots(rng, img, rng.integers(20, 35, n), (1.5, 3.0), grey, 0.9)
    return img


_DRAWERS: dict[str, Drawer] = {
    "skin_close_up": _skin_close_up,
    "mole": _mole,
    "rash": _rash,
    "freckles": _freckles,
    "sky": _sky,
    "grass": _grass,
    "brick_wall": _brick_wall,
    "water": _water,
    "sand": _sand,
    "text": _text,
    "stripes": _stripes,
    "checkerboard": _checkerboard,
    "wood": _wood,
    "pebbles": _pebbles,
}
