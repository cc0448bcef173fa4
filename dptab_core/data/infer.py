"""Proposing a schema from the data: column kinds, domains, and which column names the person.

The proposal reads the sensitive data, so nothing in it is public yet: every column comes back with
``public=False``, and its categories or bounds are only a suggestion the user confirms (then they
count as public knowledge) or leaves to the schema stage, which pays for them from the budget.

Rules, each recorded in the column's ``note``:

* all values numbers → ``numeric`` (``int`` when all are whole), with bounds pre-filled from the
  observed min/max *snapped outward to the public grid* (0, ±1, 2, 5 × powers of ten), never the exact
  extremes, and DP quantile bins; whole numbers with only a few distinct values (a score 1–5, a 0/1
  flag) → ``categorical``;
* text with few distinct values → ``categorical`` (sorted categories);
* a different value in every row (an identifier), many distinct values (free text), or no value at
  all → ``excluded``, never read by any mechanism;
* the person column (below) → ``excluded`` too: it groups rows, it is never released.

Every synthesized column is proposed with ``missing="learn"`` (whether it can be blank is learned
privately unless the user declares it), and a category held by fewer than ``rare_count`` rows is named
in the note: declaring such a list public would release it verbatim.

Person column: a column with repeated values but only a few rows per value (one patient's images),
preferring names like ``patient_id``, ``person``, ``lesion_id``.

>>> import pandas as pd
>>> frame = pd.DataFrame({"lesion_id": ["L1", "L1", "L2", "L3"], "image": ["a", "b", "c", "d"],
...                       "size_mm": ["4.5", "4.5", "7.25", None], "site": ["arm"] * 4})
>>> propose_person_columns(frame, image_column="image")[0]  # a name hint ranks first
'lesion_id'
>>> schema = propose_schema(frame, image_column="image", person_column="lesion_id")
>>> [(c.name, c.kind, c.dtype, c.bounds or c.categories) for c in schema.columns]
[('lesion_id', 'excluded', 'str', None), ('image', 'image', 'str', None), ('size_mm', 'numeric', 'float', (2.0, 10.0)), ('site', 'categorical', 'str', ('arm',))]
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import pandas as pd

from dptab_core.data.schema import Column, DType, ImageMode, Schema


@dataclass(frozen=True)
class InferenceConfig:
    """Thresholds of the proposal, each with its reason.

    ``max_categories``: more distinct labels than this is treated as free text — beyond ~50 cells the
    2-way marginals of a few thousand rows are mostly noise under DP. ``max_int_categories``: whole
    numbers with at most this many values read better as categories (scores, flags, counts of
    children). ``free_text_length``: a mean length above this (with spaces) reads as prose.
    ``max_rows_per_person``: a person column groups a *few* rows (a patient's images); a column with
    more rows per value on average is an attribute (a diagnosis, a site). ``rare_count``: a category
    held by fewer rows is "a handful of people" — declared public, the list would name them.
    """

    max_categories: int = 50
    max_int_categories: int = 10
    free_text_length: float = 40.0
    max_rows_per_person: float = 5.0
    rare_count: int = 5


DEFAULT_INFERENCE_CONFIG = InferenceConfig()

_PERSON_WORDS = r"person|patient|subject|participant|individual|lesion|user|member|customer|client|owner|case|mrn|pid"
_PERSON_HINT = re.compile(rf"^(.*[_\s.-])?({_PERSON_WORDS})s?([_\s.-]?(id|no|nr|number|key|code))?$", re.IGNORECASE)
_ID_SUFFIX = re.compile(r"((^|[_\s.-])id|[a-z0-9]ID|Id)$")


def looks_like_person_name(name: str) -> bool:
    """True for column names that usually identify people or their records.

    >>> [looks_like_person_name(n) for n in ["patient_id", "lesion_id", "PatientID", "subject", "lesion_diameter_mm", "idea"]]
    [True, True, True, True, False, False]
    """
    return bool(_PERSON_HINT.match(name) or _ID_SUFFIX.search(name))


def propose_person_columns(
    frame: pd.DataFrame, *, image_column: str | None, config: InferenceConfig = DEFAULT_INFERENCE_CONFIG
) -> list[str]:
    """Columns that can name a person owning several rows, best first (a name hint ranks first).

    A candidate repeats some values but has few rows per value on average (counting rows where it
    is missing, so a mostly-empty column does not qualify). Candidates whose name says they name a
    person come first; the others follow, for the user to choose from.
    """
    scored: list[tuple[bool, float, str]] = []
    for name in frame.columns:
        if name == image_column:
            continue
        values = frame[name].dropna()
        if values.empty or _has_fractions(values):
            continue
        distinct = values.nunique()
        if distinct == len(values) or len(frame) / distinct > config.max_rows_per_person:
            continue
        scored.append((looks_like_person_name(name), distinct / len(values), name))
    scored.sort(key=lambda t: (not t[0], t[1]))
    return [name for _, _, name in scored]


def propose_schema(
    frame: pd.DataFrame,
    *,
    image_column: str,
    person_column: str | None = None,
    image_size: int = 32,
    image_mode: ImageMode = "RGB",
    encoding: str | None = None,
    delimiter: str | None = None,
    config: InferenceConfig = DEFAULT_INFERENCE_CONFIG,
) -> Schema:
    """A schema proposal for ``frame`` (text cells, ``None`` = missing); every domain ``public=False``.

    ``image_mode``, ``encoding`` and ``delimiter`` are what the scan found: proposals the user confirms.
    """
    columns = []
    for name in frame.columns:
        if name == image_column:
            columns.append(Column(name=name, kind="image", note="links each row to its image file"))
        elif name == person_column:
            columns.append(
                Column(
                    name=name, kind="excluded", note="person column: used to keep one row per person, never released"
                )
            )
        else:
            columns.append(infer_column(name, frame[name], config=config))
    return Schema(
        columns=tuple(columns),
        image_column=image_column,
        person_column=person_column or None,
        image_size=image_size,
        image_mode=image_mode,
        encoding=encoding,
        delimiter=delimiter,
    )


def infer_column(name: str, values: pd.Series, *, config: InferenceConfig = DEFAULT_INFERENCE_CONFIG) -> Column:
    """The proposed :class:`Column` for one column of text cells."""
    present = values.dropna().astype(str)
    if present.empty:
        return Column(name=name, kind="excluded", note="excluded: the column has no values")
    numbers = pd.to_numeric(present, errors="coerce")
    distinct = present.nunique()
    if numbers.notna().all() and all(math.isfinite(v) for v in numbers):
        whole = bool((numbers == numbers.round()).all())
        n_values = numbers.nunique()
        if whole and n_values <= config.max_int_categories:
            ints = numbers.astype("int64")
            categories = tuple(str(v) for v in sorted(ints.unique()))
            return Column(
                name=name,
                kind="categorical",
                dtype="int",
                categories=categories,
                missing="learn",
                note=f"whole numbers with {n_values} distinct values: proposed as categories "
                "(confirm the list as public, or it is paid from the budget)"
                + _rare_note(ints.astype(str).value_counts(), config),
            )
        if whole and n_values == len(present) and (looks_like_person_name(name) or _is_consecutive(numbers)):
            return Column(
                name=name,
                kind="excluded",
                dtype="int",
                note="excluded: a different number in every row, like an identifier",
            )
        low, high = snap_outward(float(numbers.min()), float(numbers.max()))
        bounds = (int(low), int(high)) if whole else (low, high)
        return Column(
            name=name,
            kind="numeric",
            dtype="int" if whole else "float",
            bounds=bounds,
            binning="quantile",
            missing="learn",
            note=f"pre-filled from the data: bounds {bounds[0]}–{bounds[1]} (the observed range snapped "
            "outward to 0, 1, 2, 5 × 10^k), type and bins at DP quantiles; confirm public bounds "
            "(e.g. 0–120 for an age) or they are paid from the budget",
        )
    if distinct == len(present) and len(present) > 1:
        return Column(
            name=name,
            kind="excluded",
            note="excluded: a different value in every row, like an identifier or a file name",
        )
    if distinct > config.max_categories or (
        present.str.len().mean() > config.free_text_length and present.str.contains(" ").mean() > 0.5
    ):
        return Column(
            name=name,
            kind="excluded",
            note=f"excluded: {distinct} distinct values read as free text "
            f"(over {config.max_categories}); group them into categories to use the column",
        )
    lowered = {v.lower() for v in present.unique()}
    dtype: DType = "bool" if lowered <= {"true", "false"} else "str"
    return Column(
        name=name,
        kind="categorical",
        dtype=dtype,
        categories=tuple(sorted(present.unique())),
        missing="learn",
        note=f"{distinct} categories observed (confirm the list as public, or it is paid from the budget)"
        + _rare_note(present.value_counts(), config),
    )


def rare_categories(counts: pd.Series, config: InferenceConfig = DEFAULT_INFERENCE_CONFIG) -> list[str]:
    """Labels held by fewer than ``config.rare_count`` rows (sorted)."""
    return sorted(str(label) for label, count in counts.items() if count < config.rare_count)


def _rare_note(counts: pd.Series, config: InferenceConfig) -> str:
    rare = rare_categories(counts, config)
    if not rare:
        return ""
    shown = ", ".join(rare[:5]) + (f" and {len(rare) - 5} more" if len(rare) > 5 else "")
    return (
        f"; WARNING: {len(rare)} held by fewer than {config.rare_count} rows ({shown}): declared public, "
        "the list would name them — leave it paid, or declare only a published list"
    )


def snap_outward(low: float, high: float) -> tuple[float, float]:
    """``(low, high)`` widened to points of the public grid 0, ±{1, 2, 5}·10^k, never the exact extremes
    (a maximum often identifies a person) unless they are 0.

    >>> snap_outward(17, 90), snap_outward(20, 58), snap_outward(0, 1.3), snap_outward(-3.5, 7.25)
    ((10.0, 100.0), (10.0, 100.0), (0.0, 2.0), (-5.0, 10.0))
    """
    from dptab_core.privacy.settings import SCHEMA_STAGE

    grid = SCHEMA_STAGE.bound_candidates
    below = [g for g in grid if g < low or g == low == 0]
    above = [g for g in grid if g > high or g == high == 0]
    return (float(below[-1]) if below else float(low), float(above[0]) if above else float(high))


def _has_fractions(values: pd.Series) -> bool:
    """True for numbers with a fractional part (measurements, never identifiers of people)."""
    numbers = pd.to_numeric(values.astype(str), errors="coerce")
    return bool(numbers.notna().all() and (numbers != numbers.round()).any())


def _is_consecutive(numbers: pd.Series) -> bool:
    """True when the values are exactly a run of consecutive whole numbers (a row counter)."""
    ordered = numbers.sort_values().to_numpy()
    return len(ordered) > 1 and bool(((ordered[1:] - ordered[:-1]) == 1).all())


def typed_table(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """``frame``'s text cells typed by ``schema``: numbers for numeric columns (nullable ``Int64`` for
    int), canonical labels for int categories ("80.0" → "80"), text elsewhere; missing stays missing."""
    out = frame.copy()
    for col in schema.columns:
        if col.name not in out.columns:
            continue
        if col.kind == "numeric":
            numbers = pd.to_numeric(out[col.name], errors="coerce")
            out[col.name] = numbers.round().astype("Int64") if col.dtype == "int" else numbers.astype("float64")
        elif col.kind == "categorical" and col.dtype == "int":
            numbers = pd.to_numeric(out[col.name], errors="coerce")
            out[col.name] = numbers.round().astype("Int64").astype("string")
        else:
            out[col.name] = out[col.name].astype("string")
    return out
