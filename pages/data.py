"""Step 1 · Data: the demo dataset, an upload (CSV + image folder or zip) or a folder on the server, checked and described.

Storyboard: choose a source → the engine validates it and proposes a schema (``inspect_dataset``) →
the page lists the problems in plain words, offers the choices for the skippable ones and the person
column, lets the user edit the schema and tick public domains → "Use this dataset" stores it.
"""

from dataclasses import asdict
from pathlib import Path

import streamlit as st

from dptab_core.data.ingest import NO_PERSON_COLUMN, IngestPolicy, inspect_dataset
from dptab_core.privacy.person_unit import KEPT_ROW_RULE, proxy_hint
from dptab_core.workspace import workspace_root
from ui import data_view as dv
from ui import upload_view as uv
from ui.demo import DEMO_NAME, use_demo
from ui.safe_text import md
from ui.state import get_state, remember_dataset
from ui.widgets import next_button, plain_errors, summary_line

SOURCES = ["Demo dataset", "Upload a CSV + images (folder or zip)", "Folder on this server"]
PROPOSED, NO_PERSON = "(proposed)", "none: every row is a different person"
CACHE_KEY = "_data_inspections"

state = get_state()
st.title("1 · Data")
summary_line(state)
own_data = state.dataset_name not in (None, DEMO_NAME)
source = st.radio("Where is the data?", SOURCES, index=2 if own_data else 0, key="data_source", horizontal=True)

if source == SOURCES[0]:
    if state.dataset_name != DEMO_NAME:
        with st.spinner("Preparing the demo dataset (first launch only)…"), plain_errors("preparing the demo dataset"):
            use_demo(state)
    if state.dataset_name == DEMO_NAME:
        st.success(
            f"Using **{DEMO_NAME}**: {state.n_rows:,} patients, one row and one skin photo each. Its "
            "domains are public by design, and every row is a different patient."
        )
        st.dataframe(dv.schema_frame(state.schema), hide_index=True)
        dv.folder_grid(state.images_path)
        next_button("Next: budget →", "budget", ready=True)
    st.stop()

csv_path = images_path = None
csv_name = images_label = None
if source == SOURCES[1]:
    upload = uv.upload_source()
    if upload is not None:
        csv_path, images_path = upload.csv_path, upload.images_path
        csv_name, images_label = upload.csv_name, upload.images_label
else:
    st.caption("For large datasets: give paths on the machine that runs the app (nothing is copied).")
    csv_text = st.text_input("CSV file", value=str(state.csv_path or ""), key="server_csv")
    images_text = st.text_input("Image folder (or .zip)", value=str(state.images_path or ""), key="server_images")
    if csv_text.strip() and images_text.strip():
        csv_path, images_path = Path(csv_text.strip()).expanduser(), Path(images_text.strip()).expanduser()
        same = state.csv_path is not None and Path(state.csv_path) == csv_path
        csv_name = state.dataset_name if same else csv_path.name
        images_label = state.images_label if same and state.images_label else images_path.name
if csv_path is None:
    st.info("Choose the table and the images to check them.")
    st.stop()

st.subheader("Choices")
left, right = st.columns(2)
policy = IngestPolicy(
    drop_missing_images=left.checkbox("Drop rows whose image is missing", key="drop_missing"),
    drop_corrupt_images=left.checkbox("Drop rows whose image is broken or not an image", key="drop_corrupt"),
    drop_ragged_rows=right.checkbox("Drop rows with the wrong number of fields", key="drop_ragged"),
    drop_duplicate_image_refs=right.checkbox(
        "Drop every row whose image file another row also names",
        key="drop_dupes",
        help="All rows sharing one image file are dropped, the first one too: keeping one would let an added "
        "person's row push out another person's.",
    ),
    keep_one_row_per_person=right.checkbox(
        "Keep one row per person (recommended)",
        value=True,
        key="one_per_person",
        help=f"With a person column, {KEPT_ROW_RULE}.",
    ),
)
known = st.session_state.get("_data_columns", [])
image_choice = left.selectbox("Image column", ["(detect)", *known], key="image_column")
person_choice = left.selectbox(
    "Person column (one person may own several rows)",
    [PROPOSED, NO_PERSON, *known],
    key="person_column",
    help="The guarantee protects one value of this column. If it names less than a person "
    "(HAM10000's lesion_id is a lesion: a patient can have several), a person with k "
    "of them is protected only at about k·ε.",
)
confirmed = person_choice == NO_PERSON and st.checkbox(
    "I confirm that every row belongs to a different person", key="confirm_one_per_person"
)
person = None if person_choice == PROPOSED else NO_PERSON_COLUMN if person_choice == NO_PERSON else person_choice

