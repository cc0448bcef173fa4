"""Procedural drawing of the demo's skin-lesion photos (and the building blocks the public set reuses).

The demo needs images that *carry* some table columns (so that a conditional image model has links to
learn and an evaluation can read them back) while looking like little dermatoscope photos rather than
flat shapes: soft blobs with irregular borders, colour variation inside the lesion, skin mottling,
hairs, uneven lighting and sensor noise. Every random choice varies per image (position, rotation,
border harmonics, colour jitter), so no value of a column has a single prototype image.

Everything is vectorised over a batch of images (arrays shaped ``(n, size, size)``), which is what
keeps 2,000 photos well under a second of drawing. :data:`STYLE` holds every look-related number.

>>> import numpy as np, pandas as pd
>>> rows = pd.DataFrame({"skin_type": ["I", "VI"], "body_site": ["scalp", "acral"],
...                      "diagnosis": ["melanoma", "nevus"], "lesion_diameter_mm": [12.0, 3.0]})
>>> imgs = render_lesion_images(rows, rng=np.random.default_rng(0))
>>> imgs.shape, imgs.dtype
((2, 32, 32, 3), dtype('uint8'))
>>> bool(imgs[0].mean() > imgs[1].mean())  # type I skin is lighter than type VI
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

RGB = tuple[float, float, float]


@dataclass(frozen=True)
class LesionLook:
    """How one diagnosis looks: pigment colours, border irregularity, edge softness, inner texture.

    ``colours``: pigments mixed inside the lesion by a smooth random field (one colour = uniform).
    ``irregularity``: amplitude of the random border harmonics (0 = an ellipse).
    ``softness``: edge blur in pixels. ``opacity``: how much skin shows through (BCC is translucent).
    ``grain``: strength of fine inner texture (seborrheic keratoses look granular and waxy).
    """

    colours: tuple[RGB, ...]
    irregularity: float
    softness: float
    opacity: float
    grain: float
    max_aspect: float


@dataclass(frozen=True)
class DrawingStyle:
    """Every number that shapes the look of the demo photos, with why it has its value."""

    skin_tones: dict[str, RGB] = field(
        default_factory=lambda: {
            # Fitzpatrick I (very fair) … VI (deeply pigmented); far enough apart for a small classifier to
            # tell neighbours apart under the lighting and jitter below, as a dermatologist would.
            "I": (242, 212, 192),
            "II": (226, 184, 156),
            "III": (200, 152, 116),
            "IV": (164, 116, 82),
            "V": (118, 80, 56),
            "VI": (76, 52, 38),
        }
    )
    tone_jitter: float = 0.035
    """Per-image brightness jitter of the skin (relative): lighting and camera differ between visits."""
    mottling: float = 0.05
    """Low-frequency blotchiness of skin (relative amplitude)."""
    lighting_gradient: float = 0.22
    """Largest brightness slope across the photo (flash off-centre)."""
    vignette: float = 0.25
    """Largest darkening of the corners (dermatoscope optics)."""
    pixel_noise: float = 3.5
    """Sensor noise, in 0–255 units."""
    radius_per_log_mm: float = 3.3
    """Lesion radius in pixels = base_radius_px + radius_per_log_mm × ln(diameter in mm): photographers zoom
    in on small lesions, so on-screen size grows with the log of the diameter (1.5 mm → 2.8 px, 30 mm → 12.7 px),
    which keeps small lesions legible and large ones inside the frame."""
    base_radius_px: float = 1.5
    centre_jitter_px: float = 2.2
    """Lesions are roughly, not exactly, centred, as in clinical photos."""
    looks: dict[str, LesionLook] = field(
        default_factory=lambda: {
            "nevus": LesionLook(
                colours=((118, 74, 46),), irregularity=0.04, softness=0.6, opacity=0.92, grain=0.02, max_aspect=1.3
            ),
            "melanoma": LesionLook(
                colours=((52, 32, 26), (98, 96, 112), (138, 66, 50)),
                irregularity=0.22,
                softness=0.8,
                opacity=0.96,
                grain=0.05,
                max_aspect=1.5,
            ),
            "basal_cell_carcinoma": LesionLook(
                colours=((226, 160, 160),), irregularity=0.10, softness=0.7, opacity=0.85, grain=0.03, max_aspect=1.4
            ),
            "seborrheic_keratosis": LesionLook(
                colours=((142, 100, 62), (96, 66, 40)),
                irregularity=0.08,
                softness=0.35,
                opacity=0.95,
                grain=0.16,
                max_aspect=1.6,
            ),
            "vascular_lesion": LesionLook(
                colours=((164, 34, 58), (112, 30, 78)),
                irregularity=0.12,
                softness=0.45,
                opacity=0.94,
                grain=0.03,
                max_aspect=1.2,
            ),
        }
    )
    hairs: dict[str, tuple[int, int]] = field(
        default_factory=lambda: {
            # (fewest, most) hairs per photo by body site: sparse on arms/legs, dense on the scalp.
            "face": (0, 0),
            "scalp": (12, 22),
            "trunk": (0, 1),
            "extremity": (3, 7),
            "acral": (0, 0),
        }
    )
    hair_colour: RGB = (38, 28, 22)
    ridge_strength: float = 0.08
    """Amplitude of the skin ridges of palms and soles (relative)."""
    face_redness: float = 0.06
    pore_density: float = 0.025
    """Fraction of facial skin pixels that are visible pores."""


STYLE = DrawingStyle()


def render_lesion_images(
    table: pd.DataFrame, *, rng: np.random.Generator, size: int = 32, style: DrawingStyle = STYLE
) -> np.ndarray:
    """One photo per row: skin of ``skin_type``, texture of ``body_site``, a ``diagnosis`` lesion of
    ``lesion_diameter_mm``. Returns uint8 ``(n, size, size, 3)``."""
    yy, xx = grid(size)
    tone = np.array([style.skin_tones[s] for s in table["skin_type"]], dtype=np.float32)
    skin = skin_background(rng, tone, size, style=style)
    sites = table["body_site"].to_numpy()
    _face_texture(skin, rng, sites == "face", style)
    _acral_ridges(skin, rng, sites == "acral", yy, xx, style)

    diameter = table["lesion_diameter_mm"].to_numpy(dtype=np.float32)
    radius = style.base_radius_px + style.radius_per_log_mm * np.log(diameter)
    img = skin
    for name, look in style.looks.items():
        rows = np.flatnonzero(table["diagnosis"].to_numpy() == name)
        if rows.size:
            img[rows] = _draw_lesion(skin[rows], rng, radius[rows], look, name, yy, xx, style)

    lo_hi = np.array([style.hairs[s] for s in sites])
    counts = rng.integers(lo_hi[:, 0], lo_hi[:, 1] + 1)
    draw_hairs(img, rng, counts, yy, xx, colour=style.hair_colour, dense=sites == "scalp")
    return finish(img, rng, yy, xx, style=style)


def grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates ``(yy, xx)``, each ``(size, size)``, origin at the top-left pixel."""
    axis = np.arange(size, dtype=np.float32)
    return np.meshgrid(axis, axis, indexing="ij")


