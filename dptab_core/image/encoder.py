"""The record encoder: a table record → the conditioning vector of the image model.

Each synthesized column gets one block of ``domain_size + 1`` slots: one per public code (categories
or numeric bins, missing included) and a last slot, the *unspecified* token. A real or synthetic row
is one-hot in every block. A DP mean pair sets its own attribute and fills every other block either
with the released marginal of that attribute (what the model will see on average) or, without one,
with the unspecified token. Public pre-training images carry no record at all: every block is
unspecified. The mapping uses only the public schema, so it leaks nothing.

>>> import pandas as pd
>>> from dptab_core.data.schema import Column, Schema
>>> schema = Schema(columns=(Column("sex", "categorical", categories=("f", "m"), public=True),
...                          Column("img", "image")), image_column="img")
>>> enc = RecordEncoder(schema)
>>> enc.dim
4
>>> enc.encode(pd.DataFrame({"sex": ["m", None], "img": ["a", "b"]})).tolist()
[[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]
>>> enc.unspecified().tolist()
[0.0, 0.0, 0.0, 1.0]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dptab_core.data.encoding import domain_size, encode_table
from dptab_core.data.schema import Schema


class RecordEncoder:
    """Maps records (as a DataFrame or as per-column codes) to float32 conditioning vectors."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.columns = [c.name for c in schema.synthesized_columns()]
        self.sizes = {c.name: domain_size(c) for c in schema.synthesized_columns()}
        self.offsets: dict[str, int] = {}
        offset = 0
        for name in self.columns:
            self.offsets[name] = offset
            offset += self.sizes[name] + 1
        self.dim = offset

    def encode(self, table: pd.DataFrame) -> np.ndarray:
        """One-hot conditioning vectors (n, dim) of the rows of ``table``."""
        return self.encode_codes(encode_table(table, self.schema))

    def encode_codes(self, codes: dict[str, np.ndarray]) -> np.ndarray:
        """One-hot conditioning vectors from per-column integer codes (as ``encode_table`` gives)."""
        n = len(next(iter(codes.values()))) if codes else 0
        out = np.zeros((n, self.dim), dtype=np.float32)
        rows = np.arange(n)
        for name in self.columns:
            out[rows, self.offsets[name] + np.asarray(codes[name], dtype=np.int64)] = 1.0
        return out

    def unspecified(self) -> np.ndarray:
        """The vector of a record about which nothing is said (every block on its unspecified token)."""
        out = np.zeros(self.dim, dtype=np.float32)
        for name in self.columns:
            out[self.offsets[name] + self.sizes[name]] = 1.0
        return out

    def encode_mean_pair(self, column: str, code: int, marginals: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """The record of one mean pair: ``column`` = ``code``; other blocks marginal or unspecified."""
        out = self.unspecified()
        for name in self.columns:
            block = slice(self.offsets[name], self.offsets[name] + self.sizes[name] + 1)
            if name == column:
                out[block] = 0.0
                out[self.offsets[name] + int(code)] = 1.0
            elif marginals is not None and name in marginals:
                out[block] = 0.0
                out[self.offsets[name] : self.offsets[name] + self.sizes[name]] = marginals[name]
        return out


def encode_images(images: np.ndarray, resolution: int) -> np.ndarray:
    """uint8 images (n, H, W, C) → float32 (n, C, r, r) in [-1, 1], box-averaged down to ``resolution``.

    The box filter is exact when ``H`` is a multiple of ``resolution`` (the presets keep it so);
    otherwise Pillow's area resampling does the work.

    >>> encode_images(np.full((1, 4, 4, 1), 255, dtype=np.uint8), 2).shape
    (1, 1, 2, 2)
    """
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    n, h, w, c = images.shape
    if h % resolution == 0 and w % resolution == 0:
        fh, fw = h // resolution, w // resolution
        small = images.reshape(n, resolution, fh, resolution, fw, c).astype(np.float32).mean(axis=(2, 4))
    else:
        from PIL import Image

        small = (
            np.stack(
                [
                    np.asarray(
                        Image.fromarray(im.squeeze(-1) if c == 1 else im).resize(
                            (resolution, resolution), Image.Resampling.BOX
                        ),
                        dtype=np.float32,
                    ).reshape(resolution, resolution, c)
                    for im in images
                ]
            )
            if n
            else np.zeros((0, resolution, resolution, c), np.float32)
        )
    return (small.transpose(0, 3, 1, 2) / 127.5 - 1.0).astype(np.float32)


def decode_images(x: np.ndarray) -> np.ndarray:
    """float (n, C, H, W) in [-1, 1] → uint8 (n, H, W, C)."""
    return np.clip(np.round((np.asarray(x).transpose(0, 2, 3, 1) + 1.0) * 127.5), 0, 255).astype(np.uint8)
