"""The privacy budget of a dataset: every job that reads it is on its books, and an owner's cap holds.

Each run, sweep, baseline or audit spends its own (ε, δ) on the same people; a privacy officer asks
how much of *this dataset's* privacy has been spent. This module keeps one book per dataset:

* **Identity.** A dataset is its content fingerprint (SHA-256 of the CSV bytes and of every image
  file, by relative path) plus the name the owner confirmed. Renaming or moving the files changes
  nothing; changing one byte makes it a different dataset.
* **Charges.** When a job is submitted, each private run it plans is charged its target (ε, δ)
  (*reserved*) before the job reads anything. When the job succeeds, the charge is *settled*: the
  runs' ledger entries (what was actually drawn) replace the reservation. A job that fails or is
  cancelled after it started keeps its reservation (it read the data, and a resume may spend the
  rest); one cancelled while still queued is *void*. A non-private baseline (the owner's reference)
  is recorded as such, never counted as ε, and listed apart.
* **Total.** The settled ledgers compose in Rényi DP with the same accountant as one run
  (:func:`~dptab_core.privacy.accountant.compose_entries`), converted once at δ = Σ δ of the runs;
  reservations add by basic composition (Σ ε, Σ δ). Basic composition of everything is also a valid
  bound, and the smaller of the two is reported, with the method that gave it.
* **Cap.** The owner sets a cap on ε per dataset. A job whose planned charges would take the total
  over the cap is refused at submission, before it reads the data, with the numbers and the ways out.

Books live in ``workspace/datasets/<fingerprint[:16]>/budget.json``, rewritten atomically under a
lock; deleting a job never deletes its charge.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dptab_core.errors import InputError
from dptab_core.workspace import workspace_dir

BOOKS_DIR = "datasets"
DEFAULT_DELTA_CEILING = 1e-5
"""A run that leaves δ to the planner gets at most this (``planning.default_delta``): its reservation."""
RESERVED, SETTLED, VOID = "reserved", "settled", "void"


class BudgetCapError(InputError):
    """A job would take a dataset's spend over the cap its owner set; nothing was started."""


@dataclass(frozen=True)
class Run:
    """One private run a job makes on the dataset: its target (ε, δ) and, once settled, its ledger."""

    label: str
    epsilon: float
    delta: float
    private: bool = True
    entries: list[dict[str, Any]] | None = None


@dataclass(frozen=True)
class Charge:
    """What one job charged to the dataset."""

    job_id: str
    kind: str
    state: str
    runs: list[Run]
    at: str

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Charge:
        return cls(**{**data, "runs": [Run(**r) for r in data["runs"]]})


@dataclass(frozen=True)
class Spend:
    """The dataset's total so far: ``epsilon`` at ``delta``, over ``runs`` private runs of ``jobs`` jobs."""

    name: str
    fingerprint: str
    epsilon: float
    delta: float
    runs: int
    jobs: int
    method: str
    cap: float | None
    non_private_runs: int = 0

    @property
    def remaining(self) -> float | None:
        return None if self.cap is None else max(0.0, self.cap - self.epsilon)

    def sentence(self) -> str:
        """``this dataset: 12.3 of 20 spent over 4 runs`` (the sidebar's and the CLI's line)."""
        of = f" of {self.cap:g}" if self.cap is not None else " (no cap set)"
        runs = f"{self.runs} run" + ("" if self.runs == 1 else "s")
        return f"this dataset: ε = {self.epsilon:.3g}{of} spent over {runs}"


@dataclass
class Book:
    """One dataset's book: its identity, the owner's cap and every charge."""

    fingerprint: str
    name: str
    cap: float | None = None
    charges: list[Charge] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Book:
        return cls(
            fingerprint=data["fingerprint"],
            name=data["name"],
            cap=data.get("cap"),
            charges=[Charge.from_dict(c) for c in data.get("charges", [])],
        )


# ------------------------------------------------------------------ identity


