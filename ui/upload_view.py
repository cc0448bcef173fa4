"""The Data page's upload widgets: a CSV plus an image folder (directory upload) or zip, and the public
labelled image set that PrivImage's semantic query and pre-training use.

Files are stored by :mod:`dptab_core.user_data` under the workspace, keeping the user's file names so
every message names *their* file. The schema editor and the validation report stay in
:mod:`ui.data_view`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from dptab_core.uploads import save_folder_stream, save_stream, save_table_upload
from dptab_core.user_data import IMAGE_SUFFIXES, MIN_PUBLIC_PER_LABEL, PublicFolderCheck, check_public_folder
from ui.demo import DEMO_NAME
from ui.safe_text import md
from ui.state import StudioState
from ui.widgets import plain_errors

IMAGE_TYPES = [s.lstrip(".") for s in IMAGE_SUFFIXES]
FOLDER, ZIP = "a folder of images", "a .zip of the images"
PUBLIC_NONE, PUBLIC_FOLDER, PUBLIC_ZIP, PUBLIC_SERVER = (
    "none (skip the public-image stages)",
    "upload a folder",
    "upload a .zip",
    "a folder on this server",
)
PUBLIC_NOTE = (
    "**This set must be public.** Use only images anyone may see and reuse (a published dataset, "
    "pictures under an open licence), never your own patients' or members' photos: the public set "
    "is read without any privacy protection, and a model is pre-trained on it. Lay it out as "
    "`<label>/<image files>`, one folder per label (e.g. `mole/001.jpg`, `rash/002.jpg`). The app "
    f"picks the labels that look like your images with a noisy vote (a small part of ε); labels need "
    f"at least {MIN_PUBLIC_PER_LABEL} images to be useful."
)


@dataclass(frozen=True)
class Upload:
    """A saved upload: where the table and the images are, and how the user named them."""

    csv_path: Path
    images_path: Path
    csv_name: str
    images_label: str


def _save_file(upload, *, table: bool = False) -> str:
    """Stream one upload to disk once per upload (never a second copy of its bytes); cap a table's size."""
    key = ("_saved_upload", upload.file_id)
    if key not in st.session_state:
        with st.spinner("Saving the upload…"):  # a table over the row/column/cell caps is refused, not kept
            path = save_table_upload(upload, upload.name) if table else save_stream(upload, upload.name)
        st.session_state[key] = str(path)
    return st.session_state[key]


def _save_folder(files, kind: str) -> tuple[str, str, int, tuple[str, ...]]:
    """Stream a directory upload to disk, file by file, once per set of uploaded files."""
    key = ("_saved_folder", kind, tuple(f.file_id for f in files))
    if key not in st.session_state:
        with st.spinner("Saving the image folder…"):
            root, name, n_files, refused = save_folder_stream(((f.name, f) for f in files), kind=kind)
        st.session_state[key] = (str(root), name, n_files, tuple(refused))
    return st.session_state[key]


def upload_source() -> Upload | None:
    """CSV uploader plus an image folder (directory uploader) or zip; the saved upload, or None until both are there."""
    limit = st.get_option("server.maxUploadSize")
    csv_file = st.file_uploader(
        "Table (CSV, one row per person, with a header)", type=["csv", "tsv", "txt"], key="upload_csv"
    )
    how = st.radio("Images as", [FOLDER, ZIP], key="upload_images_as", horizontal=True)
    if how == FOLDER:
        files = st.file_uploader(
            "Image folder (choose the folder: every image in it and its sub-folders is uploaded)",
            type=IMAGE_TYPES,
            accept_multiple_files="directory",
            key="upload_image_dir",
        )
        st.caption(
            f"Uploads are limited to {limit:,} MB per file. For a very large image set, give a folder on "
            "this server instead."
        )
        if csv_file is None or not files:
            return None
        with plain_errors("saving the image folder"):
            root, name, n_files, refused = _save_folder(files, "images")
            if refused:
                st.warning(
                    f"{len(refused)} file name(s) were refused (absolute paths, '..' or hidden parts), for "
                    f"example {md(refused[0])}: those files were not saved."
                )
            return Upload(
                Path(_save_file(csv_file, table=True)), Path(root), csv_file.name, f"folder {name}/ ({n_files:,} files)"
            )
        return None
    zip_file = st.file_uploader("Images (a .zip of the image files)", type=["zip"], key="upload_zip")
    st.caption(f"Uploads are limited to {limit:,} MB per file.")
    if csv_file is None or zip_file is None:
        return None
    with plain_errors("saving the upload"):
        return Upload(Path(_save_file(csv_file, table=True)), Path(_save_file(zip_file)), csv_file.name, zip_file.name)
    return None


@st.cache_data(show_spinner="Checking the public image set…", max_entries=8)
def _check(path: str, stamp: int | None) -> PublicFolderCheck:
    return check_public_folder(Path(path))


def _stamp(path: Path) -> int | None:
    try:
        return Path(path).stat().st_mtime_ns
    except OSError:
        return None


def public_folder_picker(state: StudioState) -> tuple[Path | None, str | None]:
    """The public labelled image set: choose, check, preview. Returns (checked folder or None, its label)."""
    st.subheader("Public images (optional, recommended)")
    st.markdown(PUBLIC_NOTE)
    options = [PUBLIC_NONE, PUBLIC_FOLDER, PUBLIC_ZIP, PUBLIC_SERVER]
    own = state.public_dir if state.public_dir and state.dataset_name != DEMO_NAME else None
    start = 3 if own else 0
    how = st.radio("Public labelled images", options, index=start, key="public_source", horizontal=True)
    path, label = None, None
    if how == PUBLIC_FOLDER:
        files = st.file_uploader(
            "Public image folder (<label>/<image files>)",
            type=IMAGE_TYPES,
            accept_multiple_files="directory",
            key="upload_public_dir",
        )
        if files:
            with plain_errors("saving the public image folder"):
                root, name, n_files, _ = _save_folder(files, "public")
                path, label = Path(root), f"folder {name}/ ({n_files:,} files)"
    elif how == PUBLIC_ZIP:
        zip_file = st.file_uploader(
            "Public images (.zip of <label>/<image files>)", type=["zip"], key="upload_public_zip"
        )
        if zip_file is not None:
            with plain_errors("saving the public zip"):
                path, label = Path(_save_file(zip_file)), zip_file.name
    elif how == PUBLIC_SERVER:
        text = st.text_input("Public image folder (or .zip) on this server", value=str(own or ""), key="server_public")
        if text.strip():
            path = Path(text.strip()).expanduser()
            label = state.public_label if own and Path(own) == path else path.name
    if path is None:
        if how != PUBLIC_NONE:
            st.caption("Without a public set, the public-image query and pre-training are skipped.")
        return None, None
    root = _show_check(_check(str(path), _stamp(path)))
    return root, label if root is not None else None


def _show_check(check: PublicFolderCheck) -> Path | None:
    for problem in check.problems:
        st.error(f"**Public images:** {md(problem)}")
    for warning in check.warnings:
        st.warning(f"**Public images:** {md(warning)}")
    if not check.ok:
        return None
    st.success(f"Public set: {len(check.counts):,} labels, {check.n_images:,} images.")
    if check.previews:
        st.image([str(p) for _, p in check.previews], caption=[lab for lab, _ in check.previews], width=72)
    return check.root