def smooth_noise(rng: np.random.Generator, n: int, size: int, cells: int) -> np.ndarray:
    """Smooth random fields ``(n, size, size)`` with unit-ish variance and ``cells`` blobs per side."""
    knots = np.linspace(0, size - 1, cells + 1, dtype=np.float32)
    pos = np.arange(size, dtype=np.float32)
    width = (size - 1) / cells
    weights = np.exp(-(((pos[:, None] - knots[None, :]) / width) ** 2))
    weights /= weights.sum(axis=1, keepdims=True)
    coarse = rng.standard_normal((n, cells + 1, cells + 1)).astype(np.float32)
    field_ = np.einsum("ia,nab,jb->nij", weights, coarse, weights)
    return field_ / (field_.std(axis=(1, 2), keepdims=True) + 1e-6)


def skin_background(
    rng: np.random.Generator, tone: np.ndarray, size: int, *, style: DrawingStyle = STYLE
) -> np.ndarray:
    """Mottled skin ``(n, size, size, 3)`` float32 around base tones ``tone`` ``(n, 3)``."""
    n = tone.shape[0]
    bright = 1 + style.tone_jitter * rng.standard_normal((n, 1, 1, 1))
    tint = 1 + 0.015 * rng.standard_normal((n, 1, 1, 3))
    mottle = 1 + style.mottling * smooth_noise(rng, n, size, cells=4)[..., None]
    return (tone[:, None, None, :] * bright * tint * mottle).astype(np.float32)