args = dict(
    image_column=None if image_choice == "(detect)" else image_choice,
    person_column=person,
    policy=policy,
    confirm_one_row_per_person=confirmed,
)
cache = st.session_state.setdefault(CACHE_KEY, {})
cache_key = (str(csv_path), str(images_path), repr(sorted(args.items())), dv.mtime(csv_path), dv.mtime(images_path))
report = cache.get(cache_key)
if report is None:
    with plain_errors("checking the data"):
        bar = st.progress(0.0, text="Checking the images…")
        report = inspect_dataset(
            csv_path,
            images_path,
            workspace=workspace_root(),
            progress=lambda done, total: bar.progress(done / total, text=f"Checked {done:,}/{total:,} images"),
            **args,
        )
        bar.empty()
        cache.clear()
        cache[cache_key] = report
        if report.columns != known:
            st.session_state["_data_columns"] = report.columns
            st.rerun()
if report is None:
    st.stop()

st.subheader("Validation report")
dv.validation_report(report)
if report.person_column:
    st.info(
        f"Person column **{md(report.person_column)}**: one row per person is kept — {KEPT_ROW_RULE} "
        f"({report.rows_dropped_per_person:,} rows dropped), so one person = one row + its image."
    )
    if proxy_hint(report.person_column):
        st.warning(md(proxy_hint(report.person_column)))
elif report.needs_person_confirmation and report.ok():  # a broken file gets no person warning
    st.warning(
        "No person column: differential privacy here protects one *row*. Confirm above that every row is a "
        "different person, or pick the column that identifies people"
        + (f" (candidates: {', '.join(report.person_column_candidates)})." if report.person_column_candidates else ".")
    )
if report.schema is None:
    st.stop()

st.subheader("Schema proposal")
edited = dv.schema_editor(report.schema, key=f"schema_editor_{hash(cache_key)}")
schema = None
with plain_errors("reading the schema table"):
    schema = dv.apply_edits(report.schema, edited)
st.subheader("Images")
dv.image_grid(report)

public_dir, public_label = uv.public_folder_picker(state)

ready = report.ok() and schema is not None and not report.needs_person_confirmation
why = "Fix the problems listed above first." if not report.ok() else "Confirm the person rule above first."
if st.button("Use this dataset", type="primary", disabled=not ready, key="use_dataset"):
    state.dataset_name, state.images_label = csv_name, images_label
    state.csv_path, state.images_path, state.image_column = csv_path, report.images_root, report.image_column
    state.schema, state.n_rows = schema, report.n_rows_kept
    state.public_dir, state.public_label = public_dir, public_label
    state.ingest_policy = asdict(policy)
    remember_dataset(state)
    st.rerun()
if state.has_dataset and state.dataset_name == csv_name and state.csv_path == csv_path:
    st.success(
        f"Using **{md(state.dataset_name)}**: {state.n_rows:,} rows with images"
        + (f", public images from {md(state.public_label)}." if state.public_dir else ".")
    )
next_button(
    "Next: budget →",
    "budget",
    ready=state.has_dataset and state.dataset_name != DEMO_NAME and ready,
    why_not=why if not ready else "Press “Use this dataset” first.",
)
