"""The CSV reader: encodings, delimiters, quoting, and one test per CSV validation rule."""

from __future__ import annotations

from ingest_fixtures import rules

from dptab_core.data.csv_reader import read_csv, read_csv_bytes
from dptab_core.data.validate import IngestPolicy


def test_utf8_with_bom_is_read_without_the_bom_in_the_first_column_name():
    table = read_csv_bytes("\ufeffname,city\nZoë,Köln\n".encode(), name="t.csv")
    assert list(table.frame.columns) == ["name", "city"], f"BOM leaked into the header: {list(table.frame.columns)}"
    assert table.frame.iloc[0].tolist() == ["Zoë", "Köln"]
    assert table.issues == []


def test_cp1252_file_is_read_with_a_fallback_warning_naming_the_line():
    data = "name,city\nAna,Zürich\nRené,Paris\n".encode("cp1252")
    table = read_csv_bytes(data, name="t.csv")
    assert table.frame["city"].tolist() == ["Zürich", "Paris"], "accents must survive the fallback"
    assert rules(table.issues) == ["csv_encoding_fallback"]
    assert table.issues[0].severity == "warning" and "line 2" in table.issues[0].where


def test_utf16_with_bom_is_decoded():
    table = read_csv_bytes("a,b\n1,2\n".encode("utf-16"), name="t.csv")
    assert table.frame.to_dict("list") == {"a": ["1"], "b": ["2"]}


def test_semicolon_and_tab_delimiters_are_sniffed():
    for delimiter in (";", "\t", "|"):
        data = delimiter.join(["a", "b", "c"]) + "\n" + delimiter.join(["1", "2,5", "x"]) + "\n"
        table = read_csv_bytes(data.encode(), name="t.csv")
        assert table.delimiter == delimiter, f"sniffed {table.delimiter!r} instead of {delimiter!r}"
        assert table.frame.iloc[0].tolist() == ["1", "2,5", "x"]


def test_quoted_fields_keep_delimiters_quotes_and_newlines():
    data = b'id,note\n1,"a, b"\n2,"say ""hi"""\n3,"two\nlines"\n'
    table = read_csv_bytes(data, name="t.csv")
    assert table.frame["note"].tolist() == ["a, b", 'say "hi"', "two\nlines"]
    assert table.lines == [2, 3, 4], f"file lines of the rows are wrong: {table.lines}"


def test_missing_markers_become_missing_values_and_blank_lines_are_skipped():
    table = read_csv_bytes(b"a,b\n1,NA\n\n2,\n3,?\n", name="t.csv")
    assert table.frame["b"].tolist() == [None, None, None]
    assert table.n_rows_read == 3


def test_empty_file_is_fatal(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"  \n")
    table = read_csv(path)
    assert rules(table.issues, "fatal") == ["csv_empty"], table.issues
    assert table.frame.empty


def test_header_only_is_fatal():
    table = read_csv_bytes(b"a,b,c\n", name="t.csv")
    assert rules(table.issues, "fatal") == ["csv_header_only"]
    assert "no data rows" in table.issues[0].what


def test_duplicate_column_names_are_fatal_and_named():
    table = read_csv_bytes(b"age,site,age\n1,arm,2\n", name="t.csv")
    assert rules(table.issues, "fatal") == ["csv_duplicate_columns"]
    assert "'age'" in table.issues[0].what and "columns 1 and 3" in table.issues[0].what


def test_ragged_rows_are_fatal_by_default_and_name_the_line():
    table = read_csv_bytes(b"a,b\n1,2\n3,4,5\n6\n", name="t.csv")
    fatal = [i for i in table.issues if i.severity == "fatal"]
    assert [i.rule for i in fatal] == ["csv_ragged_row", "csv_ragged_row"]
    assert "line 3" in fatal[0].where and "3 fields" in fatal[0].what
    assert "line 4" in fatal[1].where


def test_ragged_rows_are_dropped_when_the_user_chooses():
    table = read_csv_bytes(b"a,b\n1,2\n3,4,5\n", name="t.csv", policy=IngestPolicy(drop_ragged_rows=True))
    assert rules(table.issues) == ["csv_ragged_row"] and table.issues[0].severity == "skipped"
    assert table.frame.to_dict("list") == {"a": ["1"], "b": ["2"]}


def test_binary_file_is_refused_as_not_text():
    table = read_csv_bytes(b"PK\x03\x04\x00\x00binary", name="t.xlsx")
    assert rules(table.issues, "fatal") == ["csv_not_text"]


def test_unclosed_quote_is_malformed_with_a_line_number():
    table = read_csv_bytes(b'a,b\n1,"open\n2,3\n', name="t.csv")
    assert rules(table.issues, "fatal") == ["csv_malformed"]
    assert "line" in table.issues[0].what


def test_unnamed_column_gets_a_name_and_a_warning():
    table = read_csv_bytes(b",a\n0,x\n1,y\n", name="t.csv")
    assert list(table.frame.columns) == ["unnamed_1", "a"]
    assert rules(table.issues, "warning") == ["csv_unnamed_column"]


def test_unreadable_path_is_fatal(tmp_path):
    table = read_csv(tmp_path / "nope.csv")
    assert rules(table.issues, "fatal") == ["csv_unreadable"]
