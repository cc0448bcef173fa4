"""One click to the built-in demo dataset, from any page (the Data page offers it first).

The demo's schema is declared public by its design (:func:`dptab_core.data.demo.demo_schema`), and
it holds one row per patient, so nothing needs confirming before planning.
"""

from __future__ import annotations

import streamlit as st

from dptab_core.data.demo import IMAGE_COLUMN, demo_schema, ensure_demo, read_manifest
from ui.state import StudioState, remember_dataset

DEMO_NAME = "Demo: dermatology clinic"
_FIRST_LAUNCH_DONE = "_demo_offered"


def use_demo(state: StudioState) -> None:
    """Generate the demo if needed (first launch) and make it the session's dataset."""
    folder = ensure_demo()
    manifest = read_manifest(folder) or {}
    state.dataset_name = DEMO_NAME
    state.csv_path = folder / "table.csv"
    state.images_path = folder / "images"
    state.image_column = IMAGE_COLUMN
    state.public_dir = folder / "public"
    state.schema = demo_schema()
    state.n_rows = int(manifest["rows"])
    state.ingest_policy, state.images_label, state.public_label = {}, "the demo's photos", "the demo's public set"
    remember_dataset(state)


def ready_on_first_launch(state: StudioState) -> None:
    """A new session starts with the demo chosen, so every page (and the badge) has data to show.

    Runs once per session: a user who later picks their own data is never switched back.
    """
    if state.has_dataset or st.session_state.get(_FIRST_LAUNCH_DONE):
        return
    st.session_state[_FIRST_LAUNCH_DONE] = True
    with st.spinner("Preparing the demo dataset (first launch only)…"):
        use_demo(state)
