"""The job store: one folder per job on disk, so that any process can find, watch and repair jobs.

A job is a folder under ``workspace/jobs/<id>/``::

    spec.json        what to run: {"entry": "synth", ...its arguments} (entries: dptab_core.jobs.registry)
    status.json      the job's state, replaced atomically on every change (never half-written)
    progress.jsonl   one JSON line per progress event, append-only
    job.log          the worker's log (stdout, stderr, ctx.log, tracebacks)
    checkpoints/     what a resumed run continues from
    out.partial/     outputs while they are being written; renamed to out/ only when complete
    cancel.request   present once someone asked the job to stop

State lives in these files and nowhere else, so a page refresh, an app restart or a second terminal
sees the same jobs. ``status.json`` is written to a temporary file, flushed to disk and renamed over
the old one: a reader sees the old or the new status, never a torn one. Read-modify-write updates
hold a per-job ``flock`` so the worker, ``cancel`` and ``refresh`` never lose each other's changes.

>>> import tempfile
>>> store = JobStore(Path(tempfile.mkdtemp()))
>>> job = store.create({"entry": "synth", "seed": 1})
>>> job.status().state, job.spec["seed"]
('queued', 1)
>>> [j.id for j in store.list()] == [job.id]
True
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import fcntl
import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dptab_core.errors import InputError, JobError
from dptab_core.workspace import workspace_dir

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
STATES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)
FINISHED_STATES = (SUCCEEDED, FAILED, CANCELLED)

# A registered job's name ("synth"), or "package.module:function" for the tests' own job modules: the
# only forms of entry a worker will look up (the worker then runs only registered ones: jobs.registry).
_ENTRY = re.compile(r"^[A-Za-z_][\w]*((\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*)?$")
# Job ids are generated here; anything else (slashes, "..") can never name a job folder.
_JOB_ID = re.compile(r"^\d{8}-\d{6}-\d{6}$")


class JobNotFoundError(InputError, JobError):
    """No job with this id in the store (exit code 2: the user typed an id that does not exist)."""


class JobCorruptError(InputError, JobError):
    """A job folder whose ``status.json`` or ``spec.json`` cannot be read (truncated, edited by hand).

    Such a job is shown as broken and skipped; it never stops the other jobs from being listed,
    scheduled or started.
    """


class JobStateError(InputError, JobError):
    """The job is in a state where the request makes no sense, e.g. cancelling a finished job."""


def now_iso() -> str:
    """The current UTC time as ISO 8601, the one time format of every job file."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class JobStatus:
    """What ``status.json`` holds: the state of one job at one moment.

    ``fraction`` is the whole job's fraction done (0–1) as last reported by the job function;
    ``stage`` is the stage it was in (kept after a failure, so the error can name it). ``pid``,
    ``pgid`` and ``start_token`` identify the process running the job, even after the PID is reused.
    """

    id: str
    state: str
    created_at: str
    queued_at: str
    updated_at: str
    heavy: bool = True
    stage: str | None = None
    fraction: float = 0.0
    message: str = ""
    epsilon_spent: float | None = None
    epsilon_planned: float | None = None
    pid: int | None = None
    pgid: int | None = None
    start_token: str | None = None
    attempt: int = 0
    resuming: bool = False
    started_at: str | None = None
    finished_at: str | None = None
    cancel_requested_at: str | None = None
    error: str | None = None
    log_tail: str | None = None
    output_dir: str | None = None

    @property
    def finished(self) -> bool:
        """True once the job succeeded, failed or was cancelled."""
        return self.state in FINISHED_STATES

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobStatus:
        """Build from a status dict, ignoring keys a newer version may have added."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to ``path`` so that readers see the old or the new content, never a torn file.

    The temporary file sits in the same folder (``os.replace`` is atomic only within a file system)
    and is fsync-ed before the rename, so a crash or power cut cannot leave an empty status behind.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1, default=_json_default)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _write_private(path: Path, text: str) -> None:
    """Write a new text file readable by its owner only (0600), whatever the caller's umask."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing); released when the holder dies."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor drops the lock


