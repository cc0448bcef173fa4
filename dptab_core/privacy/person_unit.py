"""Whom the guarantee protects, in words: one value of the person column, which may be less than a person.

The pipeline keeps one row per value of the person column (the first in file order) and the
guarantee then covers one such value. When the column names something smaller than a person — a
lesion, a visit, an image — a person with k of them is protected at about k·ε, and the user must be
told so where they choose the column. HAM10000's ``lesion_id`` is the standing example: one patient
can have several lesions.

>>> proxy_hint("lesion_id")
"'lesion_id' looks like it identifies a lesion, not a person: the guarantee then protects one lesion, and a person with k lesions only at about k·ε. Choose a column that identifies patients if there is one."
>>> proxy_hint("patient_id") is None
True
"""

from __future__ import annotations

import re

KEPT_ROW_RULE = "each person's first row in file order is kept, the later ones are dropped"
"""The rule that picks the kept row (:mod:`dptab_core.data.validate`), as the app and report state it."""

PROXY_WORDS: dict[str, str] = {
    "lesion": "a lesion",
    "visit": "a visit",
    "encounter": "an encounter",
    "exam": "an examination",
    "study": "a study",
    "scan": "a scan",
    "image": "an image",
    "img": "an image",
    "photo": "a photo",
    "sample": "a sample",
    "specimen": "a specimen",
    "record": "a record",
    "case": "a case",
    "order": "an order",
    "session": "a session",
    "account": "an account",
    "device": "a device",
    "admission": "an admission",
}
"""Name parts that mark a column identifying something smaller than (or other than) a person."""

PERSON_WORDS = ("patient", "person", "subject", "participant", "member", "customer", "user", "individual", "mrn")


def proxy_hint(column: str | None) -> str | None:
    """A warning when the person column's name suggests it identifies less than a person, else None."""
    if not column:
        return None
    parts = [p for p in re.split(r"[^a-z]+", re.sub(r"([a-z])([A-Z])", r"\1_\2", column).lower()) if p]
    if any(p in PERSON_WORDS for p in parts):
        return None
    unit = next((PROXY_WORDS[p] for p in parts if p in PROXY_WORDS), None)
    if unit is None:
        return None
    noun = unit.split(" ", 1)[1]
    return (
        f"{column!r} looks like it identifies {unit}, not a person: the guarantee then protects one {noun}, "
        f"and a person with k {noun}s only at about k·ε. Choose a column that identifies patients if there is one."
    )
