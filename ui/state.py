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
from dptab_core.user_data import load_dataset_choice, save_dataset_choice

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
    images_label: str | None = None
    public_label: str | None = None

    @property
    def has_dataset(self) -> bool:
        return self.schema is not None and self.n_rows is not None


_REMEMBERED = (
    "dataset_name",
    "csv_path",
    "images_path",
    "image_column",
    "public_dir",
    "n_rows",
    "ingest_policy",
    "images_label",
    "public_label",
)


def remember_dataset(state: StudioState) -> None:
    """Write the chosen dataset to the workspace, so a refresh or a new tab finds it again."""
    if not state.has_dataset:
        return
    choice = {k: getattr(state, k) for k in _REMEMBERED}
    choice.update({k: str(v) for k, v in choice.items() if isinstance(v, Path)}, schema=state.schema.to_dict())
    save_dataset_choice(choice)


def restore_dataset(state: StudioState) -> bool:
    """Fill ``state`` with the dataset remembered in the workspace; False when there is none (or it is gone)."""
    choice = load_dataset_choice()
    if choice is None or not isinstance(choice.get("schema"), dict):
        return False
    try:
        schema = Schema.from_dict(choice["schema"])
    except (KeyError, TypeError, ValueError):
        return False
    for key in _REMEMBERED:
        value = choice.get(key)
        if key in ("csv_path", "images_path", "public_dir") and value:
            value = Path(value)
        if key == "public_dir" and value is not None and not Path(value).is_dir():
            value = None
        setattr(state, key, value if value is not None or key != "ingest_policy" else {})
    state.schema = schema
    return True


def get_state() -> StudioState:
    """The session's state object: on first use, the dataset remembered in the workspace (if any)."""
    if STATE_KEY not in st.session_state:
        state = StudioState()
        restore_dataset(state)
        st.session_state[STATE_KEY] = state
    return st.session_state[STATE_KEY]
