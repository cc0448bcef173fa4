"""Reading a user's CSV into a table of text cells, reporting every problem as a named issue.

Why not ``pandas.read_csv``: it guesses silently (renames duplicate columns to ``a.1``, pads short
rows with NaN, drops a BOM into the first column name on some paths), and a privacy tool must say
what it did. Quoted fields (with delimiters or newlines inside) are honoured; blank lines are
skipped; every cell stays text, with a small set of missing-value markers turned into missing
values. Typing is the schema's job (:mod:`.infer`).

Encoding and delimiter, and why a job never guesses them: were they picked from the whole file on
every load, one person's row holding one odd byte would switch the file to Windows-1252 and change
how every other row reads (751 of 1,001 Zürich/Genève/Bern rows became unknown categories) — one
person changing hundreds of records breaks every mechanism's sensitivity. So:

* a job passes the confirmed schema's ``encoding`` and ``delimiter``: each line is decoded strictly
  on its own, and a row with a line that does not decode is dropped and reported
  (``csv_row_undecodable``) without touching any other row;
* inspection (no encoding given) proposes one: UTF-8 (a BOM is removed) when at most 1 % of the
  lines fail to decode (those rows are dropped and reported), else Windows-1252, else Latin-1 with a
  warning; the delimiter is sniffed among ``, ; tab |``. The user confirms both in the schema.

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


def read_csv(
    path: Path,
    *,
    policy: IngestPolicy = STRICT_POLICY,
    config: CsvConfig = DEFAULT_CSV_CONFIG,
    encoding: str | None = None,
    delimiter: str | None = None,
) -> CsvTable:
    """Read the CSV at ``path``; problems come back as issues (``frame`` is empty when one is fatal).

    ``encoding`` / ``delimiter``: the confirmed ones (strict, row by row); None proposes them.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        issue = make_issue(
            "csv_unreadable",
            str(path),
            f"cannot read the file ({exc.strerror or exc})",
            "Check the path and that the file is readable.",
        )
        return _failed([issue])
    return read_csv_bytes(data, name=path.name, policy=policy, config=config, encoding=encoding, delimiter=delimiter)


def read_csv_bytes(
    data: bytes,
    *,
    name: str,
    policy: IngestPolicy = STRICT_POLICY,
    config: CsvConfig = DEFAULT_CSV_CONFIG,
    encoding: str | None = None,
    delimiter: str | None = None,
) -> CsvTable:
    """Parse CSV ``data`` (the contents of file ``name``) into text cells plus issues."""
    if not data.strip():
        return _failed(
            [
                make_issue(
                    "csv_empty",
                    name,
                    "the file is empty",
                    "Export the table again with a header row and one row per person.",
                )
            ]
        )
    if encoding is None:
        text, encoding, bad_lines, issues = _decode(data, name)
    else:
        text, bad_lines, issues = _decode_strict(data, name, encoding)
    if text is None:
        return _failed(issues)
    if delimiter is None:
        delimiter = _sniff_delimiter(text[: config.sniff_bytes], config)
    rows, lines, ends, error = _parse(text, delimiter, config)
    if error is not None:
        return _failed(
            [
                *issues,
                make_issue(
                    "csv_malformed",
                    name,
                    error,
                    'Check the quotes around that line (every opening " needs a closing one).',
                ),
            ]
        )
    if not rows:
        return _failed(
            [
                *issues,
                make_issue(
                    "csv_empty",
                    name,
                    "the file holds only blank lines",
                    "Export the table again with a header row and one row per person.",
                ),
            ]
        )
    if bad_lines and any(line in bad_lines for line in range(lines[0], ends[0] + 1)):
        return _failed(
            [
                *issues,
                make_issue(
                    "csv_malformed",
                    f"{name} line {lines[0]}",
                    f"the header does not decode as {encoding}",
                    "Save the CSV as UTF-8, or confirm the encoding it was saved in.",
                ),
            ]
        )
    header, body, body_lines, body_ends = rows[0], rows[1:], lines[1:], ends[1:]
    header, header_issues = _check_header(header, name)
    issues += header_issues
    if any(i.severity == "fatal" for i in header_issues):
        return _failed(issues, encoding=encoding, delimiter=delimiter)
    if not body:
        issues.append(
            make_issue(
                "csv_header_only",
                name,
                "the file has a header but no data rows",
                "Export the data rows too (one row per person).",
            )
        )
        return _failed(issues, encoding=encoding, delimiter=delimiter)
    kept, kept_lines = [], []
    for index, (row, line, end) in enumerate(zip(body, body_lines, body_ends, strict=True)):
        if bad_lines and any(k in bad_lines for k in range(line, end + 1)):
            issues.append(
                make_issue(
                    "csv_row_undecodable",
                    f"{name} row {index + 1} (line {line})",
                    f"holds bytes that are not valid {encoding}; the row was dropped (no other row is affected)",
                    f"Fix the characters of that row, or save the whole file as {encoding}.",
                    policy,
                )
            )
            continue
        if len(row) != len(header):
            issues.append(
                make_issue(
                    "csv_ragged_row",
                    f"{name} row {index + 1} (line {line})",
                    f"has {len(row)} fields, the header has {len(header)}",
                    "Fix the row (a delimiter inside a value needs quotes), or choose to drop such rows.",
                    policy,
                )
            )
            continue
        kept.append([None if cell.strip() in config.missing_markers else cell.strip() for cell in row])
        kept_lines.append(line)
    frame = pd.DataFrame(kept, columns=header, dtype=object)
    return CsvTable(frame, kept_lines, encoding, delimiter, n_rows_read=len(body), issues=issues)


