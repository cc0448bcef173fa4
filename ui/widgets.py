"""Small building blocks every page uses: the step summary, the "Next" button, error display.

They keep the pages reading like storyboards: a page says *what* to show, these say *how* — and
make sure no traceback ever reaches a user (an :class:`InputError` becomes its own message; anything
else becomes a plain sentence with the details folded away and written to the server log).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from dptab_core.errors import InputError
from ui.safe_text import md
from ui.state import StudioState

log = logging.getLogger("dptab.app")

PAGES = {
    "data": "pages/data.py",
    "budget": "pages/budget.py",
    "train": "pages/train.py",
    "results": "pages/results.py",
    "explorer": "pages/explorer.py",
}
"""Page files by step name (the same paths ``app.py`` registers with ``st.navigation``)."""


@contextmanager
def plain_errors(doing: str) -> Iterator[None]:
    """Run a block; show a user's mistake in its own words, and a bug as one calm sentence.

    ``doing`` completes "Something went wrong while …", e.g. ``"planning the budget"``.
    """
    try:
        yield
    except InputError as exc:
        st.error(str(exc))
    except Exception as exc:  # noqa: BLE001 — the last line of defence in front of a user
        log.exception("unexpected error while %s", doing)
        st.error(f"Something went wrong while {doing}. The details below help whoever maintains this app.")
        with st.expander("Details"):
            st.code("".join(traceback.format_exception_only(type(exc), exc)).strip())


def summary_line(state: StudioState, *, job_dataset: str | None = None) -> None:
    """One line recalling the choices made so far: dataset, budget, job (and the job's dataset when it differs)."""
    parts = []
    if state.has_dataset:
        parts.append(
            f"**{md(state.dataset_name or 'dataset')}**: {state.n_rows:,} rows, "
            f"{len(state.schema.synthesized_columns())} columns + images"
            + (f", public images: {md(state.public_label or 'yes')}" if state.public_dir else "")
        )
    eps = state.plan_options.get("epsilon")
    if eps is not None:
        parts.append(f"budget **ε = {eps:g}**, δ = {state.plan_options.get('delta', 0):.0e}")
    if state.job_id:
        other = job_dataset is not None and job_dataset != state.dataset_name
        parts.append(f"job `{state.job_id}`" + (f" on **{md(job_dataset)}**" if other else ""))
    if parts:
        st.caption("So far — " + " · ".join(parts))


def next_button(label: str, step: str, *, ready: bool, why_not: str = "") -> None:
    """A primary button to the next step; disabled (with the reason) until the page is valid."""
    if st.button(label, type="primary", disabled=not ready, help=None if ready else why_not, key=f"next_{step}"):
        st.switch_page(PAGES[step])
    if not ready and why_not:
        st.caption(why_not)


def require_dataset(state: StudioState) -> bool:
    """True when a dataset is chosen; otherwise offer the demo dataset (one click) or the Data page."""
    if state.has_dataset:
        return True
    st.info("No dataset chosen yet. Start with the built-in demo dataset, or pick your own on the Data page.")
    left, right = st.columns(2)
    if left.button("Use the demo dataset", type="primary", key="use_demo"):
        from ui.demo import use_demo

        with plain_errors("preparing the demo dataset"):
            use_demo(state)
            st.rerun()
    if right.button("Go to the Data page", key="to_data"):
        st.switch_page(PAGES["data"])
    return False
