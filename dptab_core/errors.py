"""The project's exceptions: a small hierarchy whose messages teach.

Every error a user can cause is an :class:`InputError`: it says *what* is wrong, *where* (file, row,
column, zip member) and a *hint* on what to do. The CLI turns it into exit code 2 and a message on
stderr; the app shows it in plain words. Anything else escaping the engine is a bug (exit code 1).

>>> err = InputError("the file is empty", where="table.csv", hint="Export the table again.")
>>> str(err)
'table.csv: the file is empty. Export the table again.'
"""

from __future__ import annotations


class DPTabError(Exception):
    """Base of every error raised on purpose by dptab_core."""

    exit_code = 1


class InputError(DPTabError):
    """Bad input from the user: a file, a column, a setting. Exit code 2."""

    exit_code = 2

    def __init__(self, what: str, *, where: str | None = None, hint: str | None = None) -> None:
        self.what = what
        self.where = where
        self.hint = hint
        super().__init__(self._message())

    def _message(self) -> str:
        text = f"{self.where}: {self.what}" if self.where else self.what
        text = text if text.endswith((".", "?", "!")) else text + "."
        return f"{text} {self.hint}" if self.hint else text


class DataError(InputError):
    """The data itself (CSV, images, zip) cannot be used as it is."""


class PlanError(InputError):
    """A privacy budget plan that cannot work as asked (e.g. δ too large for n)."""


class PrivacyAccountingError(DPTabError):
    """What was spent differs from what was planned: a job must stop before writing outputs."""


class JobError(DPTabError):
    """A background job could not be started, found, resumed or cancelled."""
