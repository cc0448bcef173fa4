"""The privacy ledger: one entry per noisy release, written where the noise is drawn.

Three kinds of entries cover every mechanism in the pipeline, each in the vocabulary the
accountant composes (see :mod:`dptab_core.privacy.accountant`):

* ``gaussian``: one full (not subsampled) Gaussian release of a vector with L2 ``sensitivity`` and
  noise std ``sigma``; its noise multiplier is ``sigma / sensitivity``.
* ``zcdp``: a release accounted directly as ρ-zCDP (e.g. the exponential mechanism with
  ε₀ = ``epsilon`` counts as ρ = ε₀²/8).
* ``subsampled_gaussian``: ``steps`` Poisson-subsampled Gaussian releases at ``sampling_rate`` with
  noise multiplier ``noise_multiplier`` (DP-SGD, DP mean pairs).

The ledger can append each entry to a JSON-lines file as it is recorded, so the spend of a job that
crashes half-way is still on disk.

>>> ledger = Ledger()
>>> _ = ledger.record(stage="table", mechanism="gaussian", label="1-way age", sensitivity=1.0, sigma=10.0)
>>> _ = ledger.record(stage="table", mechanism="gaussian", label="1-way sex", sensitivity=1.0, sigma=10.0)
>>> [(stage, len(items)) for stage, items in ledger.by_stage().items()]
[('table', 2)]
>>> ledger.entries[0].noise_multiplier
10.0
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Mechanism = Literal["gaussian", "zcdp", "subsampled_gaussian"]


@dataclass(frozen=True)
class LedgerEntry:
    """One accounted release. Only the fields of its ``mechanism`` are set."""

    stage: str
    mechanism: Mechanism
    label: str
    sensitivity: float | None = None
    sigma: float | None = None
    rho: float | None = None
    sampling_rate: float | None = None
    noise_multiplier: float | None = None
    steps: int = 1
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.mechanism == "gaussian":
            if not (self.sensitivity and self.sensitivity > 0 and self.sigma and self.sigma > 0):
                raise ValueError(f"{self.label}: a gaussian entry needs sensitivity > 0 and sigma > 0")
            object.__setattr__(self, "noise_multiplier", self.sigma / self.sensitivity)
        elif self.mechanism == "zcdp":
            if self.rho is None or self.rho < 0:
                raise ValueError(f"{self.label}: a zcdp entry needs rho >= 0")
        elif self.mechanism == "subsampled_gaussian":
            if not (self.sampling_rate and 0 < self.sampling_rate <= 1):
                raise ValueError(f"{self.label}: sampling_rate must be in (0, 1]")
            if not (self.noise_multiplier and self.noise_multiplier > 0) or self.steps < 0:
                raise ValueError(f"{self.label}: needs noise_multiplier > 0 and steps >= 0")
        else:
            raise ValueError(f"unknown mechanism {self.mechanism!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, without the unset fields."""
        return {k: v for k, v in asdict(self).items() if v is not None and v != {}}


class Ledger:
    """An append-only list of :class:`LedgerEntry`, optionally mirrored to a JSON-lines file."""

    def __init__(self, path: Path | None = None, entries: Iterable[LedgerEntry] = ()) -> None:
        self._entries: list[LedgerEntry] = list(entries)
        self._path = path
        self._lock = threading.Lock()

    def record(self, **fields: Any) -> LedgerEntry:
        """Add one entry (fields as in :class:`LedgerEntry`) and return it."""
        entry = LedgerEntry(**fields)
        with self._lock:
            self._entries.append(entry)
            if self._path is not None:
                with open(self._path, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(entry.to_dict()) + "\n")
        return entry

    @property
    def entries(self) -> list[LedgerEntry]:
        """A copy of the entries, in the order they were recorded."""
        with self._lock:
            return list(self._entries)

    def by_stage(self) -> dict[str, list[LedgerEntry]]:
        """Entries grouped by stage, stages in first-recorded order."""
        grouped: dict[str, list[LedgerEntry]] = {}
        for entry in self.entries:
            grouped.setdefault(entry.stage, []).append(entry)
        return grouped

    def to_dicts(self) -> list[dict[str, Any]]:
        """All entries as JSON-able dicts."""
        return [e.to_dict() for e in self.entries]

    @classmethod
    def rewrite(cls, path: Path, entries: Iterable[LedgerEntry]) -> Ledger:
        """Replace the file at ``path`` with ``entries``, atomically; return the ledger mirrored to it.

        The new content goes to a temporary file in the same folder, which is renamed over the old
        one: a crash at any point leaves either the old ledger or the new one, never a shortened one.
        """
        path = Path(path)
        entries = list(entries)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.writelines(json.dumps(e.to_dict()) + "\n" for e in entries)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return cls(path=path, entries=entries)

    @classmethod
    def load(cls, path: Path) -> Ledger:
        """Read a ledger mirrored to ``path`` (further records append to it)."""
        lines = Path(path).read_text(encoding="utf-8").splitlines() if Path(path).exists() else []
        return cls(path=path, entries=[LedgerEntry(**json.loads(line)) for line in lines if line.strip()])


def dpsgd_so_far(params: dict[str, Any], steps_done: int) -> LedgerEntry:
    """The DP-SGD steps taken so far as a ledger-style entry, to show ε spent while training runs."""
    return LedgerEntry(
        stage="dpsgd",
        mechanism="subsampled_gaussian",
        label="DP-SGD so far",
        sampling_rate=params["sampling_rate"],
        noise_multiplier=params["noise_multiplier"],
        steps=max(0, int(steps_done)),
    )
