"""Metric cards for the Results page: each number with its baseline and a plain verdict.

The verdicts come from the engine (:func:`dptab_core.eval.verdicts.metric_verdicts`), so the page,
the HTML report and the CLI agree. The numbers come from the evaluation the job ran, which reads the
real data: the cards are the data owner's view, not part of the DP release.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from dptab_core.eval.verdicts import GOOD, RED, WEAK, collapse_warning, metric_verdicts
from ui.safe_text import md

BADGE = {
    GOOD: ("green", ":material/check_circle:"),
    WEAK: ("orange", ":material/warning:"),
    RED: ("red", ":material/error:"),
}
"""Badge colour and icon of each verdict level (Streamlit's own icon font: no outside request)."""


def show_collapse_warning(metrics: dict[str, Any]) -> bool:
    """The red near-copies-of-an-average sentence when the images lack variety; True when shown."""
    warning = collapse_warning(metrics)
    if warning:
        st.error(f"**Images: near-copies of an average.** {md(warning)}", icon=":material/error:")
    return warning is not None


def show_cards(metrics: dict[str, Any], *, per_row: int = 4) -> None:
    """Draw one card per metric the evaluation produced: number, verdict badge, baselines, meaning."""
    verdicts = metric_verdicts(metrics)
    for start in range(0, len(verdicts), per_row):
        for col, v in zip(st.columns(per_row), verdicts[start : start + per_row], strict=False):
            color, icon = BADGE[v.level]
            with col.container(border=True):
                title = md(v.title) if v.key == "tstr" else v.title  # the TSTR title names a column of the data
                st.metric(title, v.shown, help=md(v.scale))
                st.badge(f"{v.level}: {md(v.headline)}", color=color, icon=icon)
                st.caption(f"**Baseline** — {md(v.baseline)}")
                st.caption(md(v.meaning))
