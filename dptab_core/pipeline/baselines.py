"""The methods an ε sweep compares (:data:`BASELINES`): DP-TabImage, its ablations and the other methods.

A leaf of the sweep, kept apart from :mod:`dptab_core.pipeline.sweep` so that the dataset budget's
estimate of a sweep's private runs (:mod:`dptab_core.privacy.dataset_budget`) can read the list
without importing the sweep, which reads that estimate (no import cycle).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dptab_core.pipeline.methods import METHODS


@dataclass(frozen=True)
class Baseline:
    """One method of the comparison: how its spec differs from the full method's."""

    name: str
    description: str
    spec_changes: dict[str, Any] = field(default_factory=dict)
    plan_changes: dict[str, Any] = field(default_factory=dict)
    shuffle_pairs: bool = False
    """Evaluate the full run's release with images re-paired at random (no run of its own)."""
    method: str = "dp-tabimage"
    """The method that runs, by its name in :data:`dptab_core.pipeline.methods.METHODS`."""

    @property
    def private(self) -> bool:
        """False: not differentially private — run once (not per ε) and reported as ε = ∞."""
        return METHODS[self.method].private


BASELINES: dict[str, Baseline] = {
    b.name: b
    for b in (
        Baseline("dp-tabimage", "the full method"),
        Baseline("independent", "table and images with no link (the release re-paired at random)", shuffle_pairs=True),
        Baseline(
            "no-warmup", "no DP mean pairs, no warm-up: DP-SGD alone", plan_changes={"mean_pairs": {"enabled": False}}
        ),
        Baseline(
            "no-pretrain",
            "no public data: no semantic query, no public pre-training",
            spec_changes={"public_dir": None},
        ),
        Baseline(
            "table-only", "the table synthesizer alone, no images (table reference)", spec_changes={"table_only": True}
        ),
        Baseline("image-first", METHODS["image-first"].description, method="image-first"),
        Baseline("non-private", METHODS["non-private"].description, method="non-private"),
    )
}
