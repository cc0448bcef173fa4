"""What the Results page compares: real and synthetic rows and images of one finished job, sampled.

Both sides are encoded with the *released* schema (``out/schema.json``), so a real and a synthetic
value land in the same bar. At most :data:`DISPLAY_ROWS` rows per side are kept (a fixed-seed
sample): figures stay light for the browser, and the page never ships a whole dataset to it.
Loading is cached per job, so moving a selector redraws without re-reading images.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from dptab_core.data.encoding import code_labels, domain_size, encode_table
from dptab_core.data.ingest import IngestPolicy, load_paired_dataset
from dptab_core.data.schema import Schema
from dptab_core.eval.evaluate import load_synthetic_run, load_synthetic_table
from dptab_core.pipeline.spec import SYNTH_KIND

DISPLAY_ROWS = 2000
"""Rows per side drawn in the figures: enough for stable histograms and grids, small for the browser."""
SAMPLE_SEED = 0
OWNER_VIEW = "owner_view"
COMPARISON_REPORT = "comparison.html"


@dataclass(frozen=True)
class Comparison:
    """Codes and images of the real and synthetic sides (sampled), with the released schema."""

    schema: Schema
    sizes: dict[str, int]
    labels: dict[str, list[str]]
    real_codes: dict[str, np.ndarray]
    synthetic_codes: dict[str, np.ndarray]
    real_images: np.ndarray
    synthetic_images: np.ndarray | None
    n_real: int
    n_synthetic: int


def _sample(n: int) -> np.ndarray:
    if n <= DISPLAY_ROWS:
        return np.arange(n)
    return np.sort(np.random.default_rng(SAMPLE_SEED).choice(n, size=DISPLAY_ROWS, replace=False))


@st.cache_data(show_spinner="Loading the real and synthetic data…", max_entries=4)
def load_comparison(
    job_id: str, out_dir: str, csv_path: str, images_path: str, input_schema: dict, policy: dict | None = None
) -> Comparison:
    """Read one finished job's release and its real data (with the job's ingest choices); ``job_id`` keys the cache."""
    syn_table, schema, _ = load_synthetic_table(Path(out_dir))
    table_only = schema.image_column not in syn_table.columns
    syn_images = None if table_only else load_synthetic_run(Path(out_dir))[1]
    real = load_paired_dataset(
        Path(csv_path), Path(images_path), Schema.from_dict(input_schema), policy=IngestPolicy(**(policy or {}))
    )
    r, s = _sample(len(real.table)), _sample(len(syn_table))
    real_codes = {k: v[r] for k, v in encode_table(real.table, schema).items()}
    syn_codes = {k: v[s] for k, v in encode_table(syn_table, schema).items()}
    columns = schema.synthesized_columns()
    return Comparison(
        schema=schema,
        sizes={c.name: domain_size(c) for c in columns},
        labels={c.name: code_labels(c) for c in columns},
        real_codes=real_codes,
        synthetic_codes=syn_codes,
        real_images=real.images[r],
        synthetic_images=None if syn_images is None else syn_images[s],
        n_real=len(real.table),
        n_synthetic=len(syn_table),
    )


def read_optional_json(path: Path) -> dict | None:
    """A JSON file's content, or None when it is absent or unreadable (e.g. a run without evaluation)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def only_values(codes: np.ndarray, keep: list[int]) -> np.ndarray:
    """``codes`` with every value not in ``keep`` replaced by -1 (so a grid skips those rows)."""
    return np.where(np.isin(codes, keep), codes, -1)


def owner_view_dir(job: Any) -> Path | None:
    """The job's data-owner folder (evaluation numbers, comparison report), if the run evaluated.

    It lives in the job folder (``job.owner_view_path``), outside the shared release; jobs from
    before that move kept it inside their output folder, which is still read.
    """
    for folder in (job.owner_view_path, job.output_path / OWNER_VIEW):
        if folder.is_dir():
            return folder
    return None


def comparison_report(job: Any) -> Path | None:
    """The self-contained HTML comparison report of a job, if the run wrote one."""
    folder = owner_view_dir(job)
    path = folder / COMPARISON_REPORT if folder else None
    return path if path is not None and path.is_file() else None


def release_done(job: Any) -> bool:
    """True once the job's release stage has finished (its outputs are complete, evaluation may still run)."""
    for event in reversed(job.progress_events()):
        if event.get("stage") == "evaluate" or (
            event.get("stage") == "release" and float(event.get("stage_fraction", 0.0)) >= 1.0
        ):
            return True
    return False


def release_dir(job: Any) -> Path | None:
    """Where a job's DP release can be read now: its output folder once the job succeeded, or — while
    the data owner's evaluation still runs after the release was written — the job's partial folder."""
    state = job.status().state
    if state == "succeeded":
        return job.output_path
    if state == "running" and release_done(job) and (job.partial_output_path / "bundle.zip").is_file():
        return job.partial_output_path
    return None


def latest_release(dataset: str | None, dataset_of: Any) -> Any:
    """The newest succeeded synthesis job, preferring one on ``dataset`` (``dataset_of(spec)`` names a job's)."""
    from dptab_core.jobs.store import JobStore

    found = [j for j in JobStore().list() if j.spec.get("kind") == SYNTH_KIND and j.status().state == "succeeded"]
    same = [j for j in found if dataset_of(j.spec) == dataset]
    return (same or found or [None])[0]


def evaluation_progress(job: Any) -> tuple[float, str] | None:
    """(fraction, message) of the running data-owner evaluation, or None when it is not running."""
    for event in reversed(job.progress_events()):
        if event.get("stage") == "evaluate":
            return float(event.get("stage_fraction", 0.0)), str(event.get("message", ""))
        if event.get("stage") == "release":
            return 0.0, "starting"
    return None
