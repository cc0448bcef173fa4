"""The public schema of a table + image dataset: what each column is, and which domains are public.

A schema starts as a *proposal* inferred from the data (see :mod:`dptab_core.data.infer`). Reading
the data to propose it is not private, so a domain (a category list, numeric bounds) counts as
public only once the user confirms it (``public=True``). Every column whose domain is still not
public is paid for from the privacy budget by the schema stage (noisy category counts with a
threshold, or DP bounds), before any other stage runs.

Missing values are always part of a column's domain as their own category, so whether a column has
missing values is never itself a data-dependent fact that leaks.

>>> age = Column(name="age", kind="numeric", dtype="int", bounds=(0, 100), public=True)
>>> site = Column(name="site", kind="categorical", dtype="str", categories=("arm", "leg"))
>>> img = Column(name="image", kind="image", dtype="str")
>>> schema = Schema(columns=(age, site, img), image_column="image")
>>> [c.name for c in schema.synthesized_columns()]
['age', 'site']
>>> [c.name for c in schema.unpaid_domains()]
['site']
>>> Schema.from_dict(schema.to_dict()) == schema
True
>>> noted = schema.replace_column(Column(name="site", kind="categorical", categories=("arm", "leg"),
...                                      note="2 distinct values: read as categories"))
>>> [c.note for c in noted.release_view().columns]
['domain declared public by the user', 'domain paid from the privacy budget', 'file names of the synthetic images']
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from dptab_core.errors import DataError

ColumnKind = Literal["categorical", "numeric", "image", "excluded"]
DType = Literal["int", "float", "str", "bool"]
ImageMode = Literal["L", "RGB"]

SCHEMA_VERSION = 1
MISSING_LABEL = "<missing>"
"""The category that stands for a missing value in every categorical or binned column."""

DEFAULT_NUMERIC_BINS = 16
"""Bins per numeric column for the marginal-based table synthesizers (fine enough for histograms,
coarse enough that 2-way marginals of ~2,000 rows are not all noise)."""


@dataclass(frozen=True)
class Column:
    """One column of the table, as the synthesizer will treat it.

    ``kind``: ``categorical`` (a finite list of labels), ``numeric`` (int or float within
    ``bounds``, discretized into ``bins`` for the table model), ``image`` (file names linking rows to
    images) or ``excluded`` (identifiers, free text: never read by any mechanism, not released).
    ``public``: the user confirmed the domain (categories or bounds) as public knowledge; when
    False the schema stage pays for it from the budget. ``note`` says why it was proposed so.
    """

    name: str
    kind: ColumnKind
    dtype: DType = "str"
    categories: tuple[str, ...] | None = None
    bounds: tuple[float, float] | None = None
    bins: int = DEFAULT_NUMERIC_BINS
    public: bool = False
    note: str = ""

    def __post_init__(self) -> None:
        if self.kind == "categorical" and self.categories is not None and not self.categories:
            raise DataError("a categorical column needs at least one category", where=f"column {self.name!r}",
                            hint="Mark the column as excluded or list its categories.")
        if self.kind == "numeric" and self.bounds is not None and not self.bounds[0] <= self.bounds[1]:
            raise DataError(f"lower bound {self.bounds[0]} is above upper bound {self.bounds[1]}",
                            where=f"column {self.name!r}", hint="Swap or correct the bounds.")
        if self.kind == "numeric" and self.bins < 2:
            raise DataError("a numeric column needs at least 2 bins", where=f"column {self.name!r}")

    @property
    def synthesized(self) -> bool:
        """True for columns the table synthesizer models (categorical and numeric)."""
        return self.kind in ("categorical", "numeric")

    def with_domain(self, *, categories: tuple[str, ...] | None = None,
                    bounds: tuple[float, float] | None = None, public: bool) -> Column:
        """A copy with a new domain, e.g. the one the schema stage released under DP."""
        return replace(self, categories=categories if categories is not None else self.categories,
                       bounds=bounds if bounds is not None else self.bounds, public=public)


@dataclass(frozen=True)
class Schema:
    """All columns plus the facts that link rows to images and rows to people.

    ``person_column``: when several rows can belong to one person, the column that names the person;
    the pipeline keeps one row per person so that "one person = one row + its image" holds.
    ``one_row_per_person_confirmed``: without a person column, the user's confirmation of that
    assumption. ``image_size`` and ``image_mode`` are the format images are converted to.
    """

    columns: tuple[Column, ...]
    image_column: str
    person_column: str | None = None
    one_row_per_person_confirmed: bool = False
    image_size: int = 32
    image_mode: ImageMode = "RGB"
    version: int = field(default=SCHEMA_VERSION)

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise DataError("the schema lists a column twice", hint="Each column must appear once.")
        if self.image_column not in names:
            raise DataError(f"the image column {self.image_column!r} is not in the schema")

    def column(self, name: str) -> Column:
        """The column called ``name`` (a clear error when there is none)."""
        for col in self.columns:
            if col.name == name:
                return col
        raise DataError(f"no column named {name!r}", hint=f"Known columns: {', '.join(c.name for c in self.columns)}.")

    def synthesized_columns(self) -> list[Column]:
        """The columns the table synthesizer models and the image model is conditioned on."""
        return [c for c in self.columns if c.synthesized]

    def unpaid_domains(self) -> list[Column]:
        """Synthesized columns whose domain is not declared public: the schema stage must pay for them."""
        return [c for c in self.synthesized_columns() if not c.public]

    def replace_column(self, column: Column) -> Schema:
        """A copy with ``column`` replacing the column of the same name."""
        self.column(column.name)
        return replace(self, columns=tuple(column if c.name == column.name else c for c in self.columns))

    def release_view(self) -> Schema:
        """The schema as it may be published with a release: no note read off the data.

        Notes of an inferred proposal quote the data ("numbers observed between 20 and 97", "77
        distinct values"): fine for the data owner, a leak in a release. Released notes say only
        what is public: that a domain was declared public, how it was paid for (the schema stage's
        ``paid:`` notes hold DP outputs only), or that a column was excluded.
        """
        def public_note(column: Column) -> str:
            if column.kind == "excluded":
                return "excluded: not released"
            if column.kind == "image":
                return "file names of the synthetic images"
            if column.note.startswith("paid:"):
                return column.note
            return "domain declared public by the user" if column.public else "domain paid from the privacy budget"

        return replace(self, columns=tuple(replace(c, note=public_note(c)) for c in self.columns))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (the ``schema.json`` format)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schema:
        """Inverse of :meth:`to_dict`; names the field at fault when ``data`` is malformed."""
        try:
            columns = tuple(
                Column(**{**c, "categories": tuple(c["categories"]) if c.get("categories") is not None else None,
                          "bounds": tuple(c["bounds"]) if c.get("bounds") is not None else None})
                for c in data["columns"]
            )
            return cls(**{**data, "columns": columns})
        except (KeyError, TypeError) as exc:
            raise DataError(f"the schema is malformed ({exc})", where="schema.json",
                            hint="Re-create it with `python -m dptab_core inspect`.") from exc

    def save(self, path: Path) -> None:
        """Write ``schema.json``."""
        path.write_text(json.dumps(self.to_dict(), indent=2), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Schema:
        """Read ``schema.json``."""
        try:
            return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError) as exc:
            raise DataError(f"cannot read the schema ({exc})", where=str(path)) from exc
