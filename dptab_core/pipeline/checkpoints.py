"""What a stage leaves in the run's work folder: its checkpoint files, its done marker, the ledger.

A stage is *done* once its marker file exists; a resumed job skips done stages
(:func:`skip_if_done`) and keeps only their ledger entries (:func:`resumable_ledger`).

Checkpoint files hold plain data, written without pickle: tables as JSON, arrays as ``.npz``.
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
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

import numpy as np
import pandas as pd

from dptab_core.privacy.ledger import Ledger

if TYPE_CHECKING:
    from dptab_core.image.mean_pairs import MeanPairs

LEDGER_FILE = "ledger.jsonl"
PLAN_FILE = "plan.json"
RELEASED_SCHEMA_FILE = "schema_released.json"
SEMANTIC_QUERY_FILE = "semantic_query.json"
MEAN_PAIRS_FILE = "mean_pairs.npz"
SYNTHETIC_TABLE_FILE = "synthetic_table.json"
SYNTHETIC_IMAGES_FILE = "synthetic_images.npy"
STALE_ON_FRESH_RUN = (
    "done",
    "dpsgd",
    "model_*.pt",
    PLAN_FILE,
    RELEASED_SCHEMA_FILE,
    SEMANTIC_QUERY_FILE,
    "mean_pairs.*",
    "synthetic_table.*",
    SYNTHETIC_IMAGES_FILE,
)
"""What an earlier run may have left in a reused folder: a fresh run deletes it all before it starts,
so no stage ever reads another run's noisy result (a stale ``mean_pairs`` or ``semantic_query``)."""


# ---------------------------------------------------------------- done markers and the ledger


class _Reporting(Protocol):
    work_dir: Path

    def report(self, stage: str, fraction: float, message: str = "") -> None: ...


_R = TypeVar("_R", bound=_Reporting)


def _done_marker(work_dir: Path, name: str) -> Path:
    return work_dir / "done" / f"{name}.done"


def is_done(work_dir: Path, name: str) -> bool:
    """True when stage ``name`` finished in an earlier attempt of this job."""
    return _done_marker(work_dir, name).exists()


def any_done(work_dir: Path) -> bool:
    """True when some stage finished in an earlier attempt of this job (so this one resumes it)."""
    return any((work_dir / "done").glob("*.done"))


def mark_done(work_dir: Path, name: str) -> None:
    """Record that stage ``name`` finished (after its checkpoint files are written)."""
    marker = _done_marker(work_dir, name)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text("done\n", encoding="utf-8")


def skip_if_done(name: str, fn: Callable[[_R], None]) -> Callable[[_R], None]:
    """``fn``, except that it does nothing (but say so) when stage ``name`` finished in an earlier attempt."""

    def run_or_skip(run: _R) -> None:
        if is_done(run.work_dir, name):
            run.report(name, 1.0, "already done in an earlier attempt")
            return
        fn(run)

    return run_or_skip


def resumable_ledger(work_dir: Path, *, resuming: bool) -> Ledger:
    """The run's ledger, mirrored to ``work_dir/ledger.jsonl``.

    A fresh run starts empty, and forgets the done markers and model checkpoints of any earlier run
    in the same folder (their spending is not in this ledger). A resumed run keeps only the entries
    of stages that finished: an unfinished stage runs again from scratch, and what it computed the
    first time is thrown away unreleased, so its old entries describe nothing that reaches the output.
    (Stages that keep a partial checkpoint of their own, like DP-SGD, must therefore not reuse it: see
    :func:`dptab_core.pipeline.stages.dpsgd`.)
    """
    path = work_dir / LEDGER_FILE
    if not resuming:  # a fresh run in a reused folder redoes everything and never reads an old result
        for pattern in STALE_ON_FRESH_RUN:
            for stale in work_dir.glob(pattern):
                shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
    if not resuming or not path.exists():
        path.unlink(missing_ok=True)
        return Ledger(path=path)
    kept = [e for e in Ledger.load(path).entries if is_done(work_dir, e.stage)]
    return Ledger.rewrite(path, kept)  # atomic: a crash here leaves the old ledger or the new one


# ---------------------------------------------------------------- plain-data checkpoint files


def save_table(path: Path, table: pd.DataFrame) -> None:
    """Write a table as JSON with its column types (``orient="table"``), atomically."""
    _write_atomic(Path(path), table.to_json(orient="table", index=False).encode("utf-8"))


def load_table(path: Path) -> pd.DataFrame:
    """Read a table written by :func:`save_table` with the same column types."""
    return pd.read_json(io.StringIO(Path(path).read_text(encoding="utf-8")), orient="table")


def save_mean_pairs(path: Path, pairs: MeanPairs) -> None:
    """Write the released mean pairs as ``.npz`` (arrays only; column names as a string array)."""
    stored = {"conditions", "images", "cells", "means", "marginals", "usable", "overall", "spread"}
    fields = {f.name for f in dataclasses.fields(pairs)}
    if fields != stored:  # a field added to MeanPairs must be stored too, or a resumed run would lose it
        raise TypeError(f"MeanPairs has fields {sorted(fields ^ stored)} this checkpoint does not store")
    columns = list(pairs.means)
    arrays: dict[str, np.ndarray] = {
        "conditions": pairs.conditions,
        "images": pairs.images,
        "overall": pairs.overall,
        "columns": np.array(columns, dtype=str),
        "cell_columns": np.array([c for c, _, _ in pairs.cells], dtype=str),
        "cell_codes": np.array([code for _, code, _ in pairs.cells], dtype=np.int64),
        "cell_counts": np.array([count for _, _, count in pairs.cells], dtype=np.float64),
    }
    if pairs.spread is not None:
        arrays["spread"] = pairs.spread
    for i, column in enumerate(columns):  # indexed keys: a column name may hold any character
        arrays[f"means_{i}"] = pairs.means[column]
        arrays[f"marginals_{i}"] = pairs.marginals[column]
        arrays[f"usable_{i}"] = pairs.usable[column]
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]  # numpy's stub: a **dict might name allow_pickle
    _write_atomic(Path(path), buffer.getvalue())


def load_mean_pairs(path: Path) -> MeanPairs:
    """Read mean pairs written by :func:`save_mean_pairs` (never unpickles anything)."""
    from dptab_core.image.mean_pairs import MeanPairs

    with np.load(path, allow_pickle=False) as saved:
        columns = [str(c) for c in saved["columns"]]
        cells = [
            (str(c), int(code), float(count))
            for c, code, count in zip(saved["cell_columns"], saved["cell_codes"], saved["cell_counts"], strict=True)
        ]
        return MeanPairs(
            conditions=saved["conditions"],
            images=saved["images"],
            cells=cells,
            means={c: saved[f"means_{i}"] for i, c in enumerate(columns)},
            marginals={c: saved[f"marginals_{i}"] for i, c in enumerate(columns)},
            usable={c: saved[f"usable_{i}"] for i, c in enumerate(columns)},
            overall=saved["overall"],
            spread=saved["spread"] if "spread" in saved else None,
        )


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
