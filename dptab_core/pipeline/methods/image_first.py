"""The image-first baseline: images first from a DP model that never sees a record, then a row for each.

DP-TabImage draws the table first and each image conditioned on its row. The opposite order (the
one DP-TabImage's paper compares against) has nothing to condition the images on, so the link
between an image and its row has to be recovered afterwards:

1. **schema, table**: as in the pipeline (paid domains; MST or AIM on private-pgm) — the pipeline's
   own stage functions;
2. **generator**: the same conditional VAE, trained with DP-SGD under the all-*unspecified* record,
   so it carries no record information (public pre-training first when the spec names a public
   folder, as in the pipeline);
3. **attribute reader**: a small CNN (:mod:`dptab_core.pipeline.methods.attribute_reader`) trained with DP-SGD
   on the real pairs to read every synthesized column off an image;
4. **pairing** (post-processing): one image per synthetic row, then rows are assigned to images so
   that the reader's log-probability of each image's row is largest overall (an exact assignment,
   in random blocks of :attr:`ImageFirstConfig.assignment_block` rows).

Budget: one plan through the privacy core (:func:`image_first_plan`): no mean pairs, and the DP-SGD
stage gets twice the preset's epochs, half of its steps training the generator and half the reader,
both at the plan's sampling rate and noise multiplier. Both runs record ``dpsgd`` ledger entries
(:func:`~dptab_core.image.dpsgd.finetune_dpsgd`), which compose to exactly the planned stage, so
the pipeline's release check (ledger == plan, composed ε ≤ target) applies unchanged and the
release layout (``synthetic.csv``, ``images/``, ``privacy_report.json`` …) is the pipeline's.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dptab_core.data.schema import Schema
from dptab_core.pipeline import stages
from dptab_core.pipeline.checkpoints import PLAN_FILE, SYNTHETIC_IMAGES_FILE, SYNTHETIC_TABLE_FILE, load_table
from dptab_core.pipeline.planning import count_public_labels, plan_kwargs, resolve_preset
from dptab_core.pipeline.run import ProgressFn, Run, Step, run_stages
from dptab_core.pipeline.spec import SynthSpec

if TYPE_CHECKING:
    from dptab_core.image.presets import ImagePreset
    from dptab_core.pipeline.methods.attribute_reader import AttributeReader
    from dptab_core.privacy import BudgetPlan


@dataclass(frozen=True)
class ImageFirstConfig:
    """Settings of the image-first baseline beyond the image preset, each with its reason."""

    reader_lr: float = 2e-3
    """Adam step of the attribute reader under DP-SGD: a small classifier tolerates (and with few
    noisy steps needs) twice the generator's step."""
    assignment_block: int = 2500
    """Rows paired with images by one exact assignment at most: a 2,500² cost matrix is 50 MB and a
    few seconds; larger releases are paired in random blocks of this size."""
    reader_seed_offset: int = 1
    """The reader's seeds differ from the generator's, so the two DP-SGD runs draw independent batches
    and noise even when noise is seeded for reproducibility."""


DEFAULT_IMAGE_FIRST_CONFIG = ImageFirstConfig()


def image_first_plan(spec: SynthSpec, *, schema: Schema, n_rows: int, channels: int) -> BudgetPlan:
    """The budget plan of the image-first baseline: the pipeline's plan without mean pairs, and with
    twice the DP-SGD epochs (half for the generator, half for the attribute reader)."""
    from dptab_core.privacy import MeanPairSettings, plan_budget

    paid = schema.unpaid_domains()
    kwargs = plan_kwargs(
        spec.plan_options,
        preset=spec.preset,
        n_rows=n_rows,
        channels=channels,
        n_paid_columns=len(paid),
        n_paid_categorical=sum(1 for c in paid if c.kind == "categorical"),
        n_public_labels=count_public_labels(spec.public_dir),
        preset_overrides=spec.preset_overrides,
    )
    kwargs["mean_pairs"] = MeanPairSettings(rounds=0, enabled=False)
    kwargs["dpsgd"] = dataclasses.replace(kwargs["dpsgd"], epochs=2 * kwargs["dpsgd"].epochs)
    return plan_budget(**kwargs)


def match_rows_to_images(
    log_probs: dict[str, np.ndarray], row_codes: dict[str, np.ndarray], *, rng: np.random.Generator, block: int
) -> np.ndarray:
    """``order`` such that row ``order[i]`` goes with image ``i``, maximising Σ log p(image's row).

    ``log_probs[col]``: (m, domain size) log-probabilities the reader gives each image; ``row_codes``:
    the m rows' codes. Post-processing of DP outputs only.

    >>> lp = {"a": np.log(np.array([[0.1, 0.9], [0.8, 0.2]]))}
    >>> match_rows_to_images(lp, {"a": np.array([0, 1])}, rng=np.random.default_rng(0), block=10).tolist()
    [1, 0]
    """
    from scipy.optimize import linear_sum_assignment

    m = len(next(iter(row_codes.values())))
    images, rows = rng.permutation(m), rng.permutation(m)
    order = np.empty(m, dtype=np.int64)
    for start in range(0, m, block):
        im, rw = images[start : start + block], rows[start : start + block]
        score = sum(log_probs[name][im][:, np.asarray(codes)[rw]] for name, codes in row_codes.items())
        i, j = linear_sum_assignment(score, maximize=True)
        order[im[i]] = rw[j]
    return order


def run_image_first(
    spec: SynthSpec,
    *,
    out_dir: Path,
    work_dir: Path,
    progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] | None = None,
    config: ImageFirstConfig = DEFAULT_IMAGE_FIRST_CONFIG,
) -> dict[str, Any]:
    """Run the image-first baseline on ``spec``'s data; write a pipeline-style release into ``out_dir``.

    The same signature as :func:`dptab_core.pipeline.run_pipeline`, so the sweep runs either.
    """
    run = Run.start(spec, out_dir=out_dir, work_dir=work_dir, progress=progress, should_stop=should_stop)
    return run_stages(run, image_first_steps(spec, config))