@dataclass(frozen=True)
class Job:
    """A handle on one job folder; every read goes to disk, so it is never stale."""

    id: str
    dir: Path

    @property
    def spec_path(self) -> Path:
        return self.dir / "spec.json"

    @property
    def status_path(self) -> Path:
        return self.dir / "status.json"

    @property
    def progress_path(self) -> Path:
        return self.dir / "progress.jsonl"

    @property
    def log_path(self) -> Path:
        return self.dir / "job.log"

    @property
    def checkpoint_dir(self) -> Path:
        return self.dir / "checkpoints"

    @property
    def owner_view_path(self) -> Path:
        """The data owner's comparison with the real data: in the job folder, never inside the release.

        Whoever shares the output folder shares only the DP release; this folder shows real rows
        and images and stays next to the job's checkpoints.
        """
        return self.dir / "owner_view"

    @property
    def cancel_request_path(self) -> Path:
        return self.dir / "cancel.request"

    @property
    def output_path(self) -> Path:
        """Where complete outputs end up: the spec's ``output_dir`` if it names one, else ``out/``."""
        target = self.spec.get("output_dir")
        return Path(target) if target else self.dir / "out"

    @property
    def partial_output_path(self) -> Path:
        """Where outputs are written until complete: a sibling of the final folder (same file system)."""
        final = self.output_path
        return final.with_name(final.name + ".partial")

    @property
    def spec(self) -> dict[str, Any]:
        spec = _read_json(self.spec_path)
        if not isinstance(spec, dict):
            raise JobCorruptError(f"job {self.id}: spec.json does not hold a job spec", where=str(self.spec_path))
        return spec

    def status(self) -> JobStatus:
        """The job's current status; :class:`JobCorruptError` when ``status.json`` cannot be read."""
        data = _read_json(self.status_path)
        try:
            return JobStatus.from_dict(data)
        except (TypeError, AttributeError) as exc:
            raise JobCorruptError(
                f"job {self.id}: status.json is not a job status ({exc})",
                where=str(self.status_path),
                hint="Delete this job's folder; the other jobs are not affected.",
            ) from None

    def problem(self) -> str | None:
        """Why this job's files cannot be read, or None when they can (a broken job is skipped)."""
        try:
            self.status()
            self.spec  # noqa: B018 - reading it is the check
        except JobCorruptError as exc:
            return str(exc)
        return None

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold this job's lock for a read-modify-write of its files."""
        with file_lock(self.dir / ".lock"):
            yield

    def update_status(self, **changes: Any) -> JobStatus:
        """Change some status fields under the job lock (``flock`` is not re-entrant: do not hold it)."""
        with self.locked():
            return self.update_status_locked(**changes)

    def update_status_locked(self, **changes: Any) -> JobStatus:
        """Like :meth:`update_status`, for a caller that already holds :meth:`locked`."""
        status = dataclasses.replace(self.status(), updated_at=now_iso(), **changes)
        write_json_atomic(self.status_path, status.to_dict())
        return status

    def append_progress(self, event: dict[str, Any]) -> None:
        """Append one event to ``progress.jsonl`` as a single write, so lines never interleave."""
        line = json.dumps(event, default=_json_default) + "\n"
        with open(self.progress_path, "a", encoding="utf-8") as fh:
            fh.write(line)

    def progress_events(self) -> list[dict[str, Any]]:
        """Every progress event so far, oldest first (a line torn by a crash is skipped)."""
        if not self.progress_path.exists():
            return []
        events = []
        for line in self.progress_path.read_text(encoding="utf-8", errors="replace").splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                events.append(json.loads(line))
        return events

    def log_tail(self, n_lines: int = 20) -> str:
        """The last ``n_lines`` lines of the job log ('' when there is no log yet)."""
        try:
            with open(self.log_path, "rb") as fh:
                size = fh.seek(0, os.SEEK_END)
                fh.seek(max(0, size - 256 * max(n_lines, 1)))  # ~256 bytes a line is plenty
                lines = fh.read().decode("utf-8", errors="replace").splitlines()
        except FileNotFoundError:
            return ""
        return "\n".join(lines[-n_lines:]) if n_lines > 0 else ""

    def discard_partial_outputs(self) -> None:
        """Remove half-written outputs (after a failure, a cancel, or before a resumed run)."""
        shutil.rmtree(self.partial_output_path, ignore_errors=True)


