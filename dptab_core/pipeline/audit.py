"""The canary audit around a real pipeline run: canaries go in as files, the release comes back as images.

:func:`dptab_core.eval.privacy_checks.audit_one_run` takes any ``run_fn(table, images) → synthetic
images``; :func:`pipeline_run_fn` builds that function for a :class:`~dptab_core.pipeline.SynthSpec`
by writing the canary-augmented data as a CSV and PNG files (exactly what a user uploads, so the
run goes through the same ingest) and running the pipeline on them. :func:`audit_pipeline` does the
whole audit and writes ``audit.json`` where :func:`~dptab_core.eval.evaluate.load_synthetic_run`
finds it. The audited run is a separate run (with canaries), not the user's release.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from dptab_core.data.schema import Schema
from dptab_core.eval.evaluate import AUDIT_FILE, load_synthetic_run
from dptab_core.eval.privacy_checks import DEFAULT_AUDIT_CONFIG, AuditConfig, RunFn, audit_one_run
from dptab_core.pipeline.methods import MethodRun
from dptab_core.pipeline.methods.dp_tabimage import run_pipeline
from dptab_core.pipeline.planning import DEFAULT_EPSILON, default_delta
from dptab_core.pipeline.spec import SynthSpec


def write_dataset(folder: Path, table: pd.DataFrame, images: np.ndarray, schema: Schema) -> tuple[Path, Path]:
    """``folder/table.csv`` and ``folder/images/<name>`` (names from the image column) for a paired dataset."""
    image_dir = folder / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    for name, pixels in zip(table[schema.image_column].astype(str), images, strict=True):
        Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(image_dir / Path(name).name)
    csv = folder / "table.csv"
    table[[c.name for c in schema.columns]].to_csv(csv, index=False)
    return csv, image_dir


def pipeline_run_fn(spec: SynthSpec, *, work_root: Path, run_fn: MethodRun = run_pipeline) -> RunFn:
    """A ``run_fn`` for the audit that runs the pipeline of ``spec`` on whatever data it is handed."""
    schema = Schema.from_dict(spec.schema)

    def run(table: pd.DataFrame, images: np.ndarray) -> np.ndarray:
        csv, image_dir = write_dataset(work_root / "data", table, images, schema)
        audited = dataclasses.replace(spec, csv_path=str(csv), images_path=str(image_dir), evaluate=False)
        run_fn(audited, out_dir=work_root / "release", work_dir=work_root / "work", progress=None)
        return load_synthetic_run(work_root / "release")[1]

    return run


def audit_pipeline(
    spec: SynthSpec,
    *,
    work_root: Path,
    config: AuditConfig = DEFAULT_AUDIT_CONFIG,
    seed: int,
    write_to: Path | None = None,
    run_fn: MethodRun = run_pipeline,
) -> dict[str, Any]:
    """Run the one-run canary audit of ``spec``'s pipeline; optionally write ``audit.json`` into ``write_to``.

    The audit judges the (ε, δ) the plan actually uses: where the spec leaves ε or δ to the planner,
    they are the planner's defaults for the real data's size (:func:`planned_budget`), and the
    audited run is pinned to that δ, so the canaries added to its data cannot move it.
    """
    from dptab_core.data.ingest import IngestPolicy, load_paired_dataset

    schema = Schema.from_dict(spec.schema)
    policy = IngestPolicy(**spec.policy) if spec.policy else IngestPolicy()
    real = load_paired_dataset(Path(spec.csv_path), Path(spec.images_path), schema, policy=policy)
    epsilon, delta = planned_budget(spec.plan_options, n_rows=len(real.table))
    audited = dataclasses.replace(spec, plan_options={**spec.plan_options, "delta": delta})
    result = audit_one_run(
        pipeline_run_fn(audited, work_root=Path(work_root), run_fn=run_fn),
        real.table,
        real.images,
        schema,
        config=config,
        seed=seed,
        delta=delta,
    )
    result["claimed_epsilon"], result["claimed_delta"] = epsilon, delta
    if write_to is not None:
        Path(write_to).mkdir(parents=True, exist_ok=True)
        (Path(write_to) / AUDIT_FILE).write_text(json.dumps(result, indent=2), encoding="utf-8")
    return result


def planned_budget(plan_options: dict[str, Any], *, n_rows: int) -> tuple[float, float]:
    """(ε, δ) a run with ``plan_options`` on ``n_rows`` rows is planned at: the user's, else the planner's defaults.

    >>> planned_budget({"epsilon": 3.0}, n_rows=2000)
    (3.0, 1e-05)
    >>> planned_budget({}, n_rows=20000)
    (10.0, 1e-06)
    """
    return (
        float(plan_options.get("epsilon", DEFAULT_EPSILON)),
        float(plan_options.get("delta", default_delta(n_rows))),
    )