def _failed(issues: list[ValidationIssue], *, encoding: str = "", delimiter: str = "") -> CsvTable:
    return CsvTable(pd.DataFrame(), [], encoding, delimiter, n_rows_read=0, issues=issues)


def _decode(data: bytes, name: str) -> tuple[str | None, str, set[int], list[ValidationIssue]]:
    """Propose an encoding: UTF-16 with a BOM; UTF-8 (BOM removed) when ≤ 1 % of the lines fail, those
    lines reported; else Windows-1252/Latin-1 with a warning. Returns text, encoding, bad lines, issues."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16", set(), []
        except UnicodeDecodeError:
            pass
    if b"\x00" in data:
        return (
            None,
            "",
            set(),
            [
                make_issue(
                    "csv_not_text",
                    name,
                    "the file contains NUL bytes: it is binary, not a CSV",
                    "Choose the CSV export of the table (not an Excel or zip file).",
                )
            ],
        )
    try:
        return data.decode("utf-8-sig"), "utf-8", set(), []
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
    text, bad, _ = _decode_strict(data, name, "utf-8")
    if text is not None and len(bad) <= max(1, len(data.splitlines()) // 100):
        return text, "utf-8", bad, []
    for encoding in ("cp1252", "latin-1"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        warning = make_issue(
            "csv_encoding_fallback",
            f"{name} line {line}",
            f"the file is not valid UTF-8; it was read as {encoding} (accents may be wrong)",
            "Save the CSV as UTF-8 to be sure every character is read as intended.",
        )
        return text, encoding, set(), [warning]
    raise AssertionError("latin-1 decodes every byte string")


def _decode_strict(data: bytes, name: str, encoding: str) -> tuple[str | None, set[int], list[ValidationIssue]]:
    """``data`` decoded line by line with ``encoding``: the text (undecodable lines replaced, so the
    parser still sees the row boundaries) and the numbers of the lines that failed."""
    if encoding.lower().replace("_", "-") in ("utf-16", "utf-32", "utf-16-le", "utf-16-be"):
        try:  # multi-byte newlines: the whole file decodes or nothing does
            return data.decode(encoding), set(), []
        except UnicodeDecodeError as exc:
            return (
                None,
                set(),
                [
                    make_issue(
                        "csv_not_text",
                        name,
                        f"the file does not decode as {encoding} ({exc.reason})",
                        "Confirm the encoding the file was saved in.",
                    )
                ],
            )
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8") and data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    parts, bad = [], set()
    for number, raw in enumerate(data.splitlines(keepends=True), start=1):
        try:
            parts.append(raw.decode(encoding))
        except UnicodeDecodeError:
            bad.add(number)
            parts.append(raw.decode(encoding, errors="replace"))
        except LookupError:
            return (
                None,
                set(),
                [
                    make_issue(
                        "csv_not_text", name, f"unknown text encoding {encoding!r}", "Use utf-8, cp1252 or latin-1."
                    )
                ],
            )
    return "".join(parts), bad, []


def _sniff_delimiter(sample: str, config: CsvConfig) -> str:
    """The delimiter ``csv.Sniffer`` finds among the candidates; a comma when it cannot tell."""
    try:
        return csv.Sniffer().sniff(sample, delimiters=config.delimiters).delimiter
    except csv.Error:
        return ","


def _parse(text: str, delimiter: str, config: CsvConfig) -> tuple[list[list[str]], list[int], list[int], str | None]:
    """Non-blank rows, the file line each starts and ends on, or an error message with its line."""
    csv.field_size_limit(config.field_size_limit)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[list[str]] = []
    lines: list[int] = []
    ends: list[int] = []
    start = 1
    try:
        for row in reader:
            if row and any(cell.strip() for cell in row):
                rows.append(row)
                lines.append(start)
                ends.append(reader.line_num)
            start = reader.line_num + 1
    except csv.Error as exc:
        return [], [], [], f"line {reader.line_num}: {exc}"
    return rows, lines, ends, None


def _check_header(header: list[str], name: str) -> tuple[list[str], list[ValidationIssue]]:
    """Trimmed column names; unnamed columns get ``unnamed_<n>`` (warning); duplicates are fatal."""
    names: list[str] = []
    issues: list[ValidationIssue] = []
    for position, raw in enumerate(header, start=1):
        col = raw.strip()
        if not col:
            col = f"unnamed_{position}"
            issues.append(
                make_issue(
                    "csv_unnamed_column",
                    f"{name} header, column {position}",
                    f"the column has no name; it was called {col!r}",
                    "Name every column in the header row (an exported row index can be dropped).",
                )
            )
        names.append(col)
    seen: dict[str, int] = {}
    for position, col in enumerate(names, start=1):
        if col in seen:
            issues.append(
                make_issue(
                    "csv_duplicate_columns",
                    f"{name} header",
                    f"the column name {col!r} appears twice (columns {seen[col]} and {position})",
                    "Rename one of the columns so every name is unique.",
                )
            )
        else:
            seen[col] = position
    return names, issues
