"""Drawing blocks of the Data page: the validation report, the schema editor, the image grid.

The schema editor shows one row per column — kind, type, domain, a *public* tick, whether it may be
blank, how a numeric column is binned, and the note saying why it was proposed so — plus the facts of
the whole file (image mode, text encoding, delimiter), and turns the user's edits back into a
:class:`Schema` with :func:`apply_edits`, which names the column at fault when a cell cannot be read.
Domains are written as text: categories separated by ``|``, numeric bounds as ``low, high``; bins as
``quantile`` (DP quantiles, paid), ``equal`` (equal widths over public bounds) or edges ``0, 18, 65, 120``.
Every value the proposal pre-fills from the data is marked *from data* until the user declares it.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pandas as pd
import streamlit as st

from dptab_core.data.ingest import Inspection
from dptab_core.data.schema import DEFAULT_NUMERIC_BINS, MISSING_RULES, Column, Schema
from dptab_core.errors import DataError
from ui.safe_text import md

EDITABLE_KINDS = ["categorical", "numeric", "excluded"]
TYPES = ["int", "float", "str", "bool"]
DELIMITERS = {",": "comma ,", ";": "semicolon ;", "\t": "tab", "|": "bar |"}
FACTS_ATTR = "schema_facts"
"""Where :func:`schema_editor` puts the file-wide facts (image mode, encoding, delimiter) on the
edited frame, so :func:`apply_edits` reads one object."""
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


def bins_text(column: Column) -> str:
    """The bins cell: ``quantile``, ``equal`` or the declared edges.

    >>> bins_text(Column(name="a", kind="numeric", binning="edges", edges=(0, 18, 65, 120)))
    '0, 18, 65, 120'
    """
    if column.kind != "numeric":
        return ""
    if column.binning == "edges" and column.edges is not None:
        return ", ".join(f"{e:g}" for e in column.edges)
    return column.binning


def schema_frame(schema: Schema) -> pd.DataFrame:
    """One editable row per column; ``from data`` marks a proposal read off the data, not yet declared."""
    return pd.DataFrame(
        [
            {
                "column": c.name,
                "kind": c.kind,
                "type": c.dtype,
                "domain": domain_text(c),
                "public": c.public,
                "blanks": c.missing,
                "bins": bins_text(c),
                "from data": c.synthesized and bool(c.paid_facts),
                "note": c.note,
            }
            for c in schema.columns
        ]
    )


def apply_edits(schema: Schema, edited: pd.DataFrame) -> Schema:
    """``schema`` with the editor's kinds, types, domains, public ticks, blanks and bins (and the file-wide
    facts in ``edited.attrs``); DataError naming the column otherwise.

    >>> s = Schema(columns=(Column(name="img", kind="image"), Column(name="age", kind="numeric", dtype="int",
    ...            bounds=(3, 80))), image_column="img")
    >>> frame = schema_frame(s)
    >>> frame.loc[1, ["domain", "public", "blanks", "bins"]] = ["0, 120", True, "never", "0, 18, 65, 120"]
    >>> age = apply_edits(s, frame).column("age")
    >>> age.bounds, age.public, age.missing, age.edges, age.paid_facts
    ((0.0, 120.0), True, 'never', (0.0, 18.0, 65.0, 120.0), [])
    """
    columns = []
    for col, row in zip(schema.columns, edited.to_dict("records"), strict=True):
        kind, text, public = row["kind"], str(row["domain"] or "").strip(), bool(row["public"])
        if col.kind == "image" or col.name == schema.person_column:
            if kind != col.kind:
                raise DataError(
                    f"this column must stay {col.kind!r}",
                    where=f"column {col.name!r}",
                    hint="Choose another image or person column above instead.",
                )
            columns.append(col)
            continue
        dtype = str(row.get("type") or col.dtype)
        missing = str(row.get("blanks") or col.missing)
        if missing not in MISSING_RULES:
            raise DataError(
                f"unknown blanks rule {missing!r}",
                where=f"column {col.name!r}",
                hint="Choose never (declared complete), allowed, or learn (paid from the budget).",
            )
        if kind == "excluded":
            columns.append(replace(col, kind="excluded", categories=None, bounds=None, edges=None, public=False))
        elif kind == "numeric":
            match = re.fullmatch(_NUMBER + "," + _NUMBER, text)
            if match is None:
                raise DataError(
                    f"cannot read the bounds {text!r}",
                    where=f"column {col.name!r}",
                    hint="Write them as 'low, high', e.g. '0, 120'.",
                )
            if dtype not in ("int", "float"):
                dtype = col.dtype if col.dtype in ("int", "float") else "float"
            binning, edges = _bins(str(row.get("bins") or "quantile"), col.name)
            columns.append(
                replace(
                    col,
                    kind="numeric",
                    dtype=dtype,
                    categories=None,
                    public=public,
                    missing=missing,
                    bounds=(float(match[1]), float(match[2])),
                    binning=binning,
                    edges=edges,
                    bins=col.bins if col.edges is None or edges is not None else DEFAULT_NUMERIC_BINS,
                )
            )
        else:
            if col.kind != "categorical" and "|" not in text:
                raise DataError(
                    f"cannot read categories from {text!r}",
                    where=f"column {col.name!r}",
                    hint="Type the categories separated by '|', e.g. 'arm | leg | trunk'.",
                )
            labels = tuple(dict.fromkeys(p.strip() for p in text.split("|") if p.strip()))
            if dtype == "float":
                dtype = "str"
            columns.append(
                replace(
                    col,
                    kind="categorical",
                    categories=labels,
                    bounds=None,
                    edges=None,
                    binning="equal",
                    public=public,
                    missing=missing,
                    dtype=dtype if col.kind == "categorical" or dtype != col.dtype else "str",
                )
            )
    facts = edited.attrs.get(FACTS_ATTR, {})
    return replace(
        schema,
        columns=tuple(columns),
        **{k: v for k, v in facts.items() if k in ("image_mode", "encoding", "delimiter")},
    )


def _bins(text: str, name: str) -> tuple[str, tuple[float, ...] | None]:
    """(binning, edges) from the bins cell."""
    word = text.strip().lower()
    if word in ("quantile", "equal"):
        return word, None
    try:
        edges = tuple(float(p) for p in word.replace(";", ",").split(",") if p.strip())
    except ValueError:
        edges = ()
    if len(edges) < 3:
        raise DataError(
            f"cannot read the bins {text!r}",
            where=f"column {name!r}",
            hint="Write 'quantile' (DP quantiles, paid), 'equal', or at least 3 edges such as '0, 18, 65, 120'.",
        )
    return "edges", edges


def schema_editor(schema: Schema, *, key: str) -> pd.DataFrame:
    """Draw the editor (columns, then the file-wide facts) and return the edited rows, the file-wide
    facts in ``attrs``."""
    st.caption(
        "Every fact below is a declaration you confirm; a job never re-reads it from the data. Values "
        "marked **from data** were pre-filled from your file (bounds snapped outward to round numbers): "
        "tick **public** only for a domain that is public knowledge (e.g. ages 0–120, a published list of "
        "body sites). Unticked domains, `quantile` bins and `learn` blanks are paid for from the privacy "
        "budget before anything else runs; `never` declares a column complete (no blank in the release)."
    )
    edited = st.data_editor(
        schema_frame(schema),
        key=key,
        hide_index=True,
        disabled=["column", "from data", "note"],
        column_config={
            "kind": st.column_config.SelectboxColumn("kind", options=[*EDITABLE_KINDS, "image"], required=True),
            "type": st.column_config.SelectboxColumn("type", options=TYPES, required=True),
            "domain": st.column_config.TextColumn(
                "domain", help="categories 'a | b | c', or numeric bounds 'low, high'"
            ),
            "public": st.column_config.CheckboxColumn("public", help="the domain is public knowledge (costs no ε)"),
            "blanks": st.column_config.SelectboxColumn(
                "blanks",
                options=list(MISSING_RULES),
                required=True,
                help="never: declared complete; allowed; learn: paid",
            ),
            "bins": st.column_config.TextColumn("bins", help="quantile (DP, paid), equal, or edges '0, 18, 65, 120'"),
            "from data": st.column_config.CheckboxColumn("from data", help="pre-filled from your data, not declared"),
            "note": st.column_config.TextColumn("why", width="large"),
        },
    )
    left, middle, right = st.columns(3)
    modes = ["L", "RGB"]
    delimiters = list(DELIMITERS)
    facts = {
        "image_mode": left.selectbox(
            "Image mode (from data)",
            modes,
            index=modes.index(schema.image_mode),
            key=f"{key}_mode",
            help="L: grey, RGB: colour; every image is converted to it",
        ),
        "encoding": middle.text_input(
            "Text encoding (from data)",
            value=schema.encoding or "utf-8",
            key=f"{key}_enc",
            help="a row that does not decode with it is dropped and reported",
        ).strip(),
        "delimiter": right.selectbox(
            "Delimiter (from data)",
            delimiters,
            format_func=DELIMITERS.get,
            index=delimiters.index(schema.delimiter) if schema.delimiter in delimiters else 0,
            key=f"{key}_delim",
        ),
    }
    edited = pd.DataFrame(edited)
    edited.attrs[FACTS_ATTR] = facts
    return edited


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
            st.error(
                f"… and {len(fatal) - 30} more (the command line `python -m dptab_core inspect --json` lists all)."
            )
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
    st.caption(
        f"Each image is centre-cropped to a square and resized (Lanczos) to {report.image_size}×"
        f"{report.image_size}, mode {report.image_mode}."
    )


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
