"""Predicted CPU cost of one image preset's whole pipeline on the demo, from a few timed steps per stage.

Running the ``standard`` pipeline end to end to learn whether it takes 30 minutes would itself take
30+ minutes on a shared machine. Instead this times a few steps of every image stage at the preset's
real sizes, with the product's own code, on the 2,000-row demo (generated under ``--demo-dir`` when
missing): the semantic-query classifier, public pre-training, the warm-up on mean pairs, DP-SGD
with the default engine, and sampling one image per row. Each per-step time (process CPU seconds,
one torch thread, median over ``--steps`` steps after ``--warmup`` untimed ones) is multiplied by
the preset's step count. The stages that do not depend on the preset (load, table synthesis,
release, the data owner's evaluation) and the mean pairs (scaled by the pixel count) come from
:data:`FIXED_WALL_S`, measured by ``bench_end_to_end.py`` on 2 idle cores (benchmarks/README.md).

The predicted wall time on 2 idle cores assumes torch runs :data:`TWO_THREAD_SPEEDUP` times faster
with 2 threads than with 1; the fixed stages are already wall times there.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_preset_cost.py --preset quick
    PYTHONPATH=. .venv/bin/python benchmarks/bench_preset_cost.py --preset standard --set width=32
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from dptab_core.data.demo import demo_schema, ensure_demo
from dptab_core.data.ingest import IngestPolicy, load_paired_dataset
from dptab_core.image.device import resolve_device
from dptab_core.image.dpsgd import DEFAULT_ENGINE, ENGINES, finetune_dpsgd, opacus_batch_size
from dptab_core.image.encoder import RecordEncoder, encode_images
from dptab_core.image.models import build_model
from dptab_core.image.presets import ImagePreset
from dptab_core.image.sample import sample_images
from dptab_core.image.semantic import load_public_images, predict_proba, train_classifier
from dptab_core.image.train import fit
from dptab_core.pipeline.planning import resolve_preset
from dptab_core.privacy.ledger import Ledger

TWO_THREAD_SPEEDUP = 1.6
"""Assumed wall-time speed-up of torch from 1 to 2 threads on 2 idle cores (not measured here)."""
FITTED_SPEEDUP = 1.15
"""What quick's check found instead: its pre-training, warm-up and DP-SGD (Opacus hooks, the engine
bench_end_to_end ran) took 161 CPU s on one thread of the loaded box here and 140.5 s wall on 2 idle
cores, i.e. 1.15x. Tiny steps and memory-bound per-sample work gain little from a second thread."""
FIXED_WALL_S = {"load": 1.0, "table": 12.9, "release": 1.5, "evaluate": 48.0}
"""Wall seconds on 2 idle cores of the preset-independent stages (bench_end_to_end, quick, cold caches)."""
MEAN_PAIRS_WALL_S_AT_16 = 0.3
"""The mean-pair stage at 16×16 (bench_end_to_end); it scales with the number of pixels."""
MEASURED_QUICK_WALL_S = {"semantic_query": 8.6, "pretrain": 9.9, "warmup": 15.6, "dpsgd": 115.0, "total": 212.7}
"""bench_end_to_end on 2 idle cores (benchmarks/README.md), DP-SGD under Opacus hooks (the default engine
then): what the quick prediction is checked against (``--dpsgd-engine opacus`` for the DP-SGD row)."""


def step_times(run: Callable[[Callable[..., None]], None], warmup: int) -> list[float]:
    """Process-CPU seconds of each step after the first ``warmup``; ``run(tick)`` must call ``tick`` after each step."""
    stamps = [time.process_time()]
    run(lambda *_args: stamps.append(time.process_time()))
    return list(np.diff(stamps)[warmup:])


def fit_step(model, loss, x: np.ndarray, cond: np.ndarray, *, batch: int, lr: float, steps: int, warmup: int) -> float:
    """Median CPU seconds of one :func:`~dptab_core.image.train.fit` step (progress fires every step below 40)."""
    n = warmup + steps
    assert n < 40, "fit reports progress after every step only for fewer than 40 steps"
    return statistics.median(
        step_times(
            lambda tick: fit(
                model,
                loss,
                x,
                cond,
                steps=n,
                batch_size=batch,
                lr=lr,
                seed=0,
                device=torch.device("cpu"),
                label="bench",
                progress=tick,
            ),
            warmup,
        )
    )


def classifier_step(x: np.ndarray, y: np.ndarray, n_classes: int, *, width: int, steps: int, warmup: int) -> float:
    """CPU seconds per step of the public classifier: (time of warmup+steps − time of warmup) / steps."""

    def total(n: int) -> float:
        start = time.process_time()
        train_classifier(x, y, n_classes, width=width, steps=n, seed=0, device=torch.device("cpu"))
        return time.process_time() - start

    total(warmup)  # first-call costs (oneDNN kernel set-up) land here, not in the difference
    return max(0.0, (total(warmup + steps) - total(warmup)) / steps)


def measure(
    preset: ImagePreset, demo: Path, *, steps: int, warmup: int, engine: str = DEFAULT_ENGINE
) -> dict[str, dict[str, float]]:
    """Per stage: CPU seconds per step, step count, predicted CPU seconds (``cpu_s``)."""
    cpu = torch.device("cpu")
    schema = demo_schema()
    data = load_paired_dataset(demo / "table.csv", demo / "images", schema, policy=IngestPolicy())
    encoder = RecordEncoder(schema)
    cond = encoder.encode(data.table)
    n_rows, channels = len(data.table), data.images.shape[-1]
    rows: dict[str, dict[str, float]] = {}

    start = time.process_time()
    public, labels, names = load_public_images(
        demo / "public", size=preset.resolution, channels=channels, per_label=preset.public_per_label
    )
    load_public_s = time.process_time() - start
    x_public = encode_images(public, preset.resolution)
    per = classifier_step(
        x_public, labels, len(names), width=preset.classifier_width, steps=10 * steps, warmup=warmup
    )  # 10x: a classifier step is ~100x shorter than a DP-SGD one
    net = train_classifier(x_public, labels, len(names), width=preset.classifier_width, steps=1, seed=0, device=cpu)
    start = time.process_time()
    predict_proba(net, encode_images(data.images, preset.resolution), cpu)
    fixed = load_public_s + time.process_time() - start
    rows["semantic_query"] = {"per_step": per, "steps": preset.classifier_steps, "fixed": fixed}

    model = build_model(preset, encoder.dim, tuple(data.images.shape[1:]))
    unspecified = np.broadcast_to(encoder.unspecified(), (len(x_public), encoder.dim))
    per = fit_step(
        model,
        model,
        x_public,
        unspecified,
        batch=preset.pretrain_batch,
        lr=preset.warmup_lr,
        steps=steps,
        warmup=warmup,
    )
    rows["pretrain"] = {"per_step": per, "steps": preset.pretrain_steps, "fixed": load_public_s}

    targets = encode_images(data.images[: max(preset.warmup_batch, 256)], preset.resolution)
    per = fit_step(
        model,
        lambda t, c: model.regression_loss(t, c),
        targets,
        cond[: len(targets)],
        batch=preset.warmup_batch,
        lr=preset.warmup_lr,
        steps=steps,
        warmup=warmup,
    )
    rows["warmup"] = {"per_step": per, "steps": preset.warmup_steps, "fixed": 0.0}

    steps_per_epoch = int(np.ceil(n_rows / min(preset.dpsgd_batch, n_rows)))  # q = 1/m, as planning.py plans
    batch = opacus_batch_size(n_rows, 1.0 / steps_per_epoch)
    dpsgd_steps = max(1, round(preset.dpsgd_steps / steps_per_epoch)) * steps_per_epoch  # as planning.py rounds
    times = step_times(
        lambda tick: finetune_dpsgd(
            model,
            data.images,
            cond,
            noise_multiplier=1.0,
            sampling_rate=1.0 / steps_per_epoch,
            steps=warmup + steps,
            max_grad_norm=preset.dpsgd_max_grad_norm,
            ledger=Ledger(),
            device=cpu,
            lr=preset.dpsgd_lr,
            noise_seed=0,
            engine=engine,
            progress=tick,
        ),
        warmup,
    )
    rows["dpsgd"] = {"per_step": statistics.median(times), "steps": dpsgd_steps, "fixed": 0.0, "batch": batch}

    sample_images(
        model,
        cond[: preset.sample_batch],
        seed=0,
        batch_size=preset.sample_batch,
        device=cpu,
        temperature=preset.sample_temperature,
    )
    start = time.process_time()
    sample_images(
        model, cond, seed=0, batch_size=preset.sample_batch, device=cpu, temperature=preset.sample_temperature
    )
    rows["sample"] = {"per_step": time.process_time() - start, "steps": 1, "fixed": 0.0}

    for row in rows.values():
        row["cpu_s"] = row["per_step"] * row["steps"] + row["fixed"]
    rows["params_m"] = {"value": sum(p.numel() for p in model.parameters()) / 1e6}
    return rows


def report(preset: ImagePreset, rows: dict[str, dict[str, float]], engine: str) -> str:
    """A markdown table: per stage the step time, steps, CPU minutes (1 thread) and wall s on 2 idle cores."""
    fixed = {**FIXED_WALL_S, "mean_pairs": MEAN_PAIRS_WALL_S_AT_16 * (preset.resolution / 16) ** 2}
    lines = [
        f"preset {preset.name}, DP-SGD engine {engine}: {rows['params_m']['value']:.2f} M params, resolution {preset.resolution}, "
        f"width {preset.width}, DP-SGD expected batch {rows['dpsgd']['batch']:.0f}",
        "",
        "| stage | CPU s / step | steps | CPU min (1 thread) | predicted wall s (2 cores, 1.6x) "
        f"| wall s at {FITTED_SPEEDUP}x (fitted on quick) | measured wall s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    measured = dict(MEASURED_QUICK_WALL_S) if preset.name == "quick" else {}
    if engine != "opacus":  # the measured DP-SGD (and so the total) ran under Opacus hooks
        for stage in ("dpsgd", "total"):
            measured.pop(stage, None)
    total_cpu = total_wall = total_fitted = 0.0
    for stage in ("semantic_query", "pretrain", "warmup", "dpsgd", "sample"):
        row = rows[stage]
        wall, fitted = row["cpu_s"] / TWO_THREAD_SPEEDUP, row["cpu_s"] / FITTED_SPEEDUP
        total_cpu, total_wall, total_fitted = total_cpu + row["cpu_s"], total_wall + wall, total_fitted + fitted
        lines.append(
            f"| {stage} | {row['per_step']:.3f} | {row['steps']:.0f} | {row['cpu_s'] / 60:.1f} | {wall:.0f} "
            f"| {fitted:.0f} | {measured.get(stage, '')} |"
        )
    for stage, wall in fixed.items():
        total_cpu, total_wall, total_fitted = total_cpu + wall, total_wall + wall, total_fitted + wall
        lines.append(f"| {stage} (fixed, from bench_end_to_end) | | | | {wall:.1f} | {wall:.1f} | |")
    lines.append(
        f"| **total** | | | **{total_cpu / 60:.1f}** | **{total_wall:.0f} s = {total_wall / 60:.1f} min** "
        f"| **{total_fitted:.0f} s = {total_fitted / 60:.1f} min** | {measured.get('total', '')} |"
    )
    lines.append(
        f"\nWall = torch CPU s / {TWO_THREAD_SPEEDUP} (assumed 2-thread speed-up; the next column uses "
        f"{FITTED_SPEEDUP}x, fitted on quick) + fixed wall s. "
        f"Load average at the end: {', '.join(f'{v:.1f}' for v in os.getloadavg())}."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="quick")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a numeric preset field (repeatable), to price a candidate",
    )
    parser.add_argument("--steps", type=int, default=3, help="timed steps per stage")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument(
        "--dpsgd-engine",
        default=DEFAULT_ENGINE,
        choices=ENGINES,
        help="DP-SGD engine to time; 'opacus' reproduces the engine bench_end_to_end measured",
    )
    parser.add_argument("--demo-dir", type=Path, default=Path(tempfile.gettempdir()) / "dptab_bench_demo")
    args = parser.parse_args()
    torch.set_num_threads(1)
    overrides = {}
    for item in args.set:
        key, value = item.split("=", 1)
        overrides[key] = float(value) if "." in value else int(value)
    preset = resolve_preset(args.preset, overrides or None)
    resolve_device("cpu")
    rows = measure(preset, ensure_demo(args.demo_dir), steps=args.steps, warmup=args.warmup, engine=args.dpsgd_engine)
    print(report(preset, rows, args.dpsgd_engine))


if __name__ == "__main__":
    main()
