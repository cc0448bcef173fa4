"""The non-private upper bound: what the method's parts reach with no privacy at all (ε = ∞).

NOT PRIVATE. The same conditional VAE (same preset sizes) is trained with plain Adam — no clipping,
no noise — on the real pairs, for as many steps as the full method's warm-up and DP-SGD take
together; the real rows themselves are the "synthetic" table, and each gets an image drawn from the
model conditioned on it. So the table scores are exact, and the image and cross-modal scores show
how much of the gap to the real data the privacy noise costs, rather than the model's capacity.

The output folder has the layout :func:`~dptab_core.eval.evaluate.load_synthetic_run` reads, but it
is **not a release**: ``synthetic.csv`` holds real rows, so no ``bundle.zip`` is written,
``privacy_report.json`` says ``"private": false`` with no ε or δ, and ``NOT_PRIVATE.txt`` sits next
to it. It is run once per comparison, not per ε.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dptab_core.data.schema import MISSING_LABEL, Schema
from dptab_core.pipeline.planning import resolve_preset
from dptab_core.pipeline.run import ProgressFn, log_progress

if TYPE_CHECKING:
    from dptab_core.pipeline.spec import SynthSpec

NOT_PRIVATE = (
    "NOT PRIVATE (ε = ∞): trained without differential privacy on the real data, and the table is "
    "the real rows. An upper bound for comparison; never publish it."
)


def observed_domains(table: pd.DataFrame, schema: Schema) -> Schema:
    """``schema`` with every missing domain read off the data (observed categories, min–max bounds).

    Reading domains off the data is exactly what the private pipeline pays for; here nothing is private.

    >>> from dptab_core.data.schema import Column
    >>> s = Schema(columns=(Column("c", "categorical"), Column("x", "numeric", dtype="int"),
    ...                     Column("img", "image")), image_column="img")
    >>> out = observed_domains(pd.DataFrame({"c": ["b", "a", None], "x": [3, 9, 4]}), s)
    >>> out.column("c").categories, out.column("x").bounds
    (('a', 'b'), (3.0, 9.0))
    """
    for column in schema.synthesized_columns():
        if column.kind == "categorical" and column.categories is None:
            values = table[column.name].dropna().astype(str)
            categories = tuple(sorted(set(values) - {MISSING_LABEL}))
            schema = schema.replace_column(column.with_domain(categories=categories, public=False))
        elif column.kind == "numeric" and column.bounds is None:
            numbers = pd.to_numeric(table[column.name], errors="coerce").dropna()
            schema = schema.replace_column(
                column.with_domain(bounds=(float(numbers.min()), float(numbers.max())), public=False)
            )
    return schema


def run_non_private(
    spec: SynthSpec,
    *,
    out_dir: Path,
    work_dir: Path,
    progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """Train the conditional model without DP on ``spec``'s data; write the (non-)release into ``out_dir``.

    The same signature as :func:`dptab_core.pipeline.run_pipeline`, so the sweep runs either.
    """
    from dptab_core.data.ingest import IngestPolicy, load_paired_dataset
    from dptab_core.image.device import resolve_device
    from dptab_core.image.encoder import RecordEncoder
    from dptab_core.image.models import build_model
    from dptab_core.image.sample import sample_images
    from dptab_core.image.semantic import load_public_images
    from dptab_core.image.train import fit, pretrain_on_public
    from dptab_core.workspace import workspace_dir

    say = progress or log_progress
    policy = IngestPolicy(**spec.policy) if spec.policy else IngestPolicy()
    data = load_paired_dataset(
        Path(spec.csv_path), Path(spec.images_path), Schema.from_dict(spec.schema), policy=policy
    )
    schema = observed_domains(data.table, Schema.from_dict(spec.schema))
    preset = resolve_preset(spec.preset, spec.preset_overrides, has_public=bool(spec.public_dir))
    device = resolve_device(spec.device)
    encoder = RecordEncoder(schema)
    conditions = encoder.encode(data.table)
    model = build_model(preset, encoder.dim, tuple(data.images.shape[1:]))
    steps = preset.warmup_steps + preset.dpsgd_steps
    say("train", 0.0, f"NOT PRIVATE: {steps} plain Adam steps on the real pairs")
    if preset.family == "latent" and spec.public_dir:  # its public autoencoder first, as in the private pipeline
        say("train", 0.0, "training the autoencoder on the public images")
        public, _, _ = load_public_images(
            Path(spec.public_dir),
            size=preset.resolution,
            channels=data.images.shape[-1],
            per_label=preset.public_per_label,
            seed=spec.seed,
        )
        pretrain_on_public(
            model,
            public,
            encoder,
            preset=preset,
            seed=spec.seed,
            device=device,
            cache_dir=workspace_dir("cache", "public_autoencoder"),
        )
    fit(
        model,
        model,
        model.prepare_inputs(data.images),
        conditions,
        steps=steps,
        batch_size=min(preset.dpsgd_batch, len(data.table)),
        lr=preset.dpsgd_lr,
        seed=spec.seed,
        device=device,
        label="non-private training",
        progress=lambda f, m, _s: say("train", f, m),
        should_stop=should_stop,
    )
    images = sample_images(
        model,
        conditions,
        seed=spec.seed,
        batch_size=preset.sample_batch,
        device=device,
        temperature=preset.sample_temperature,
    )
    released = schema.release_view()
    write_non_private(
        Path(out_dir),
        table=data.table[[c.name for c in released.synthesized_columns()]],
        images=images,
        schema=released,
    )
    say("release", 1.0, "NOT PRIVATE output written (no bundle)")
    return {"epsilon_spent": None, "private": False, "out_dir": str(out_dir)}


def write_non_private(out_dir: Path, *, table: pd.DataFrame, images: np.ndarray, schema: Schema) -> None:
    """The folder :func:`~dptab_core.eval.evaluate.load_synthetic_run` reads, labelled NOT PRIVATE, no bundle."""
    from dptab_core.release import write_output_files

    report = {
        "private": False,
        "guarantee": NOT_PRIVATE,
        "target": {"epsilon": None, "delta": None},
        "spent": {"epsilon": None, "delta": None},
        "ledger": [],
        "method": "non-private upper bound",
    }
    write_output_files(
        out_dir,
        table=table,
        images=images,
        image_column=schema.image_column,
        schema_dict=schema.to_dict(),
        privacy_report=report,
        privacy_report_md=f"# Privacy report\n\n**{NOT_PRIVATE}**\n",
    )
    (out_dir / "NOT_PRIVATE.txt").write_text(NOT_PRIVATE + "\n", encoding="utf-8")
