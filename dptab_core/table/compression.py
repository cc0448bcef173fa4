"""Domain compression: rare codes merged into one, decided from noisy 1-way marginals only (as MST does).

A column with many values, most of them rare, wastes budget and model size on cells that hold
nothing but noise. MST's remedy: keep each code whose *noisy* count is at least ``threshold·σ``,
merge all others into one extra code, model the compressed columns, then map each merged code back
to one of its original codes. The decision reads only the already-released noisy 1-way counts, so
it is post-processing and costs no budget.

Going back, a merged code becomes one of its members drawn in proportion to their clipped noisy
counts (uniformly when those are all zero): post-processing of the same release, and closer to
the real spread than a uniform draw when a few members stand out.

>>> import numpy as np
>>> comp = Compression.from_noisy_counts({"c": np.array([50.0, 1.0, -2.0, 40.0])}, sigma=3.0, threshold=3.0)
>>> comp.mapping["c"].tolist(), comp.sizes({"c": 4})
([0, 2, 2, 1], {'c': 3})
>>> comp.compress({"c": np.array([0, 1, 2, 3])})["c"].tolist()
[0, 2, 2, 1]
>>> comp.decompress({"c": np.array([0, 1])}, rng=np.random.default_rng(0))["c"].tolist()
[0, 3]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Compression:
    """Per-column maps from original codes to compressed codes (columns left whole are absent)."""

    mapping: dict[str, np.ndarray] = field(default_factory=dict)
    restore_weights: dict[str, list[np.ndarray]] = field(default_factory=dict)

    @classmethod
    def from_noisy_counts(
        cls, noisy: Mapping[str, np.ndarray], *, sigma: float | Mapping[str, float], threshold: float
    ) -> Compression:
        """Merge, per column, the codes whose noisy count is below ``threshold·σ`` (if there are ≥ 2)."""
        mapping: dict[str, np.ndarray] = {}
        weights: dict[str, list[np.ndarray]] = {}
        for col, counts in noisy.items():
            col_sigma = sigma[col] if isinstance(sigma, Mapping) else sigma
            keep = np.asarray(counts) >= threshold * col_sigma
            if (~keep).sum() < 2:
                continue
            new = np.empty(len(counts), dtype=np.int64)
            new[keep] = np.arange(int(keep.sum()))
            new[~keep] = int(keep.sum())
            mapping[col] = new
            clipped = np.clip(np.asarray(counts, dtype=float), 0.0, None)
            weights[col] = [_probabilities(clipped[new == code]) for code in range(int(new.max()) + 1)]
        return cls(mapping, weights)

    def sizes(self, sizes: Mapping[str, int]) -> dict[str, int]:
        """Domain sizes after compression."""
        return {c: int(self.mapping[c].max()) + 1 if c in self.mapping else int(s) for c, s in sizes.items()}

    def compress(self, codes: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Codes in the compressed domain."""
        return {c: self.mapping[c][v] if c in self.mapping else np.asarray(v) for c, v in codes.items()}

    def compress_vector(self, col: str, vector: np.ndarray) -> np.ndarray:
        """A 1-way vector over the original codes of ``col`` summed into the compressed codes."""
        if col not in self.mapping:
            return np.asarray(vector, dtype=float)
        return np.bincount(self.mapping[col], weights=vector, minlength=int(self.mapping[col].max()) + 1)

    def decompress(self, codes: Mapping[str, np.ndarray], *, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Codes back in the original domain; a merged code becomes one of its members."""
        out: dict[str, np.ndarray] = {}
        for col, values in codes.items():
            values = np.asarray(values, dtype=np.int64)
            if col not in self.mapping:
                out[col] = values
                continue
            restored = np.empty_like(values)
            for code, probs in enumerate(self.restore_weights[col]):
                members = np.flatnonzero(self.mapping[col] == code)
                rows = np.flatnonzero(values == code)
                restored[rows] = members[rng.choice(len(members), size=len(rows), p=probs)] if len(rows) else 0
            out[col] = restored
        return out


def _probabilities(weights: np.ndarray) -> np.ndarray:
    total = weights.sum()
    return weights / total if total > 0 else np.full(len(weights), 1.0 / len(weights))
