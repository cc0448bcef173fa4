"""Reading a user's CSV into a table of text cells, reporting every problem as a named issue.

Why not ``pandas.read_csv``: it guesses silently (renames duplicate columns to ``a.1``, pads short
rows with NaN, drops a BOM into the first column name on some paths), and a privacy tool must say
what it did. Here: bytes are decoded as UTF-8 (a BOM is removed), else Windows-1252, else Latin-1
with a warning; the delimiter is sniffed among ``, ; tab |``; quoted fields (with delimiters or
newlines inside) are honoured; blank lines are skipped; every cell stays text, with a small set of
missing-value markers turned into missing values. Typing is the schema's job (:mod:`.infer`).

>>> table = read_csv_bytes(b'a;b\\n1;"x;y"\\n2;\\n', name="t.csv")
>>> table.frame.to_dict("list")
{'a': ['1', '2'], 'b': ['x;y', None]}
>>> table.delimiter, table.encoding, table.issues
(';', 'utf-8', [])
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from dptab_core.data.validate import STRICT_POLICY, IngestPolicy, ValidationIssue, make_issue


@dataclass(frozen=True)
class CsvConfig:
    """How CSV text is read, each choice with its reason.

    ``missing_markers``: cell texts (after trimming spaces) that mean "no value" — the blank cell and
    the spellings spreadsheet tools and R/pandas write; ``?`` is how UCI datasets (adult) mark it.
    ``delimiters``: candidates for sniffing; others are too rare to risk a wrong guess.
    ``sniff_bytes``: the sample the delimiter is guessed from (enough for a few hundred rows).
    ``field_size_limit``: the longest cell accepted (10 MB), far above any real value, so a file
    with an unclosed quote fails with a line number instead of swallowing the rest of the file.
    """

    missing_markers: frozenset[str] = frozenset({"", "NA", "N/A", "NaN", "nan", "null", "NULL", "?"})
    delimiters: str = ",;\t|"
    sniff_bytes: int = 65536
    field_size_limit: int = 10_000_000


DEFAULT_CSV_CONFIG = CsvConfig()


@dataclass
class CsvTable:
    """A parsed CSV: text cells (``None`` = missing), each kept row's file line, and what was found."""

    frame: pd.DataFrame
    lines: list[int]
    encoding: str
    delimiter: str
    n_rows_read: int
    issues: list[ValidationIssue] = field(default_factory=list)


