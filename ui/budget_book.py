"""The dataset's privacy budget in the app: the sidebar line and the Budget page's panel.

Reads the dataset's book through :mod:`dptab_core.privacy.dataset_budget` (every job that read the
data, composed with the same accountant) and lets the owner set the cap that refuses jobs over it.
"""

from __future__ import annotations

import streamlit as st

from dptab_core.errors import InputError
from dptab_core.privacy import dataset_budget as db
from ui.safe_text import md
from ui.state import StudioState


def dataset_spend(state: StudioState) -> db.Spend | None:
    """The spend of the session's dataset (None before any job read it, or without a dataset)."""
    if state.csv_path is None or state.images_path is None:
        return None
    try:
        return db.spend_of(state.csv_path, state.images_path)
    except (OSError, InputError):
        return None


def sidebar_line(state: StudioState) -> None:
    """``this dataset: ε = 12.3 of 20 spent over 4 runs`` under the dataset's name (nothing before a first job)."""
    spent = dataset_spend(state)
    if spent is not None:
        st.caption(spent.sentence())


def budget_panel(state: StudioState, *, epsilon: float) -> bool:
    """The Budget page's panel: spend so far, the cap, and whether a run at ``epsilon`` fits; True when it does."""
    st.subheader("This dataset's privacy budget")
    spent = dataset_spend(state)
    if spent is None:
        st.caption(
            "No job has read this dataset yet: its book starts with the first run. Every run, sweep and "
            "baseline on the same data is added up here."
        )
    else:
        st.markdown(f"**{md(spent.name)}** — {spent.sentence()} (δ = {spent.delta:.1e}).")
        st.caption(
            f"Composed by {spent.method}."
            + (
                f" Plus {spent.non_private_runs} non-private reference run(s): the owner's view only."
                if spent.non_private_runs
                else ""
            )
        )
    cap = spent.cap if spent else None
    left, right = st.columns([3, 1])
    new_cap = left.number_input(
        "Cap on this dataset's total ε (0 = no cap)",
        min_value=0.0,
        max_value=1000.0,
        value=float(cap or 0.0),
        step=1.0,
        key="dataset_cap",
        help="A job that would take the total over the cap is refused before it reads the data.",
    )
    if right.button("Set cap", key="set_cap"):
        fp = db.fingerprint(state.csv_path, state.images_path)
        db.set_cap(fp, new_cap or None, name=state.dataset_name)
        st.rerun()
    if cap is None:
        return True
    after = (spent.epsilon if spent else 0.0) + epsilon
    if after > cap + 1e-9:
        left_over = max(0.0, cap - (spent.epsilon if spent else 0.0))
        st.error(
            f"A run at ε = {epsilon:g} would bring this dataset to ε = {after:.3g}, over its cap of {cap:g}: "
            f"it would be refused before reading the data. Lower ε to at most {left_over:.3g}, or raise the cap "
            "if the data owner agrees."
        )
        return False
    st.caption(f"A run at ε = {epsilon:g} would bring it to ε ≤ {after:.3g} of {cap:g}.")
    return True