def fingerprint(csv_path: Path | str, images_path: Path | str) -> str:
    """SHA-256 of the table's bytes and of every image file (by path relative to the image folder).

    A zip is hashed as a file. Hashing reads bytes but parses nothing, so it is not a use of the
    data; it is cached by the files' sizes and modification times so the app can call it often.
    """
    csv_path, images_path = Path(csv_path).resolve(), Path(images_path).resolve()
    files = [("table", csv_path)]
    if images_path.is_dir():
        files += [(p.relative_to(images_path).as_posix(), p) for p in sorted(images_path.rglob("*")) if p.is_file()]
    elif images_path.exists():
        files.append(("images", images_path))
    stats = [(name, str(p), p.stat().st_size, p.stat().st_mtime_ns) for name, p in files]
    key = hashlib.sha256(json.dumps(stats).encode()).hexdigest()
    cache_file = _books_root() / "fingerprints.json"
    cache = _read_json(cache_file) or {}
    if key in cache:
        return str(cache[key])
    digest = hashlib.sha256()
    for name, path in files:
        digest.update(name.encode("utf-8") + b"\0")
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    value = digest.hexdigest()
    with _locked(cache_file.with_suffix(".lock")):
        cache = _read_json(cache_file) or {}
        cache[key] = value
        _write_json(cache_file, cache)
    return value


# ------------------------------------------------------------------ what a job plans to spend


def planned_runs(spec: dict[str, Any]) -> list[Run]:
    """The private runs a job spec will make, each at its target (ε, δ) (δ left to the planner: its ceiling)."""
    if "synth" in spec and "epsilons" in spec:  # an ε sweep
        return _sweep_runs(spec)
    options = spec.get("plan_options") or {}
    return [_run_at("synth", options.get("epsilon", _default_epsilon()), options.get("delta"))]


def _sweep_runs(spec: dict[str, Any]) -> list[Run]:
    from dptab_core.pipeline.baselines import BASELINES

    delta = (spec["synth"].get("plan_options") or {}).get("delta")
    names = list(spec.get("baselines") or [])
    runs = []
    for name in names:
        baseline = BASELINES.get(name)
        if baseline is None:
            continue
        if not baseline.private:
            runs.append(
                Run(label=f"{name} (not private, owner's view only)", epsilon=math.inf, delta=0.0, private=False)
            )
            continue
        if baseline.shuffle_pairs and "dp-tabimage" in names:
            continue  # post-processing of the dp-tabimage run at the same ε: no read of its own
        runs += [_run_at(f"{name} at ε = {eps:g}", eps, delta) for eps in spec["epsilons"]]
    return runs


def _run_at(label: str, epsilon: float, delta: float | None) -> Run:
    return Run(label=label, epsilon=float(epsilon), delta=float(delta if delta is not None else DEFAULT_DELTA_CEILING))


def _default_epsilon() -> float:
    from dptab_core.pipeline.planning import DEFAULT_EPSILON

    return DEFAULT_EPSILON


# ------------------------------------------------------------------ the books


def _books_root() -> Path:
    return workspace_dir(BOOKS_DIR)


def _book_path(fp: str) -> Path:
    return _books_root() / fp[:16] / "budget.json"


def load_book(fp: str) -> Book | None:
    """The book of the dataset with fingerprint ``fp``, or None when nothing was charged to it yet."""
    data = _read_json(_book_path(fp))
    return Book.from_dict(data) if data else None


def books() -> list[Book]:
    """Every dataset's book, by name."""
    found = [Book.from_dict(d) for p in sorted(_books_root().glob("*/budget.json")) if (d := _read_json(p))]
    return sorted(found, key=lambda b: b.name.lower())


def find_book(name_or_fingerprint: str) -> Book:
    """The book whose name (case-insensitive) or fingerprint prefix is given; InputError naming the choices."""
    wanted = name_or_fingerprint.strip()
    everything = books()
    hits = [b for b in everything if b.name.lower() == wanted.lower()] or [
        b for b in everything if len(wanted) >= 6 and b.fingerprint.startswith(wanted.lower())
    ]
    if len(hits) == 1:
        return hits[0]
    known = ", ".join(f"{b.name} ({b.fingerprint[:12]})" for b in everything) or "none yet"
    if hits:
        raise InputError(
            f"{len(hits)} datasets are named {wanted!r}",
            where="--dataset",
            hint=f"Give the fingerprint instead: {known}.",
        )
    raise InputError(
        f"no dataset {wanted!r} has a privacy budget book", where="--dataset", hint=f"Known datasets: {known}."
    )


