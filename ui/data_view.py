"""Drawing blocks of the Data page: the validation report, the schema editor, the image grid.

The schema editor shows one row per column (kind, domain, a *public* tick, the note saying why it
was proposed so) and turns the user's edits back into a :class:`Schema` with :func:`apply_edits`,
which names the column at fault when a cell cannot be read. Domains are written as text: categories
separated by ``|``, numeric bounds as ``low, high``.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pandas as pd
import streamlit as st

from dptab_core.data.ingest import Inspection
from dptab_core.data.schema import Column, Schema
from dptab_core.errors import DataError
from ui.safe_text import md

EDITABLE_KINDS = ["categorical", "numeric", "excluded"]
PREVIEW_COUNT = 12
_NUMBER = r"\s*(-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)\s*"


def domain_text(column: Column) -> str:
    """The domain cell of ``column``: ``a | b`` for categories, ``low, high`` for bounds, else empty.

    >>> domain_text(Column(name="age", kind="numeric", dtype="int", bounds=(0, 85)))
    '0, 85'
    """
    if column.kind == "categorical" and column.categories:
        return " | ".join(column.categories)
    if column.kind == "numeric" and column.bounds:
        return ", ".join(f"{b:g}" for b in column.bounds)
    return ""


def schema_frame(schema: Schema) -> pd.DataFrame:
    """One editable row per column."""
    return pd.DataFrame([{"column": c.name, "kind": c.kind, "type": c.dtype, "domain": domain_text(c),
                          "public": c.public, "note": c.note} for c in schema.columns])


def apply_edits(schema: Schema, edited: pd.DataFrame) -> Schema:
    """``schema`` with the editor's kinds, domains and public ticks; DataError naming the column otherwise.

    >>> s = Schema(columns=(Column(name="img", kind="image"), Column(name="age", kind="numeric", dtype="int",
    ...            bounds=(3, 80))), image_column="img")
    >>> frame = schema_frame(s)
    >>> frame.loc[1, ["domain", "public"]] = ["0, 120", True]
    >>> apply_edits(s, frame).column("age")
    Column(name='age', kind='numeric', dtype='int', categories=None, bounds=(0.0, 120.0), bins=16, public=True, note='')
    """
    columns = []
    for col, row in zip(schema.columns, edited.to_dict("records"), strict=True):
        kind, text, public = row["kind"], str(row["domain"] or "").strip(), bool(row["public"])
        if col.kind == "image" or col.name == schema.person_column:
            if kind != col.kind:
                raise DataError(f"this column must stay {col.kind!r}", where=f"column {col.name!r}",
                                hint="Choose another image or person column above instead.")
            columns.append(col)
            continue
        if kind == "excluded":
            columns.append(replace(col, kind="excluded", categories=None, bounds=None, public=False))
        elif kind == "numeric":
            match = re.fullmatch(_NUMBER + "," + _NUMBER, text)
            if match is None:
                raise DataError(f"cannot read the bounds {text!r}", where=f"column {col.name!r}",
                                hint="Write them as 'low, high', e.g. '0, 120'.")
            dtype = col.dtype if col.dtype in ("int", "float") else "float"
            columns.append(replace(col, kind="numeric", dtype=dtype, categories=None, public=public,
                                   bounds=(float(match[1]), float(match[2]))))
        else:
            if col.kind != "categorical" and "|" not in text:
                raise DataError(f"cannot read categories from {text!r}", where=f"column {col.name!r}",
                                hint="Type the categories separated by '|', e.g. 'arm | leg | trunk'.")
            labels = tuple(dict.fromkeys(p.strip() for p in text.split("|") if p.strip()))
            columns.append(replace(col, kind="categorical", categories=labels, bounds=None, public=public,
                                   dtype=col.dtype if col.kind == "categorical" else "str"))
    return replace(schema, columns=tuple(columns))


def schema_editor(schema: Schema, *, key: str) -> pd.DataFrame:
    """Draw the editor and return the edited rows."""
    st.caption("Tick **public** only for a domain that is public knowledge (e.g. ages 0–120, a published list "
               "of body sites). Unticked domains are not trusted from your data: they are paid for from the "
               "privacy budget (noisy category counts, DP bounds) before anything else runs.")
    return st.data_editor(
        schema_frame(schema), key=key, hide_index=True, disabled=["column", "type", "note"],
        column_config={
            "kind": st.column_config.SelectboxColumn("kind", options=[*EDITABLE_KINDS, "image"], required=True),
            "domain": st.column_config.TextColumn("domain", help="categories 'a | b | c', or numeric bounds 'low, high'"),
            "public": st.column_config.CheckboxColumn("public", help="the domain is public knowledge (costs no ε)"),
            "note": st.column_config.TextColumn("why", width="large"),
        })


def validation_report(report: Inspection) -> None:
    """The report in plain words: counts, fatal problems with the fix, then skips and warnings."""
    cols = st.columns(4)
    cols[0].metric("Rows read", f"{report.n_rows_read:,}")
    cols[1].metric("Rows kept", f"{report.n_rows_kept:,}")
    cols[2].metric("Image files", f"{report.n_image_files:,}")
    cols[3].metric("Image format", f"{report.image_size}×{report.image_size} {report.image_mode}")
    fatal = report.issues_of("fatal")
    if fatal:
        st.error(f"**{len(fatal)} problem(s) must be fixed** before this data can be used.")
        for issue in fatal[:30]:
            st.error(f"**{md(issue.where)}**: {md(issue.what)}. *What to do:* {md(issue.hint)}")
        if len(fatal) > 30:
            st.error(f"… and {len(fatal) - 30} more (the command line `python -m dptab_core inspect --json` lists all).")
    else:
        st.success("No blocking problems: the data can be used.")
    for severity, title in (("skipped", "Dropped by your choice"), ("warning", "Warnings")):
        found = report.issues_of(severity)
        if found:
            with st.expander(f"{title} ({len(found)})"):
                st.dataframe(pd.DataFrame([i.to_dict() for i in found[:1000]]), hide_index=True)


def image_grid(report: Inspection) -> None:
    """A few of the kept images, as they are on disk (the models see them centre-cropped and resized)."""
    if report.images_root is None or not report.preview_files:
        return
    names = report.preview_files[:PREVIEW_COUNT]
    st.image([str(Path(report.images_root) / n) for n in names], caption=names, width=96)
    st.caption(f"Each image is centre-cropped to a square and resized (Lanczos) to {report.image_size}×"
               f"{report.image_size}, mode {report.image_mode}.")


def folder_grid(folder: Path | None) -> None:
    """The first few image files of a folder (the demo's), in name order."""
    if folder is None or not Path(folder).is_dir():
        return
    names = sorted(p.name for p in Path(folder).iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    if names:
        st.image([str(Path(folder) / n) for n in names[:PREVIEW_COUNT]], caption=names[:PREVIEW_COUNT], width=96)


def mtime(path: Path) -> int | None:
    """Modification time (ns) of ``path``, so a changed file is inspected again; None when absent."""
    try:
        return Path(path).stat().st_mtime_ns
    except OSError:
        return None