class JobStore:
    """The folder of all jobs (``workspace/jobs`` unless told otherwise)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root).resolve() if root is not None else workspace_dir("jobs")
        self.root.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"JobStore({str(self.root)!r})"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the store-wide lock: taken before any job lock, to decide which job starts next."""
        with file_lock(self.root / ".lock"):
            yield

    def create(self, spec: dict[str, Any]) -> Job:
        """Write a new queued job; the folder appears complete or not at all (built aside, then renamed).

        Keys of ``spec`` the job machinery reads (all others are the job function's own arguments):
        ``entry`` (a name in :data:`dptab_core.jobs.registry.JOB_ENTRIES`, required); ``heavy`` (default True: waits for the
        running heavy job); ``epsilon_planned`` (shown before the job starts); ``output_dir`` (an
        absolute path where the complete outputs go instead of the job's ``out/``; it must not exist
        yet or be empty, and its parent must be writable — checked here, before anything runs).
        """
        _check_spec(spec)
        _check_output_dir(spec)
        spec_text = json.dumps(spec, indent=1, default=_json_default) + "\n"
        planned = spec.get("epsilon_planned")
        while True:
            moment = datetime.now(UTC)
            job_id = moment.strftime("%Y%m%d-%H%M%S-%f")  # sorts by creation time, to the microsecond
            stamp = moment.isoformat(timespec="milliseconds")
            status = JobStatus(
                id=job_id,
                state=QUEUED,
                created_at=stamp,
                queued_at=stamp,
                updated_at=stamp,
                heavy=bool(spec.get("heavy", True)),
                epsilon_planned=float(planned) if planned is not None else None,
            )
            building = Path(tempfile.mkdtemp(prefix=f".{job_id}.", dir=self.root))
            try:
                _write_private(building / "spec.json", spec_text)
                write_json_atomic(building / "status.json", status.to_dict())
                os.rename(building, self.root / job_id)  # refuses to merge into a job created the same µs
                break
            except OSError:
                shutil.rmtree(building, ignore_errors=True)
                if not (self.root / job_id).exists():
                    raise
            except BaseException:
                shutil.rmtree(building, ignore_errors=True)
                raise
        return Job(job_id, self.root / job_id)

    def get(self, job_id: str) -> Job:
        """The job with this id, or :class:`JobNotFoundError` naming the store and what to do."""
        path = self.root / job_id
        if not _JOB_ID.match(job_id) or not (path / "status.json").is_file():
            raise JobNotFoundError(
                f"there is no job with id {job_id!r}",
                where=str(self.root),
                hint="Run `python -m dptab_core jobs list` to see the job ids.",
            )
        return Job(job_id, path)

    def list(self) -> list[Job]:
        """Every readable job, newest first (ids start with their creation time); broken ones are skipped."""
        return [job for job in self._all() if job.problem() is None]

    def broken(self) -> builtins.list[tuple[Job, str]]:
        """Jobs whose files cannot be read, each with the reason (shown as broken, never run)."""
        return [(job, problem) for job in self._all() if (problem := job.problem()) is not None]

    def _all(self) -> builtins.list[Job]:
        jobs = [Job(p.name, p) for p in self.root.iterdir() if _JOB_ID.match(p.name) and (p / "status.json").is_file()]
        return sorted(jobs, key=lambda job: job.id, reverse=True)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise JobCorruptError(
            f"{path.name} of job {path.parent.name} cannot be read ({exc})",
            where=str(path),
            hint="Delete this job's folder; the other jobs are not affected.",
        ) from None


def _check_spec(spec: Any) -> None:
    if not isinstance(spec, dict):
        raise JobError(f"a job spec must be a dict, got {type(spec).__name__}")
    entry = spec.get("entry")
    if not isinstance(entry, str) or not _ENTRY.match(entry):
        raise JobError(f"a job spec needs 'entry': the name of a registered job, got {entry!r}")
    planned = spec.get("epsilon_planned")
    if planned is not None and not (isinstance(planned, int | float) and math.isfinite(planned)):
        raise JobError(f"'epsilon_planned' must be a finite number, got {planned!r}")


def _check_output_dir(spec: dict[str, Any]) -> None:
    """Refuse, before anything runs, an output folder the job could not fill."""
    target = spec.get("output_dir")
    if not target:
        return
    path = Path(target)
    if not path.is_absolute():
        raise JobError(f"'output_dir' must be an absolute path (workers run in the job folder), got {target!r}")
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise InputError(
            "the output folder already exists and is not empty",
            where=str(path),
            hint="Choose a new folder name, or delete the old one first.",
        )
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(
            "this folder cannot be written to",
            where=str(parent),
            hint="Choose an output folder you have write permission for.",
        )