def blob_alpha(
    rng: np.random.Generator,
    radius: np.ndarray,
    yy: np.ndarray,
    xx: np.ndarray,
    *,
    irregularity: float,
    softness: float,
    max_aspect: float,
    centre_jitter: float,
) -> tuple[np.ndarray, np.ndarray]:
    """A soft irregular blob per image: ``(alpha, depth)``, both ``(n, size, size)``.

    The border is an ellipse (random aspect and rotation) whose radius is modulated by random
    harmonics 2–6 of the angle; ``depth`` is 1 at the centre falling to 0 at the border (for
    darker centres and pearly rims). ``centre_jitter`` is the standard deviation of the offset.
    """
    n = radius.shape[0]
    size = yy.shape[0]
    centre = (size - 1) / 2 + np.clip(centre_jitter * rng.standard_normal((n, 2)), -5, 5)
    dy = yy[None] - centre[:, 0, None, None]
    dx = xx[None] - centre[:, 1, None, None]
    turn = rng.uniform(0, np.pi, (n, 1, 1))
    aspect = rng.uniform(1.0, max_aspect, (n, 1, 1))
    u = dx * np.cos(turn) + dy * np.sin(turn)
    v = (-dx * np.sin(turn) + dy * np.cos(turn)) * aspect
    rho = np.sqrt(u**2 + v**2)
    theta = np.arctan2(v, u)
    border = np.ones_like(rho)
    for k in range(2, 7):
        amp = irregularity * rng.uniform(0, 1, (n, 1, 1)) * 2 / k
        border += amp * np.cos(k * theta + rng.uniform(0, 2 * np.pi, (n, 1, 1)))
    border = radius[:, None, None] * np.clip(border, 0.45, None)
    alpha = 1 / (1 + np.exp(-(border - rho) / softness))
    depth = np.clip(1 - rho / border, 0, 1)
    return alpha.astype(np.float32), depth.astype(np.float32)


def _draw_lesion(
    skin: np.ndarray,
    rng: np.random.Generator,
    radius: np.ndarray,
    look: LesionLook,
    name: str,
    yy: np.ndarray,
    xx: np.ndarray,
    style: DrawingStyle,
) -> np.ndarray:
    """Blend one diagnosis' lesions onto their skin patches."""
    n, size = skin.shape[0], skin.shape[1]
    alpha, depth = blob_alpha(
        rng,
        radius,
        yy,
        xx,
        irregularity=look.irregularity,
        softness=look.softness,
        max_aspect=look.max_aspect,
        centre_jitter=style.centre_jitter_px,
    )
    colours = np.array(look.colours, dtype=np.float32)
    colours = colours[None] * (1 + 0.06 * rng.standard_normal((n, len(colours), 1)))
    if len(colours[0]) == 1:
        pigment = np.broadcast_to(colours[:, 0, None, None, :], (n, size, size, 3)).copy()
    else:
        # A smooth random field per pigment; each pixel takes a soft mix, dominated by the largest.
        fields = np.stack([smooth_noise(rng, n, size, cells=3) for _ in colours[0]], axis=-1) * 2.5
        fields[..., 0] += 2.5  # the first pigment dominates (dark brown in melanoma)
        mix = np.exp(fields - fields.max(axis=-1, keepdims=True))
        mix /= mix.sum(axis=-1, keepdims=True)
        pigment = np.einsum("nijc,ncr->nijr", mix, colours)
    # Pigment looks darker on darker skin: scale by the skin's own luminance relative to type III.
    skin_lum = skin.mean(axis=(1, 2, 3), keepdims=True) / 156.0
    pigment *= 0.62 + 0.38 * skin_lum
    if name in ("nevus", "melanoma"):
        pigment *= 1 - 0.22 * depth[..., None]  # darker centre
    if name == "basal_cell_carcinoma":
        pigment += 26 * np.exp(-(((depth - 0.12) / 0.1) ** 2))[..., None]  # pearly rim
        vessels = np.zeros_like(depth)[..., None]
        draw_hairs(
            vessels,
            rng,
            rng.integers(1, 4, n),
            yy,
            xx,
            colour=(1.0, 1.0, 1.0),
            dense=np.zeros(n, bool),
            length=(3, 9),
            width=0.45,
            start_margin=size / 2 - 4,
        )
        pigment = pigment * (1 - 0.55 * vessels) + vessels * 0.55 * np.array([170, 30, 40], np.float32)
    if name == "vascular_lesion":
        glint = np.exp(-(((depth - 0.75) / 0.12) ** 2))[..., None] * rng.uniform(0, 40, (n, 1, 1, 1))
        pigment += glint
    pigment *= 1 + look.grain * rng.standard_normal((n, size, size, 1)).astype(np.float32)
    a = (alpha * look.opacity)[..., None]
    return skin * (1 - a) + pigment * a


def _face_texture(img: np.ndarray, rng: np.random.Generator, rows: np.ndarray, style: DrawingStyle) -> None:
    """Facial skin: a touch of redness and scattered dark pores (in place)."""
    idx = np.flatnonzero(rows)
    if not idx.size:
        return
    red = np.array([1 + style.face_redness, 1 - style.face_redness / 2, 1 - style.face_redness / 2], np.float32)
    pores = rng.uniform(0, 1, (idx.size,) + img.shape[1:3]) < style.pore_density
    img[idx] *= red * np.where(pores, 0.9, 1.0)[..., None].astype(np.float32)


