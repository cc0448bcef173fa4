"""Process identity for jobs: is the process that runs a job still the one we started?

A PID alone is not enough: after a worker dies the kernel may hand its PID to an unrelated process,
and a job would then look alive forever (or, worse, ``cancel`` would signal a stranger). So a job
records a *start token* next to its PID — on Linux the process start time from ``/proc/<pid>/stat``
(clock ticks since boot), which differs between two processes that share a PID. A zombie (a worker
that exited but whose parent has not reaped it yet) counts as dead.

>>> token = start_token(os.getpid())
>>> is_alive(os.getpid(), token)
True
>>> is_alive(os.getpid(), "not-the-token") if token else False
False
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

_PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name, or None if there is no such process."""
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name is in parentheses and may itself contain spaces or ')': split after the last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def start_token(pid: int) -> str | None:
    """A string that identifies this process among all that ever had this PID (None without /proc)."""
    fields = _stat_fields(pid)
    return fields[19] if fields else None  # field 22 of stat(5): starttime


def is_alive(pid: int | None, token: str | None) -> bool:
    """True while the process ``pid`` runs and is the one whose start token was recorded."""
    if not pid:
        return False
    if _PROC.is_dir():
        fields = _stat_fields(pid)
        if fields is None or fields[0] in ("Z", "X"):  # gone, or a zombie waiting to be reaped
            return False
        return token is None or fields[19] == token
    try:  # no /proc (macOS): fall back to "some process has this PID"
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def send_signal(pid: int, pgid: int | None, sig: signal.Signals) -> None:
    """Signal a job's process group when it has its own (a detached worker), else the process alone.

    A foreground job runs inside the user's shell's process group, which must not be signalled.
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if pgid:
            os.killpg(pgid, sig)
        else:
            os.kill(pid, sig)
