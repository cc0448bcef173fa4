"""Named validation issues and the rules they come from: what ingest reports instead of crashing.

Every problem ingest can find is a :class:`ValidationIssue` of one named rule. A rule is *fatal*
(the data cannot be used until it is fixed), *skippable* (fatal by default; the user may choose in
:class:`IngestPolicy` to drop the offending rows instead, and then the issue is reported with
severity ``skipped``) or a *warning* (reported, nothing dropped). The page lists issues; the CLI
raises them as one :class:`DataError` (``Inspection.raise_for_fatal``).

>>> RULES["image_missing"].policy_field
'drop_missing_images'
>>> issue = ValidationIssue("image_missing", "row 3 (line 4)", "image 'a.png' not found", "Add it.", "fatal")
>>> format_issues([issue])
"row 3 (line 4): image 'a.png' not found"
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Literal

from dptab_core.errors import DataError

Severity = Literal["fatal", "skipped", "warning"]


@dataclass(frozen=True)
class ValidationIssue:
    """One problem found in the data: which rule, where (file, row, member), what, and how to fix it."""

    rule: str
    where: str
    what: str
    hint: str
    severity: Severity

    def to_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "where": self.where, "what": self.what, "hint": self.hint, "severity": self.severity}


@dataclass(frozen=True)
class IngestPolicy:
    """The user's choices for the skippable rules; the defaults are strict (every problem is fatal).

    ``keep_one_row_per_person``: with a person column, keep each person's first row only, so that
    one person = one row + its image (what differential privacy protects). Turning it off keeps every
    row, and DP then protects rows, not people.
    """

    drop_missing_images: bool = False
    drop_corrupt_images: bool = False
    drop_ragged_rows: bool = False
    drop_duplicate_image_refs: bool = False
    keep_one_row_per_person: bool = True


STRICT_POLICY = IngestPolicy()
"""The default policy: every skippable problem is fatal, one row per person is kept."""


@dataclass(frozen=True)
class Rule:
    """A validation rule: its default severity, and the policy field that turns it into a skip."""

    description: str
    severity: Severity
    policy_field: str | None = None


RULES: dict[str, Rule] = {
    "csv_unreadable": Rule("the CSV file cannot be read", "fatal"),
    "csv_empty": Rule("the CSV file is empty", "fatal"),
    "csv_not_text": Rule("the CSV file is binary, not text", "fatal"),
    "csv_malformed": Rule("the CSV cannot be parsed (e.g. an unclosed quote)", "fatal"),
    "csv_header_only": Rule("the CSV has a header but no data rows", "fatal"),
    "csv_duplicate_columns": Rule("two columns share a name", "fatal"),
    "csv_unnamed_column": Rule("a column has no name in the header", "warning"),
    "csv_encoding_fallback": Rule("the CSV is not UTF-8 and was read as Windows-1252/Latin-1", "warning"),
    "csv_row_undecodable": Rule("a row does not decode with the confirmed encoding; it is dropped", "skipped"),
    "rare_category": Rule("a category is held by fewer than a handful of rows", "warning"),
    "csv_ragged_row": Rule("a row has a different number of fields than the header", "fatal", "drop_ragged_rows"),
    "images_not_found": Rule("the image folder or zip does not exist", "fatal"),
    "images_empty": Rule("the image folder or zip holds no files", "fatal"),
    "zip_refused": Rule("the zip is unsafe or broken and was not extracted", "fatal"),
    "image_column_not_found": Rule("no column links rows to image files", "fatal"),
    "image_ref_empty": Rule("a row has no image reference", "fatal", "drop_missing_images"),
    "image_missing": Rule("a row names an image file that does not exist", "fatal", "drop_missing_images"),
    "image_ambiguous": Rule("a reference without extension matches several files", "warning"),
    "image_orphan": Rule("an image file no row refers to", "warning"),
    "image_duplicate_ref": Rule("two rows refer to the same image", "fatal", "drop_duplicate_image_refs"),
    "image_corrupt": Rule("an image file is truncated or corrupt", "fatal", "drop_corrupt_images"),
    "image_not_an_image": Rule("a referenced file is not an image Pillow can open", "fatal", "drop_corrupt_images"),
    "image_too_large": Rule("an image exceeds Pillow's decompression-bomb pixel limit", "fatal", "drop_corrupt_images"),
    "person_column_not_found": Rule("the named person column is not in the CSV", "fatal"),
    "person_rows_dropped": Rule("rows dropped to keep one row per person", "warning"),
    "person_unbounded": Rule("several rows per person are kept", "warning"),
    "person_unconfirmed": Rule("no person column: one row per person must be confirmed", "warning"),
    "schema_mismatch": Rule("the schema does not match the CSV's columns", "fatal"),
    "too_few_rows": Rule("too few rows remain to synthesize anything", "fatal"),
}


def severity_for(rule: str, policy: IngestPolicy) -> Severity:
    """``skipped`` when the policy drops what this rule flags, else the rule's default severity."""
    spec = RULES[rule]
    if spec.policy_field is not None and getattr(policy, spec.policy_field):
        return "skipped"
    return spec.severity


def make_issue(rule: str, where: str, what: str, hint: str, policy: IngestPolicy | None = None) -> ValidationIssue:
    """An issue of ``rule`` whose severity follows ``policy`` (strict when None)."""
    return ValidationIssue(rule, where, what, hint, severity_for(rule, policy or STRICT_POLICY))


def format_issues(issues: list[ValidationIssue], *, per_rule: int = 20) -> str:
    """Plain-words lines, at most ``per_rule`` per rule followed by a count of the rest."""
    by_rule: dict[str, list[ValidationIssue]] = defaultdict(list)
    for issue in issues:
        by_rule[issue.rule].append(issue)
    lines: list[str] = []
    for rule_issues in by_rule.values():
        lines += [f"{i.where}: {i.what}" for i in rule_issues[:per_rule]]
        if len(rule_issues) > per_rule:
            lines.append(f"… and {len(rule_issues) - per_rule} more of the same kind ({rule_issues[0].rule})")
    return "\n".join(lines)


def raise_for_fatal(issues: list[ValidationIssue]) -> None:
    """Raise one :class:`DataError` naming every fatal file/row (condensed past 20 per rule) with the fixes."""
    fatal = [i for i in issues if i.severity == "fatal"]
    if not fatal:
        return
    hints = list(dict.fromkeys(i.hint for i in fatal if i.hint))
    raise DataError(
        f"{len(fatal)} problem(s) must be fixed before this data can be used:\n" + format_issues(fatal),
        hint="\nWhat to do: " + " ".join(hints),
    )
