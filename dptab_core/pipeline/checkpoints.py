"""Checkpoint files of plain data, written without pickle: tables as JSON, arrays as ``.npz``.

A job folder can be copied, shared with a colleague or left on a shared disk; unpickling a file from
it would run whatever code the file names. So plain-data checkpoints are stored in formats that
only hold data (``np.load(..., allow_pickle=False)``, JSON), models with ``torch.save`` of a state
dict and ``torch.load(..., weights_only=True)``.

>>> import tempfile
>>> folder = Path(tempfile.mkdtemp())
>>> table = pd.DataFrame({"code": ["01", "II", None], "age": [30, 41, 52]})
>>> save_table(folder / "t.json", table)
>>> load_table(folder / "t.json")["code"].tolist()[:2]
['01', 'II']
"""

from __future__ import annotations

import dataclasses
import io
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from dptab_core.image.mean_pairs import MeanPairs


def save_table(path: Path, table: pd.DataFrame) -> None:
    """Write a table as JSON with its column types (``orient="table"``), atomically."""
    _write_atomic(Path(path), table.to_json(orient="table", index=False).encode("utf-8"))


def load_table(path: Path) -> pd.DataFrame:
    """Read a table written by :func:`save_table` with the same column types."""
    return pd.read_json(io.StringIO(Path(path).read_text(encoding="utf-8")), orient="table")


def save_mean_pairs(path: Path, pairs: MeanPairs) -> None:
    """Write the released mean pairs as ``.npz`` (arrays only; column names as a string array)."""
    stored = {"conditions", "images", "cells", "means", "marginals", "usable", "overall"}
    fields = {f.name for f in dataclasses.fields(pairs)}
    if fields != stored:  # a field added to MeanPairs must be stored too, or a resumed run would lose it
        raise TypeError(f"MeanPairs has fields {sorted(fields ^ stored)} this checkpoint does not store")
    columns = list(pairs.means)
    arrays: dict[str, np.ndarray] = {
        "conditions": pairs.conditions, "images": pairs.images, "overall": pairs.overall,
        "columns": np.array(columns, dtype=str),
        "cell_columns": np.array([c for c, _, _ in pairs.cells], dtype=str),
        "cell_codes": np.array([code for _, code, _ in pairs.cells], dtype=np.int64),
        "cell_counts": np.array([count for _, _, count in pairs.cells], dtype=np.float64)}
    for i, column in enumerate(columns):  # indexed keys: a column name may hold any character
        arrays[f"means_{i}"] = pairs.means[column]
        arrays[f"marginals_{i}"] = pairs.marginals[column]
        arrays[f"usable_{i}"] = pairs.usable[column]
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    _write_atomic(Path(path), buffer.getvalue())


def load_mean_pairs(path: Path) -> MeanPairs:
    """Read mean pairs written by :func:`save_mean_pairs` (never unpickles anything)."""
    from dptab_core.image.mean_pairs import MeanPairs

    with np.load(path, allow_pickle=False) as saved:
        columns = [str(c) for c in saved["columns"]]
        cells = [(str(c), int(code), float(count)) for c, code, count in
                 zip(saved["cell_columns"], saved["cell_codes"], saved["cell_counts"], strict=True)]
        return MeanPairs(conditions=saved["conditions"], images=saved["images"], cells=cells,
                         means={c: saved[f"means_{i}"] for i, c in enumerate(columns)},
                         marginals={c: saved[f"marginals_{i}"] for i, c in enumerate(columns)},
                         usable={c: saved[f"usable_{i}"] for i, c in enumerate(columns)},
                         overall=saved["overall"])


def _write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, then rename: a crash leaves the old file or the new."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