def image_first_steps(spec: SynthSpec, config: ImageFirstConfig = DEFAULT_IMAGE_FIRST_CONFIG) -> list[Step]:
    """The baseline's steps: the pipeline's stages where they apply, its own generator, reader and pairing."""
    reader = _ReaderSlot()
    steps: list[Step] = [("load", _load), ("schema", stages.schema)]
    if spec.public_dir:
        steps += [("semantic_query", stages.semantic_query), ("pretrain", stages.pretrain)]
    steps += [
        ("table", stages.table),
        ("dpsgd", _generator),
        ("reader", lambda run: _reader(run, config, reader)),
        ("sample", lambda run: _sample_and_pair(run, config, reader)),
        ("release", stages.release),
    ]
    return steps


@dataclass
class _ReaderSlot:
    """The attribute reader, from the step that trains it to the step that pairs rows with images."""

    reader: AttributeReader | None = None


def _load(run: Run) -> None:
    """The pipeline's load, then this baseline's plan in place of the pipeline's."""
    stages.load(run)
    run.plan = image_first_plan(
        run.spec, schema=run.schema, n_rows=len(run.real_table()), channels=run.real_images().shape[-1]
    )
    (run.work_dir / PLAN_FILE).write_text(json.dumps(run.plan.to_dict(), indent=2), encoding="utf-8")


def _half_dpsgd(run: Run, model: Any, targets: np.ndarray, *, lr: float, seed_offset: int, stage: str) -> None:
    """Half of the planned DP-SGD steps on ``model`` (the other half trains the other network)."""
    p = run.planned().stages["dpsgd"].params
    if p["steps"] % 2:
        raise ValueError(f"the image-first plan must have an even number of DP-SGD steps, got {p['steps']}")
    stages.finetune_under_plan(
        run,
        model,
        targets,
        steps=p["steps"] // 2,
        lr=lr,
        seed_offset=seed_offset,
        progress=lambda f, m, _done: run.report(stage, f, m),
    )


def _preset(run: Run) -> ImagePreset:
    return resolve_preset(run.spec.preset, run.spec.preset_overrides, has_public=bool(run.spec.public_dir))


def _generator(run: Run) -> None:
    """DP-SGD of the conditional VAE under the all-unspecified record: an image model with no record."""
    import torch

    from dptab_core.image.encoder import RecordEncoder
    from dptab_core.image.models import build_model

    preset, images = _preset(run), run.real_images()
    encoder = RecordEncoder(run.schema)
    model = build_model(preset, encoder.dim, tuple(images.shape[1:]))
    pretrained = run.work_dir / "model_pretrain.pt"
    if pretrained.exists():
        model.load_state_dict(torch.load(pretrained, map_location="cpu", weights_only=True))
    blank = np.tile(encoder.unspecified(), (len(images), 1))
    _half_dpsgd(run, model, blank, lr=preset.dpsgd_lr, seed_offset=0, stage="dpsgd")
    run.model, run.encoder = model, encoder


def _reader(run: Run, config: ImageFirstConfig, slot: _ReaderSlot) -> None:
    """DP-SGD of the attribute reader on the real pairs (image → every synthesized column)."""
    from dptab_core.data.encoding import domain_size, encode_table
    from dptab_core.pipeline.methods.attribute_reader import AttributeReader, one_hot_targets

    preset = _preset(run)
    sizes = {c.name: domain_size(c) for c in run.schema.synthesized_columns()}
    reader = AttributeReader(
        sizes, channels=run.real_images().shape[-1], width=preset.classifier_width, resolution=preset.resolution
    )
    targets = one_hot_targets(encode_table(run.real_table(), run.schema), sizes)
    _half_dpsgd(run, reader, targets, lr=config.reader_lr, seed_offset=config.reader_seed_offset, stage="reader")
    slot.reader = reader


def _sample_and_pair(run: Run, config: ImageFirstConfig, slot: _ReaderSlot) -> None:
    """One record-free image per synthetic row, then each row given the image that reads most like it.

    The table stage's checkpoint is left as it is: the images are saved in the order of its rows.
    """
    from dptab_core.data.encoding import encode_table
    from dptab_core.image.encoder import encode_images
    from dptab_core.image.sample import sample_images

    preset = _preset(run)
    synthetic = load_table(run.work_dir / SYNTHETIC_TABLE_FILE)
    if run.model is None or run.encoder is None or slot.reader is None:
        raise RuntimeError("the image-first sample step runs after its generator and reader steps")
    run.report("sample", 0.1, f"drawing {len(synthetic)} images with no record")
    images = sample_images(
        run.model,
        np.tile(run.encoder.unspecified(), (len(synthetic), 1)),
        seed=run.spec.seed,
        batch_size=preset.sample_batch,
        device=run.torch_device(),
        temperature=preset.sample_temperature,
    )
    run.report("sample", 0.6, "reading each image's attributes and pairing rows with images")
    log_probs = slot.reader.read(
        encode_images(images, preset.resolution), batch_size=preset.sample_batch, device=run.torch_device()
    )
    order = match_rows_to_images(
        log_probs,
        encode_table(synthetic, run.schema),
        rng=np.random.default_rng(run.spec.seed),
        block=config.assignment_block,
    )
    image_of_row = np.empty_like(order)
    image_of_row[order] = np.arange(len(order))  # row order[i] goes with image i
    np.save(run.work_dir / SYNTHETIC_IMAGES_FILE, images[image_of_row])