@contextlib.contextmanager
def _editing(fp: str, name: str | None) -> Iterator[Book]:
    """Hold the dataset's lock, yield its book (created when new), write it back atomically."""
    path = _book_path(fp)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with _locked(path.with_suffix(".lock")):
        data = _read_json(path, missing_ok=True)
        book = Book.from_dict(data) if data else Book(fingerprint=fp, name=name or fp[:12])
        yield book
        _write_json(path, book.to_dict())


def set_cap(fp: str, cap: float | None, *, name: str | None = None) -> Book:
    """Set (or with None, remove) the owner's ε cap of a dataset."""
    if cap is not None and not (math.isfinite(cap) and cap > 0):
        raise InputError(f"the cap must be a positive number, got {cap!r}", where="cap", hint="E.g. 20.")
    with _editing(fp, name) as book:
        book.cap = None if cap is None else float(cap)
    return book


def rename(fp: str, name: str) -> Book:
    """Confirm the dataset's name (what the sidebar, the Budget page and ``budget --dataset`` use)."""
    if not name.strip():
        raise InputError("a dataset name cannot be empty", where="name", hint="Type a name the owner recognises.")
    with _editing(fp, name) as book:
        book.name = name.strip()
    return book


def spend(book: Book, extra: Sequence[Run] = ()) -> Spend:
    """The book's composed total (plus ``extra`` planned runs, as reservations), see the module docstring."""
    from dptab_core.privacy.accountant import compose_entries
    from dptab_core.privacy.ledger import LedgerEntry

    live = [c for c in book.charges if c.state != VOID]
    runs = [r for c in live for r in c.runs] + list(extra)
    private = [r for r in runs if r.private]
    basic_eps, total_delta = sum(r.epsilon for r in private), sum(r.delta for r in private)
    settled = [r for r in private if r.entries is not None]
    reserved = [r for r in private if r.entries is None]
    epsilon, method = basic_eps, "basic composition (Σ ε, Σ δ over the runs)"
    if settled:
        entries = [LedgerEntry(**e) for r in settled for e in r.entries or ()]
        rdp_delta = sum(r.delta for r in settled)
        mixed = compose_entries(entries, delta=rdp_delta) + sum(r.epsilon for r in reserved)
        if mixed < basic_eps:
            epsilon = mixed
            method = (
                f"Rényi DP composition of the {len(settled)} finished runs' ledgers (dp-accounting), "
                f"converted once at δ = Σ δ"
                + (f", plus basic composition for {len(reserved)} planned or unfinished run(s)" if reserved else "")
            )
        else:
            method += "; tighter here than Rényi DP composition of the finished runs' ledgers"
    jobs = len({c.job_id for c in live if any(r.private for r in c.runs)}) + (1 if any(r.private for r in extra) else 0)
    return Spend(
        name=book.name,
        fingerprint=book.fingerprint,
        epsilon=epsilon,
        delta=total_delta,
        runs=len(private),
        jobs=jobs,
        method=method,
        cap=book.cap,
        non_private_runs=len(runs) - len(private),
    )


def spend_of(csv_path: Path | str, images_path: Path | str) -> Spend | None:
    """The spend of the dataset in these files (None when nothing was charged to it yet)."""
    book = load_book(fingerprint(csv_path, images_path))
    return spend(book) if book else None


# ------------------------------------------------------------------ jobs


def data_paths(spec: dict[str, Any]) -> tuple[str, str] | None:
    """The (CSV, images) a job spec reads, or None for a job that reads no dataset."""
    synth: dict[str, Any] = spec["synth"] if isinstance(spec.get("synth"), dict) else spec
    if synth.get("csv_path") and synth.get("images_path"):
        return str(synth["csv_path"]), str(synth["images_path"])
    return None


