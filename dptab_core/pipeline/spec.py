"""What one synthesis run is asked to do: :class:`SynthSpec`, the JSON-able spec a job folder holds.

The app's Train page, ``synth`` (foreground or ``--background``), the demo and the ε sweep all
describe a run this way, so the same spec runs the same stages wherever it was written.
Importing this module pulls in neither torch nor jax.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from dptab_core.data.schema import Schema

SYNTH_KIND = "synth"
"""A synthesis job's ``spec["kind"]``, and its ``spec["entry"]`` in the worker's registry (:mod:`dptab_core.jobs.registry`)."""
SWEEP_KIND = "sweep"
"""An ε-sweep job's ``spec["kind"]`` and ``spec["entry"]`` (:func:`dptab_core.pipeline.sweep.sweep_job_spec`)."""


@dataclass(frozen=True)
class SynthSpec:
    """Everything one synthesis run needs; JSON-able so a job folder can hold it as ``spec.json``.

    ``plan_options``: keyword arguments of :func:`dptab_core.privacy.plan_budget` beyond n_rows
    (epsilon, delta, shares, dpsgd, …); the preset fills what is left out. ``reproducible_noise``:
    draw the privacy noise from ``seed`` (tests, demos) instead of OS entropy — the report says so,
    because anyone who knows the seed could subtract the noise. ``preset_overrides``: numeric
    preset fields to change for this run (tests and benchmarks shrink runs this way; checked by
    :func:`dptab_core.pipeline.planning.resolve_preset`). ``table_settings``: the table synthesizer's preset
    (``default``; ``fast`` for demos and tests, see :mod:`dptab_core.table.settings`). ``gpus``: how
    many processes run DP-SGD (one GPU each, or gloo processes on the CPU with ``device="cpu"``);
    above 1 the ``dpsgd`` stage runs under ``torchrun`` (:mod:`dptab_core.pipeline.distributed_stage`).
    Specs written before this field load with 1.
    """

    csv_path: str
    images_path: str
    schema: dict[str, Any]
    plan_options: dict[str, Any]
    preset: str = "quick"
    public_dir: str | None = None
    seed: int = 0
    device: str = "auto"
    table_mechanism: Literal["mst", "aim"] = "aim"
    table_only: bool = False
    reproducible_noise: bool = False
    policy: dict[str, Any] = field(default_factory=dict)
    evaluate: bool = True
    preset_overrides: dict[str, Any] = field(default_factory=dict)
    table_settings: str = "default"
    gpus: int = 1

    def to_job_spec(self) -> dict[str, Any]:
        """The dict :func:`dptab_core.jobs.submit` takes."""
        return {"entry": SYNTH_KIND, "kind": SYNTH_KIND, **asdict(self)}

    @classmethod
    def from_job_spec(cls, spec: dict[str, Any]) -> SynthSpec:
        known = {k: v for k, v in spec.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def make_synth_spec(
    *,
    csv_path: Path | str,
    images_path: Path | str,
    schema: Schema,
    plan_options: dict[str, Any],
    preset: str = "quick",
    public_dir: Path | str | None = None,
    seed: int = 0,
    device: str = "auto",
    **extra: Any,
) -> dict[str, Any]:
    """A job spec for :func:`dptab_core.jobs.submit` (what the app and ``synth --background`` send)."""
    spec = SynthSpec(
        csv_path=str(csv_path),
        images_path=str(images_path),
        schema=schema.to_dict(),
        plan_options=dict(plan_options),
        preset=preset,
        public_dir=str(public_dir) if public_dir else None,
        seed=seed,
        device=device,
        **extra,
    )
    return spec.to_job_spec()