def _acral_ridges(
    img: np.ndarray, rng: np.random.Generator, rows: np.ndarray, yy: np.ndarray, xx: np.ndarray, style: DrawingStyle
) -> None:
    """Palms and soles: paler skin with fine parallel, gently curved ridges (in place)."""
    idx = np.flatnonzero(rows)
    if not idx.size:
        return
    n = idx.size
    turn = rng.uniform(0, np.pi, (n, 1, 1))
    period = rng.uniform(2.6, 3.6, (n, 1, 1))
    bend = rng.uniform(-0.02, 0.02, (n, 1, 1))
    across = xx[None] * np.cos(turn) + yy[None] * np.sin(turn)
    along = -xx[None] * np.sin(turn) + yy[None] * np.cos(turn)
    phase = 2 * np.pi * (across + bend * (along - 16) ** 2) / period + rng.uniform(0, 2 * np.pi, (n, 1, 1))
    ridges = 1 + style.ridge_strength * np.sin(phase)
    pale = np.array([224, 196, 178], np.float32)
    img[idx] = (0.8 * img[idx] + 0.2 * pale) * ridges[..., None].astype(np.float32)


def draw_hairs(
    img: np.ndarray,
    rng: np.random.Generator,
    counts: np.ndarray,
    yy: np.ndarray,
    xx: np.ndarray,
    *,
    colour: RGB,
    dense: np.ndarray,
    length: tuple[float, float] = (10, 30),
    width: float = 0.5,
    start_margin: float = -4,
) -> None:
    """Thin dark strokes, each two slightly bent segments, over ``img`` ``(n, s, s, c)`` (in place).

    Hairs on one photo share a main direction (hair grows in streams); ``dense`` rows get darker,
    thicker hairs (the scalp). Strokes start ``start_margin`` pixels inside the frame (negative: outside).
    """
    if not counts.size or counts.max() == 0:
        return
    size = yy.shape[0]
    main = rng.uniform(0, np.pi, img.shape[0])
    col = np.asarray(colour, np.float32)[: img.shape[-1]]
    for h in range(int(counts.max())):
        rows = np.flatnonzero(counts > h)  # only photos that still have a hair to draw
        n = rows.size
        start = rng.uniform(start_margin, size - start_margin, (n, 2))
        angle = main[rows] + rng.normal(0, 0.35, n)
        half = rng.uniform(*length, n) / 2
        bend = angle + rng.normal(0, 0.3, n)
        opacity = np.where(dense[rows], 0.8, 0.55)
        w = width * np.where(dense[rows], 1.3, 1.0) * rng.uniform(0.8, 1.2, n)
        middle = start + half[:, None] * np.stack([np.sin(angle), np.cos(angle)], 1)
        end = middle + half[:, None] * np.stack([np.sin(bend), np.cos(bend)], 1)
        dist = np.minimum(_segment_distance(yy, xx, start, middle), _segment_distance(yy, xx, middle, end))
        alpha = (opacity[:, None, None] * np.exp(-((dist / w[:, None, None]) ** 2))).astype(np.float32)[..., None]
        img[rows] = img[rows] * (1 - alpha) + alpha * col


def _segment_distance(yy: np.ndarray, xx: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance ``(n, s, s)`` from each pixel to the segment ``a → b`` (points as ``(n, 2)`` y, x)."""
    ab = b - a
    py = yy[None] - a[:, 0, None, None]
    px = xx[None] - a[:, 1, None, None]
    den = (ab**2).sum(1)[:, None, None] + 1e-9
    t = np.clip((py * ab[:, 0, None, None] + px * ab[:, 1, None, None]) / den, 0, 1)
    return np.sqrt((py - t * ab[:, 0, None, None]) ** 2 + (px - t * ab[:, 1, None, None]) ** 2).astype(np.float32)


def finish(
    img: np.ndarray, rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray, *, style: DrawingStyle = STYLE
) -> np.ndarray:
    """Camera effects on float images: uneven lighting, vignette, sensor noise; returns uint8."""
    n, size = img.shape[0], img.shape[1]
    half = (size - 1) / 2
    ny, nx = (yy - half) / half, (xx - half) / half
    slope = rng.uniform(0, style.lighting_gradient, (n, 1, 1))
    turn = rng.uniform(0, 2 * np.pi, (n, 1, 1))
    light = 1 + slope * (nx[None] * np.cos(turn) + ny[None] * np.sin(turn)) / 2
    light *= 1 - rng.uniform(0, style.vignette, (n, 1, 1)) * ((nx**2 + ny**2) / 2)[None]
    out = img * light[..., None] + style.pixel_noise * rng.standard_normal(img.shape).astype(np.float32)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def save_pngs(images: np.ndarray, paths: list[Path]) -> None:
    """Write uint8 ``(n, h, w, 3)`` arrays as PNG files (deterministic bytes: no timestamps)."""
    from PIL import Image

    for array, path in zip(images, paths, strict=True):
        Image.fromarray(array, mode="RGB").save(path, format="PNG")
