"""All app state in one typed object, kept in ``st.session_state`` under a non-widget key.

Widget values vanish when a page is left (Streamlit forgets widgets that are not rendered), so every
choice a later page depends on is copied here. Pages read it at the top, draw, and write back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import streamlit as st

from dptab_core.data.schema import Schema

STATE_KEY = "_studio_state"


@dataclass
class StudioState:
    """What the user has chosen so far, page by page.

    ``csv_path``/``images_path``: the dataset on the server (the demo, an extracted upload, or a
    folder path). ``schema``: the confirmed schema, once the Data page is done. ``n_rows``: rows kept
    after validation and one-row-per-person bounding (planning needs only this and the schema).
    ``public_dir``: a public labelled image folder for the semantic query, if any.
    ``plan_options``: the Budget page's keyword arguments for ``plan_budget``. ``job_id``: the job the
    Train and Results pages follow. ``preset``: the image-model preset picked on the Train page.
    ``ingest_policy``: the Data page's keyword arguments for ``IngestPolicy`` (which bad rows to drop);
    a job must load the data with the same ones (``load_paired_dataset(..., policy=IngestPolicy(**it))``)
    to get the same ``n_rows``.
    """

    dataset_name: str | None = None
    csv_path: Path | None = None
    images_path: Path | None = None
    image_column: str | None = None
    public_dir: Path | None = None
    schema: Schema | None = None
    n_rows: int | None = None
    plan_options: dict[str, Any] = field(default_factory=dict)
    job_id: str | None = None
    preset: str | None = None
    ingest_policy: dict[str, bool] = field(default_factory=dict)

    @property
    def has_dataset(self) -> bool:
        return self.schema is not None and self.n_rows is not None


def get_state() -> StudioState:
    """The session's state object (created on first use)."""
    if STATE_KEY not in st.session_state:
        st.session_state[STATE_KEY] = StudioState()
    return st.session_state[STATE_KEY]
