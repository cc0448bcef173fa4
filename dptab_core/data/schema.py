"""The public schema of a table + image dataset: what each column is, and which domains are public.

A schema starts as a *proposal* inferred from the data (see :mod:`dptab_core.data.infer`). Reading
the data to propose it is not private, so a domain (a category list, numeric bounds) counts as
public only once the user confirms it (``public=True``). Every column whose domain is still not
public is paid for from the privacy budget by the schema stage (noisy category counts with a
threshold, or DP bounds), before any other stage runs.

Every fact the pipeline relies on is a *declaration* in the schema, never re-read from the data by a
job: the kind and type of each column, its domain (categories or bounds), how a numeric column is
binned (``binning``: equal widths over public bounds, DP quantiles, or declared ``edges``), whether it
can be blank (``missing``: ``allowed``, ``never`` or ``learn`` privately), the image mode, and the
CSV's text ``encoding`` and ``delimiter`` (a job decodes strictly with them, so one odd row can never
change how the other rows are read). A fact not declared public is paid for by the schema stage.

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

MissingRule = Literal["allowed", "never", "learn"]
Binning = Literal["equal", "quantile", "edges"]
MISSING_RULES: tuple[str, ...] = ("allowed", "never", "learn")
BINNINGS: tuple[str, ...] = ("equal", "quantile", "edges")

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
    ``missing``: ``allowed`` (blanks are a value of their own), ``never`` (declared complete: the
    synthetic column never holds a blank) or ``learn`` (the schema stage decides from a noisy count of
    blanks, then writes ``allowed`` or ``never``). ``binning`` of a numeric column: ``equal`` widths
    over the bounds (a public rule), ``quantile`` (edges at DP quantiles, paid by the schema stage, which
    writes them to ``edges``) or ``edges`` (``edges`` declared public). ``edges`` are ``bins + 1``
    non-decreasing numbers; two equal edges make a bin that holds one value (e.g. 0 for a capital gain).
    """

    name: str
    kind: ColumnKind
    dtype: DType = "str"
    categories: tuple[str, ...] | None = None
    bounds: tuple[float, float] | None = None
    bins: int = DEFAULT_NUMERIC_BINS
    public: bool = False
    note: str = ""
    missing: MissingRule = "allowed"
    binning: Binning = "equal"
    edges: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.kind == "categorical" and self.categories is not None and not self.categories:
            raise DataError(
                "a categorical column needs at least one category",
                where=f"column {self.name!r}",
                hint="Mark the column as excluded or list its categories.",
            )
        if self.kind == "numeric" and self.bounds is not None and not self.bounds[0] <= self.bounds[1]:
            raise DataError(
                f"lower bound {self.bounds[0]} is above upper bound {self.bounds[1]}",
                where=f"column {self.name!r}",
                hint="Swap or correct the bounds.",
            )
        if self.kind == "numeric" and self.bins < 2:
            raise DataError("a numeric column needs at least 2 bins", where=f"column {self.name!r}")
        if self.missing not in MISSING_RULES:
            raise DataError(
                f"unknown missing-value rule {self.missing!r}",
                where=f"column {self.name!r}",
                hint=f"Use one of: {', '.join(MISSING_RULES)}.",
            )
        if self.binning not in BINNINGS:
            raise DataError(
                f"unknown binning {self.binning!r}",
                where=f"column {self.name!r}",
                hint=f"Use one of: {', '.join(BINNINGS)}.",
            )
        if self.edges is not None:
            edges = self.edges
            if (
                len(edges) < 3
                or any(b < a for a, b in zip(edges[:-1], edges[1:], strict=False))
                or edges[0] == edges[-1]
            ):
                raise DataError(
                    f"bin edges {list(edges)} are not at least 3 non-decreasing numbers",
                    where=f"column {self.name!r}",
                    hint="Write edges from low to high, e.g. 0, 18, 40, 65, 120.",
                )
            if self.bins != len(edges) - 1:
                object.__setattr__(self, "bins", len(edges) - 1)
        elif self.binning == "edges" and self.kind == "numeric":
            raise DataError(
                "binning 'edges' needs the edges",
                where=f"column {self.name!r}",
                hint="List the bin edges, or choose quantile or equal binning.",
            )

    @property
    def paid_facts(self) -> list[str]:
        """The facts of this column the schema stage must pay for (empty when all are declared public).

        >>> Column(name="age", kind="numeric", bounds=(0, 120), public=True, binning="quantile", missing="learn").paid_facts
        ['bin edges', 'missing values']
        """
        if not self.synthesized:
            return []
        out = []
        if not self.public:
            out.append("categories" if self.kind == "categorical" else "bounds")
        if self.kind == "numeric" and self.binning == "quantile":
            out.append("bin edges")
        if self.missing == "learn":
            out.append("missing values")
        return out

    @property
    def synthesized(self) -> bool:
        """True for columns the table synthesizer models (categorical and numeric)."""
        return self.kind in ("categorical", "numeric")

    def with_domain(
        self, *, categories: tuple[str, ...] | None = None, bounds: tuple[float, float] | None = None, public: bool
    ) -> Column:
        """A copy with a new domain, e.g. the one the schema stage released under DP."""
        return replace(
            self,
            categories=categories if categories is not None else self.categories,
            bounds=bounds if bounds is not None else self.bounds,
            public=public,
        )