@contextlib.contextmanager
def admitting(spec: dict[str, Any]) -> Iterator[Any]:
    """Refuse ``spec`` if its planned runs would pass the dataset's cap; else let the caller create the job.

    Used as ``with admitting(spec) as admit: job = store.create(spec); admit(job.id)``: the check and
    the reservation hold the dataset's lock together, so two submissions cannot both squeeze under
    the cap. A spec that names no dataset passes through.
    """
    paths = data_paths(spec)
    if paths is None:
        yield lambda job_id: None
        return
    fp = fingerprint(*paths)
    runs = planned_runs(spec)
    with _editing(fp, _name_for(spec, paths)) as book:
        if spec.get("dataset_name"):  # the owner confirmed a name (the app's Data page, --dataset)
            book.name = str(spec["dataset_name"])
        _refuse_over_cap(book, runs)
        charged: list[str] = []
        yield charged.append
        for job_id in charged:
            book.charges.append(
                Charge(
                    job_id=job_id,
                    kind=str(spec.get("kind", "job")),
                    state=RESERVED,
                    runs=runs,
                    at=datetime.now(UTC).isoformat(timespec="seconds"),
                )
            )


def _name_for(spec: dict[str, Any], paths: tuple[str, str]) -> str:
    return str(spec.get("dataset_name") or Path(paths[0]).stem)


def _refuse_over_cap(book: Book, runs: list[Run]) -> None:
    if book.cap is None or not any(r.private for r in runs):
        return
    now, after = spend(book), spend(book, runs)
    if after.epsilon <= book.cap + 1e-9:
        return
    asked = sum(r.epsilon for r in runs if r.private)
    left = max(0.0, book.cap - now.epsilon)
    raise BudgetCapError(
        f"this job would spend ε = {asked:g} on dataset {book.name!r}, which has spent ε = {now.epsilon:.3g} of its "
        f"cap {book.cap:g} over {now.runs} run(s): together ε = {after.epsilon:.3g} > {book.cap:g}. Nothing was started",
        where=f"dataset {book.name}",
        hint=(f"Lower ε to at most {left:.3g} " if left > 0 else "The cap is used up: ")
        + f"or raise the cap (`python -m dptab_core budget --dataset {book.fingerprint[:12]} --cap NEW`, or the "
        "app's Budget page) if the data owner agrees.",
    )


def settle(spec: dict[str, Any], job_id: str, roots: list[Path]) -> bool:
    """Replace a succeeded job's reservation by what its runs recorded; True when it could.

    Each private run left a ``ledger.jsonl`` (what was drawn) next to its ``plan.json`` (its δ)
    somewhere under ``roots``. When their number differs from the runs reserved, what was spent
    cannot be matched to the plan, and the (larger) reservation stays.
    """
    paths = data_paths(spec)
    if paths is None:
        return False
    settled = []
    for ledger in sorted({p.resolve() for root in roots if root.exists() for p in root.rglob("ledger.jsonl")}):
        plan = _read_json(ledger.parent / "plan.json") or {}
        entries = [json.loads(line) for line in ledger.read_text(encoding="utf-8").splitlines() if line.strip()]
        if entries and "delta" in plan:
            settled.append(
                Run(
                    label=ledger.parent.name,
                    epsilon=float(plan["epsilon"]),
                    delta=float(plan["delta"]),
                    entries=entries,
                )
            )
    with _editing(fingerprint(*paths), None) as book:
        for i, charge in enumerate(book.charges):
            if charge.job_id != job_id or charge.state != RESERVED:
                continue
            if len(settled) != sum(r.private for r in charge.runs):
                return False
            kept = [r for r in charge.runs if not r.private]  # the non-private reference stays listed
            book.charges[i] = dataclasses.replace(charge, state=SETTLED, runs=settled + kept)
            return True
    return False


def void(spec: dict[str, Any], job_id: str) -> None:
    """A job cancelled before it started never read the data: its reservation no longer counts."""
    paths = data_paths(spec)
    if paths is None:
        return
    with _editing(fingerprint(*paths), None) as book:
        book.charges = [
            dataclasses.replace(c, state=VOID) if c.job_id == job_id and c.state == RESERVED else c
            for c in book.charges
        ]


# ------------------------------------------------------------------ files


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _read_json(path: Path, *, missing_ok: bool = False) -> Any:
    """The file's JSON; None when it is missing. A book that exists but cannot be read is an error when
    ``missing_ok`` (the editing path): starting it again from zero would forget what was spent."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if missing_ok:
            raise InputError(
                f"the privacy budget book cannot be read ({exc})",
                where=str(path),
                hint="Restore it from a backup; until then no job on this dataset can be charged.",
            ) from None
        return None


def _write_json(path: Path, data: Any) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