def read_csv(path: Path, *, policy: IngestPolicy = STRICT_POLICY, config: CsvConfig = DEFAULT_CSV_CONFIG) -> CsvTable:
    """Read the CSV at ``path``; problems come back as issues (``frame`` is empty when one is fatal)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        issue = make_issue("csv_unreadable", str(path), f"cannot read the file ({exc.strerror or exc})",
                           "Check the path and that the file is readable.")
        return _failed([issue])
    return read_csv_bytes(data, name=path.name, policy=policy, config=config)


def read_csv_bytes(data: bytes, *, name: str, policy: IngestPolicy = STRICT_POLICY,
                   config: CsvConfig = DEFAULT_CSV_CONFIG) -> CsvTable:
    """Parse CSV ``data`` (the contents of file ``name``) into text cells plus issues."""
    if not data.strip():
        return _failed([make_issue("csv_empty", name, "the file is empty",
                                   "Export the table again with a header row and one row per person.")])
    text, encoding, issues = _decode(data, name)
    if text is None:
        return _failed(issues)
    delimiter = _sniff_delimiter(text[: config.sniff_bytes], config)
    rows, lines, error = _parse(text, delimiter, config)
    if error is not None:
        return _failed([*issues, make_issue("csv_malformed", name, error,
                                            "Check the quotes around that line (every opening \" needs a closing one).")])
    if not rows:
        return _failed([*issues, make_issue("csv_empty", name, "the file holds only blank lines",
                                            "Export the table again with a header row and one row per person.")])
    header, body, body_lines = rows[0], rows[1:], lines[1:]
    header, header_issues = _check_header(header, name)
    issues += header_issues
    if any(i.severity == "fatal" for i in header_issues):
        return _failed(issues, encoding=encoding, delimiter=delimiter)
    if not body:
        issues.append(make_issue("csv_header_only", name, "the file has a header but no data rows",
                                 "Export the data rows too (one row per person)."))
        return _failed(issues, encoding=encoding, delimiter=delimiter)
    kept, kept_lines = [], []
    for index, (row, line) in enumerate(zip(body, body_lines, strict=True)):
        if len(row) != len(header):
            issues.append(make_issue(
                "csv_ragged_row", f"{name} row {index + 1} (line {line})",
                f"has {len(row)} fields, the header has {len(header)}",
                "Fix the row (a delimiter inside a value needs quotes), or choose to drop such rows.", policy))
            continue
        kept.append([None if cell.strip() in config.missing_markers else cell.strip() for cell in row])
        kept_lines.append(line)
    frame = pd.DataFrame(kept, columns=header, dtype=object)
    return CsvTable(frame, kept_lines, encoding, delimiter, n_rows_read=len(body), issues=issues)


def _failed(issues: list[ValidationIssue], *, encoding: str = "", delimiter: str = "") -> CsvTable:
    return CsvTable(pd.DataFrame(), [], encoding, delimiter, n_rows_read=0, issues=issues)


def _decode(data: bytes, name: str) -> tuple[str | None, str, list[ValidationIssue]]:
    """Text of ``data``: UTF-8 (BOM removed), UTF-16 with a BOM, else Windows-1252/Latin-1 with a warning."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16", []
        except UnicodeDecodeError:
            pass
    if b"\x00" in data:
        return None, "", [make_issue("csv_not_text", name, "the file contains NUL bytes: it is binary, not a CSV",
                                     "Choose the CSV export of the table (not an Excel or zip file).")]
    try:
        return data.decode("utf-8-sig"), "utf-8", []
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
    for encoding in ("cp1252", "latin-1"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        warning = make_issue("csv_encoding_fallback", f"{name} line {line}",
                             f"the file is not valid UTF-8; it was read as {encoding} (accents may be wrong)",
                             "Save the CSV as UTF-8 to be sure every character is read as intended.")
        return text, encoding, [warning]
    raise AssertionError("latin-1 decodes every byte string")


def _sniff_delimiter(sample: str, config: CsvConfig) -> str:
    """The delimiter ``csv.Sniffer`` finds among the candidates; a comma when it cannot tell."""
    try:
        return csv.Sniffer().sniff(sample, delimiters=config.delimiters).delimiter
    except csv.Error:
        return ","


def _parse(text: str, delimiter: str, config: CsvConfig) -> tuple[list[list[str]], list[int], str | None]:
    """Non-blank rows and the file line each starts on, or an error message with its line."""
    csv.field_size_limit(config.field_size_limit)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[list[str]] = []
    lines: list[int] = []
    start = 1
    try:
        for row in reader:
            if row and any(cell.strip() for cell in row):
                rows.append(row)
                lines.append(start)
            start = reader.line_num + 1
    except csv.Error as exc:
        return [], [], f"line {reader.line_num}: {exc}"
    return rows, lines, None


def _check_header(header: list[str], name: str) -> tuple[list[str], list[ValidationIssue]]:
    """Trimmed column names; unnamed columns get ``unnamed_<n>`` (warning); duplicates are fatal."""
    names: list[str] = []
    issues: list[ValidationIssue] = []
    for position, raw in enumerate(header, start=1):
        col = raw.strip()
        if not col:
            col = f"unnamed_{position}"
            issues.append(make_issue("csv_unnamed_column", f"{name} header, column {position}",
                                     f"the column has no name; it was called {col!r}",
                                     "Name every column in the header row (an exported row index can be dropped)."))
        names.append(col)
    seen: dict[str, int] = {}
    for position, col in enumerate(names, start=1):
        if col in seen:
            issues.append(make_issue("csv_duplicate_columns", f"{name} header",
                                     f"the column name {col!r} appears twice (columns {seen[col]} and {position})",
                                     "Rename one of the columns so every name is unique."))
        else:
            seen[col] = position
    return names, issues