@dataclass(frozen=True)
class Schema:
    """All columns plus the facts that link rows to images and rows to people.

    ``person_column``: when several rows can belong to one person, the column that names the person;
    the pipeline keeps one row per person so that "one person = one row + its image" holds.
    ``one_row_per_person_confirmed``: without a person column, the user's confirmation of that
    assumption. ``image_size`` and ``image_mode`` are the format images are converted to.
    ``encoding`` and ``delimiter``: how the CSV's bytes are read; a job decodes every row strictly
    with them and drops (and reports) a row that does not decode. None (a schema written before
    they were part of it): UTF-8 and a delimiter sniffed from the file's start.
    """

    columns: tuple[Column, ...]
    image_column: str
    person_column: str | None = None
    one_row_per_person_confirmed: bool = False
    image_size: int = 32
    image_mode: ImageMode = "RGB"
    version: int = field(default=SCHEMA_VERSION)
    encoding: str | None = None
    delimiter: str | None = None

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise DataError("the schema lists a column twice", hint="Each column must appear once.")
        if self.image_column not in names:
            raise DataError(f"the image column {self.image_column!r} is not in the schema")
        if self.image_mode not in ("L", "RGB"):
            raise DataError(
                f"unknown image mode {self.image_mode!r}", where="schema", hint="Use 'L' (grey) or 'RGB' (colour)."
            )
        if self.delimiter is not None and len(self.delimiter) != 1:
            raise DataError(
                f"the delimiter {self.delimiter!r} is not one character",
                where="schema",
                hint="Use one of , ; | or a tab.",
            )
        if self.encoding is not None:
            import codecs

            try:
                codecs.lookup(self.encoding)
            except LookupError as exc:
                raise DataError(
                    f"unknown text encoding {self.encoding!r}", where="schema", hint="Use utf-8, cp1252 or latin-1."
                ) from exc

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
        """Synthesized columns with a fact not declared public (domain, quantile edges, or missingness to
        learn): the schema stage must pay for them."""
        return [c for c in self.synthesized_columns() if c.paid_facts]

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
            return (
                "domain declared public by the user"
                if column.public and not column.paid_facts
                else "domain paid from the privacy budget"
            )

        # The input file's encoding and delimiter describe the sensitive upload, not the release.
        return replace(
            self, columns=tuple(replace(c, note=public_note(c)) for c in self.columns), encoding=None, delimiter=None
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (the ``schema.json`` format)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schema:
        """Inverse of :meth:`to_dict`; names the field at fault when ``data`` is malformed."""
        try:
            columns = tuple(
                Column(
                    **{
                        **c,
                        "categories": tuple(c["categories"]) if c.get("categories") is not None else None,
                        "bounds": tuple(c["bounds"]) if c.get("bounds") is not None else None,
                        "edges": tuple(c["edges"]) if c.get("edges") is not None else None,
                    }
                )
                for c in data["columns"]
            )
            return cls(**{**data, "columns": columns})
        except (KeyError, TypeError) as exc:
            raise DataError(
                f"the schema is malformed ({exc})",
                where="schema.json",
                hint="Re-create it with `python -m dptab_core inspect`.",
            ) from exc

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
