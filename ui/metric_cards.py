"""Metric cards for the Results page: each evaluation number with one line on what it means.

The numbers come from the evaluation the job ran (``dptab_core.eval``), which reads the real data:
the cards are labelled as the data owner's view, not part of the DP release.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import streamlit as st


@dataclass(frozen=True)
class Card:
    """One card: where its number sits in the metrics dict, and how to read it."""

    title: str
    path: tuple[str, ...]
    meaning: str
    percent: bool = False


CARDS: tuple[Card, ...] = (
    Card("Column histograms (1-way TVD)", ("table", "tvd_1way"),
         "How far each synthetic column's histogram is from the real one: 0 = identical, 1 = disjoint."),
    Card("Column pairs (2-way TVD)", ("table", "tvd_2way"),
         "The same for every pair of columns: low values mean the links between columns survived."),
    Card("Useful for prediction (table)", ("table", "tstr", "synthetic"),
         "Accuracy of a model trained on synthetic rows and tested on real ones (higher is better).", percent=True),
    Card("Image realism (precision)", ("image", "precision"),
         "Share of synthetic images that look like some real image (higher is better).", percent=True),
    Card("Image variety (recall)", ("image", "recall"),
         "Share of real images that some synthetic image resembles (higher is better).", percent=True),
    Card("Images match their rows", ("cross_modal", "agreement_normalised"),
         "Do synthetic images show what their row says? 0 = no link, 1 = as well as real pairs."),
    Card("Memorisation check", ("privacy", "nn_distance_ratio"),
         "Distance from synthetic to the nearest training image vs to unseen images: ≈ 1 is normal, ≪ 1 is a red flag."),
)


def _lookup(metrics: dict[str, Any], path: Sequence[str]) -> float | None:
    value: Any = metrics
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return float(value) if isinstance(value, int | float) else None


def show_cards(metrics: dict[str, Any], *, per_row: int = 4) -> None:
    """Draw every card whose number the evaluation produced (absent ones are skipped)."""
    present = [(c, v) for c in CARDS if (v := _lookup(metrics, c.path)) is not None]
    for start in range(0, len(present), per_row):
        for col, (card, value) in zip(st.columns(per_row), present[start:start + per_row], strict=False):
            col.metric(card.title, f"{100 * value:.0f}%" if card.percent else f"{value:.3f}", border=True,
                       help=card.meaning)
            col.caption(card.meaning)
