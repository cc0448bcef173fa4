"""The pipeline's stages, one function each.

Each stage function takes the run state (:class:`dptab_core.pipeline.run.Run`), reads what earlier
stages left (in memory, or from their checkpoint files when the job was resumed), does its work and
saves what later stages need under ``work_dir`` (:mod:`dptab_core.pipeline.checkpoints`). The
methods of :mod:`dptab_core.pipeline.methods` list which stages run, in which order. Heavy libraries
are imported inside the stages, never by the planning path.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dptab_core.data.schema import Schema
from dptab_core.pipeline.checkpoints import (
    MEAN_PAIRS_FILE,
    PLAN_FILE,
    RELEASED_SCHEMA_FILE,
    SEMANTIC_QUERY_FILE,
    SYNTHETIC_IMAGES_FILE,
    SYNTHETIC_TABLE_FILE,
    any_done,
    is_done,
    load_mean_pairs,
    load_table,
    save_mean_pairs,
    save_table,
)
from dptab_core.pipeline.run import Run, StageFn
from dptab_core.privacy.ledger import dpsgd_so_far

if TYPE_CHECKING:
    from dptab_core.image.encoder import RecordEncoder
    from dptab_core.image.family import DPSGDModel, RecordConditionedModel
    from dptab_core.image.presets import ImagePreset

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- stages


def load(run: Run) -> None:
    """Read and validate the data under the confirmed schema; plan the budget for its size."""
    from dptab_core.data.ingest import IngestPolicy, load_paired_dataset
    from dptab_core.pipeline.planning import build_plan
    from dptab_core.privacy import BudgetPlan

    spec = run.spec
    policy = IngestPolicy(**spec.policy) if spec.policy else IngestPolicy()
    data = load_paired_dataset(
        Path(spec.csv_path),
        Path(spec.images_path),
        run.schema,
        policy=policy,
        progress=lambda done, total: run.report("load", done / max(total, 1), f"read {done} of {total} images"),
    )
    run.table, run.images = data.table, data.images
    plan_file = run.work_dir / PLAN_FILE
    if plan_file.exists() and any_done(run.work_dir):
        # Resumed: finished stages spent under the plan of the first attempt; re-planning (with a
        # newer planner, or other inputs) could make the ledger and the plan disagree.
        run.plan = BudgetPlan.from_dict(json.loads(plan_file.read_text(encoding="utf-8")))
    else:
        run.plan = build_plan(spec, schema=run.schema, n_rows=len(data.table), channels=data.images.shape[-1])
        plan_file.write_text(json.dumps(run.plan.to_dict(), indent=2), encoding="utf-8")
    if is_done(run.work_dir, "schema"):  # resumed: later stages use the domains paid for the first time
        run.schema = Schema.load(run.work_dir / RELEASED_SCHEMA_FILE)


def schema(run: Run) -> None:
    """Pay for every domain that is not declared public (DP categories / DP bounds)."""
    from dptab_core.privacy.domain import pay_for_domains

    stage = run.planned().stages["schema"]
    if stage.enabled:
        run.report("schema", 0.1, f"paying for {len(run.schema.unpaid_domains())} domains not declared public")
        run.schema = pay_for_domains(
            run.real_table(),
            run.schema,
            rho=stage.params["rho"],
            rng=run.noise_rng,
            ledger=run.ledger,
            delta_budget=stage.params["partition_delta"],
        )
    else:
        run.report("schema", 0.5, "every domain is declared public: nothing to pay")
    run.schema.save(run.work_dir / RELEASED_SCHEMA_FILE)


def semantic_query(run: Run) -> None:
    """PrivImage: pick the public labels closest to the sensitive images with one noisy vote."""
    from dptab_core.image.semantic import semantic_query as query
    from dptab_core.workspace import workspace_dir

    stage, preset = run.planned().stages["semantic_query"], _preset(run)
    result = query(
        run.real_images(),
        _public_dir(run),
        sigma=stage.params["sigma"],
        top_k=stage.params["top_k"],
        n_select=_n_select(stage.params["n_public_labels"]),
        rng=run.noise_rng,
        ledger=run.ledger,
        cache_dir=workspace_dir("cache", "public_classifier"),
        device=run.torch_device(),
        resolution=preset.resolution,
        per_label=preset.public_per_label,
        width=preset.classifier_width,
        steps=preset.classifier_steps,
        progress=lambda fraction, message: run.report("semantic_query", fraction, message),
    )
    chosen = {
        "selected_labels": result.selected_labels,
        "labels": result.labels,
        # rounded: the low bits of floating-point Gaussian noise can leak (Mironov 2012)
        "noisy_votes": [round(float(v), 1) for v in result.noisy_votes],
    }
    (run.work_dir / SEMANTIC_QUERY_FILE).write_text(json.dumps(chosen, indent=2), encoding="utf-8")
    # Shown only once the stage is marked done (the pipeline reports it): a cancel after seeing the
    # labels must not let a resumed run draw the noise again and pick the result it prefers.
    run.done_message = "pre-training on: " + ", ".join(result.selected_labels)


def pretrain(run: Run) -> None:
    """Pre-train the image model on the public images of the selected labels (public data: free)."""
    from dptab_core.image.semantic import load_public_images
    from dptab_core.image.train import pretrain_on_public
    from dptab_core.workspace import workspace_dir

    preset = _preset(run)
    chosen = json.loads((run.work_dir / SEMANTIC_QUERY_FILE).read_text(encoding="utf-8"))["selected_labels"]
    images, labels, label_names = load_public_images(
        _public_dir(run),
        size=preset.resolution,
        channels=run.real_images().shape[-1],
        per_label=preset.public_per_label,
        seed=run.spec.seed,
    )
    keep = np.isin(np.asarray(label_names, dtype=object)[labels], chosen)
    model, encoder = _model(run)
    pretrain_on_public(
        model,
        images[keep],
        encoder,
        preset=preset,
        seed=run.spec.seed,
        device=run.torch_device(),
        progress=_sub_progress(run, "pretrain"),
        should_stop=run.should_stop,
        cache_dir=workspace_dir("cache", "public_autoencoder"),
    )
    _save_model(run, model, "pretrain")


def mean_pairs(run: Run) -> None:
    """DP mean table-image pairs (Poisson-subsampled Gaussian sums of clipped images)."""
    from dptab_core.data.encoding import encode_table
    from dptab_core.image.mean_pairs import dp_mean_pairs, dp_mean_pairs_of

    stage, preset = run.planned().stages["mean_pairs"], _preset(run)
    if not stage.enabled:
        run.report("mean_pairs", 0.5, "disabled in the plan")
        return
    codes, p = encode_table(run.real_table(), run.schema), stage.params
    common: dict[str, Any] = dict(
        noise_multiplier=p["noise_multiplier"],
        sampling_rate=p["sampling_rate"],
        rounds=p["rounds"],
        clip_norm=p["clip_norm"],
        rng=run.noise_rng,
        ledger=run.ledger,
        count_weight=preset.count_weight,
        min_cell_count=preset.min_cell_count,
    )
    if preset.family == "latent":  # released in the public autoencoder's latent space
        from dptab_core.image.latent import LatentGaussian

        model, _ = _model(run)
        assert isinstance(model, LatentGaussian), type(model)  # build_model's family for the preset
        run.report(
            "mean_pairs",
            0.1,
            "one noisy release of per-(column, value) latent sums and counts, and of the latents' spread",
        )
        coordinates = model.project(model.prepare_inputs(run.real_images()))
        pairs = dp_mean_pairs_of(
            coordinates,
            codes,
            run.schema,
            shrink=True,
            bounded=False,
            second_moment=True,
            **common,
            details={
                "space": f"top {coordinates.shape[1]} public principal directions of the public autoencoder's latents"
            },
        )
    else:
        run.report("mean_pairs", 0.1, "one noisy release of per-(column, value) image sums and counts")
        pairs = dp_mean_pairs(run.real_images(), codes, run.schema, resolution=preset.resolution, **common)
    run.report("mean_pairs", 0.9, "saving the noisy mean pairs")
    save_mean_pairs(run.work_dir / MEAN_PAIRS_FILE, pairs)


def warmup(run: Run) -> None:
    """Teach the model to draw each released mean pair (post-processing: free).

    When the table stage ran first (DP-TabImage's table → image order), the synthetic rows go along:
    the latent family regresses its mean map on them instead of adding up per-column means.
    """
    from dptab_core.image.train import warm_up

    path = run.work_dir / MEAN_PAIRS_FILE
    table_file = run.work_dir / SYNTHETIC_TABLE_FILE
    model, encoder = _model(run)
    if path.exists():  # this run's own: a fresh run deleted any earlier run's (resumable_ledger)
        pairs = load_mean_pairs(path)
        warm_up(
            model,
            pairs,
            encoder,
            preset=_preset(run),
            seed=run.spec.seed,
            device=run.torch_device(),
            progress=_sub_progress(run, "warmup"),
            should_stop=run.should_stop,
            records=encoder.encode(load_table(table_file)) if table_file.exists() else None,
        )
    _save_model(run, model, "warmup")


def table(run: Run) -> None:
    """Synthetic rows from MST or AIM on private-pgm (zCDP ρ from the plan)."""
    from dptab_core.table import synthesize_table

    rho = run.planned().stages["table"].params["rho"]
    # The synthesizer's own messages carry results of its noisy measurements (rounds taken, the noisy
    # row total): they are shown once the stage is marked done, as the semantic query's labels are.
    said: list[str] = []
    working = f"{run.spec.table_mechanism.upper()}: measuring marginals and fitting (details once done)"

    def progress(fraction: float, message: str) -> None:
        said.append(message)
        run.report("table", fraction, working)

    synthetic = synthesize_table(
        run.real_table(),
        run.schema,
        rho=rho,
        mechanism=run.spec.table_mechanism,
        n_rows=None,
        seed=run.spec.seed,
        rng=run.noise_rng,
        ledger=run.ledger,
        progress=progress,
        settings=run.spec.table_settings,
    )
    save_table(run.work_dir / SYNTHETIC_TABLE_FILE, synthetic)
    run.done_message = "; ".join(said[-2:]) or None


def dpsgd(run: Run) -> None:
    """Fine-tune the record-conditioned image model on the sensitive pairs with DP-SGD.

    The planned steps go to the family's :meth:`~dptab_core.image.family.RecordConditionedModel.dpsgd_phases`
    in turn (the latent family: its Gaussian, then its decoder), each at the plan's noise, sampling
    rate and clip, so the ledger's entries add up to the plan. With ``spec.gpus > 1`` the first phase
    runs on that many ``torchrun`` processes (:mod:`dptab_core.pipeline.distributed_stage`), later
    phases in this process.
    """
    stage, preset = run.planned().stages["dpsgd"], _preset(run)
    # An earlier attempt's partial DP-SGD state is thrown away: its steps were dropped from the
    # resumed ledger (finetune_dpsgd records them only when it returns or unwinds, so after a kill -9
    # they were never recorded at all); training on from it would release unaccounted steps.
    for old in run.work_dir.glob("dpsgd*"):
        shutil.rmtree(old, ignore_errors=True)
    (run.work_dir / "model_dpsgd.pt").unlink(missing_ok=True)
    model, encoder = _model(run)
    if stage.enabled:
        p = stage.params
        conditions = encoder.encode(run.real_table())
        done = 0
        for index, (phase, steps) in enumerate(model.dpsgd_phases(int(p["steps"]))):
            if run.should_stop():
                break
            if index == 0 and run.spec.gpus > 1:  # the family's own model, on torchrun processes
                from dptab_core.pipeline.distributed_stage import run_distributed_dpsgd

                run_distributed_dpsgd(run, model, conditions, {**p, "steps": steps}, lr=preset.dpsgd_lr)
            else:
                _finetune_phase(run, phase, conditions, p, steps=steps, steps_before=done, index=index)
            done += steps
        if run.should_stop():
            run.report("dpsgd", 0.0, "stopping")
    _save_model(run, model, "dpsgd")


def _finetune_phase(
    run: Run, phase: DPSGDModel, conditions: np.ndarray, p: dict[str, Any], *, steps: int, steps_before: int, index: int
) -> None:
    """``steps`` of the DP-SGD stage on ``phase``; progress and the ε shown count the stage's steps before
    this phase too, so the bar and the spending run on across phases. Each phase keeps its own
    checkpoint folder (``dpsgd``, ``dpsgd_1``)."""
    total = int(p["steps"])
    finetune_under_plan(
        run,
        phase,
        conditions,
        steps=steps,
        lr=phase.dpsgd_lr or _preset(run).dpsgd_lr,
        seed_offset=104729 * index,
        progress=lambda _f, _m, steps_done: run.report(
            "dpsgd",
            (steps_before + steps_done) / total,
            f"DP-SGD step {steps_before + steps_done}/{total} ({phase.dpsgd_label})",
            pending=[dpsgd_so_far(p, steps_before + steps_done)],
        ),
        checkpoint_dir=run.work_dir / ("dpsgd" if index == 0 else f"dpsgd_{index}"),
    )


def finetune_under_plan(
    run: Run,
    model: Any,
    targets: np.ndarray,
    *,
    steps: int,
    lr: float,
    seed_offset: int,
    progress: Callable[[float, str, int], None],
    checkpoint_dir: Path | None = None,
) -> None:
    """``steps`` DP-SGD steps of ``model`` on the real images and ``targets`` at the plan's noise
    multiplier, sampling rate and clip: each call's steps are one more share of the plan's ``dpsgd``
    stage, recorded in the run's ledger. ``seed_offset`` keeps each share's seeds apart."""
    from dptab_core.image.dpsgd import finetune_dpsgd

    p, spec = run.planned().stages["dpsgd"].params, run.spec
    finetune_dpsgd(
        model,
        run.real_images(),
        targets,
        noise_multiplier=p["noise_multiplier"],
        sampling_rate=p["sampling_rate"],
        steps=steps,
        max_grad_norm=p["max_grad_norm"],
        ledger=run.ledger,
        device=run.torch_device(),
        lr=lr,
        seed=spec.seed + seed_offset,
        noise_seed=spec.seed + 7919 + seed_offset if spec.reproducible_noise else None,
        progress=progress,
        checkpoint_dir=checkpoint_dir,
        should_stop=run.should_stop,
    )


def sample(run: Run) -> None:
    """One image per synthetic row, conditioned on that row (no sensitive data read)."""
    from dptab_core.image.sample import sample_images

    synthetic = load_table(run.work_dir / SYNTHETIC_TABLE_FILE)
    model, encoder = _model(run)
    preset = _preset(run)
    run.report("sample", 0.1, f"drawing one image for each of {len(synthetic)} synthetic rows")
    images = sample_images(
        model,
        encoder.encode(synthetic),
        seed=run.spec.seed,
        batch_size=preset.sample_batch,
        device=run.torch_device(),
        temperature=preset.sample_temperature,
    )
    run.report("sample", 0.9, "saving the images")
    np.save(run.work_dir / SYNTHETIC_IMAGES_FILE, images)


def release(run: Run) -> None:
    """Check ledger == plan, then write the DP release (nothing is written before the check)."""
    from dptab_core.privacy import build_privacy_report, render_privacy_report_markdown, verify_ledger_matches_plan
    from dptab_core.release import write_release

    plan = run.planned()
    verify_ledger_matches_plan(run.ledger, plan)
    run.report("release", 0.1, "ledger matches the plan; writing the release")
    synthetic = load_table(run.work_dir / SYNTHETIC_TABLE_FILE)
    images_path = run.work_dir / SYNTHETIC_IMAGES_FILE
    images = np.load(images_path) if images_path.exists() and not run.spec.table_only else None
    released = Schema.load(run.work_dir / RELEASED_SCHEMA_FILE).release_view()
    report = build_privacy_report(
        plan=plan,
        ledger=run.ledger,
        schema_dict=released.to_dict(),
        assumptions=_assumptions(run, released),
        extra=_report_extra(run),
    )
    ordered = synthetic[[c.name for c in released.synthesized_columns()]]
    write_release(
        run.out_dir,
        table=ordered,
        images=images,
        image_column=released.image_column,
        schema_dict=released.to_dict(),
        privacy_report=report,
        privacy_report_md=render_privacy_report_markdown(report),
    )


def evaluate(run: Run) -> None:
    """The data owner's view: compare the release with the real data (never part of the bundle).

    Writes ``evaluation.json`` and ``comparison.html`` into ``run.owner_dir`` (the job folder's
    ``owner_view/``), outside the release folder, so sharing the release never shares them.
    The release is complete before this stage, so an evaluation that cannot run (data too small for
    a metric, a classifier that will not train) does not fail the job: ``owner_view/evaluation.json``
    then holds a ``warning`` saying why, and the job log has the traceback.
    """
    from dptab_core.jobs.context import JobCancelled

    owner = run.owner_dir
    owner.mkdir(parents=True, exist_ok=True)
    try:
        _evaluate(run, owner)
    except (JobCancelled, MemoryError, KeyboardInterrupt):
        raise
    except Exception as exc:  # noqa: BLE001 - any failure here leaves the release intact
        log.warning("the data owner's evaluation failed; the release is complete", exc_info=True)
        warning = (
            f"the comparison with the real data could not be computed ({type(exc).__name__}: {exc}); "
            "the synthetic release is complete and unaffected"
        )
        (owner / "evaluation.json").write_text(json.dumps({"warning": warning}, indent=2), encoding="utf-8")
        run.report("evaluate", 1.0, "evaluation skipped: " + warning)


def _evaluate(run: Run, owner: Path) -> None:
    from dptab_core.eval.evaluate import claimed_budget, evaluate_arrays, load_synthetic_run
    from dptab_core.eval.report_html import write_report
    from dptab_core.workspace import workspace_dir

    run.report("evaluate", 0.05, "reading the release back")
    if run.spec.table_only:
        from dptab_core.eval.evaluate import evaluate_table_only, load_synthetic_table

        syn_table, released, report = load_synthetic_table(run.out_dir)
        metrics = evaluate_table_only(run.real_table(), syn_table, released, claimed=claimed_budget(report))
        (owner / "evaluation.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
        return
    syn_table, syn_images, released, report, audit = load_synthetic_run(run.out_dir)
    run.report("evaluate", 0.2, "training the data owner's attribute classifier")
    evaluation = evaluate_arrays(
        run.real_table(),
        run.real_images(),
        syn_table,
        syn_images,
        released,
        cache_dir=workspace_dir("cache", "eval"),
        claimed=claimed_budget(report),
        audit=audit,
    )
    (owner / "evaluation.json").write_text(json.dumps(evaluation.metrics, indent=2), encoding="utf-8")
    run.report("evaluate", 0.9, "drawing the comparison report")
    write_report(evaluation, owner / "comparison.html")


STAGES: dict[str, StageFn] = {
    "load": load,
    "schema": schema,
    "semantic_query": semantic_query,
    "pretrain": pretrain,
    "mean_pairs": mean_pairs,
    "warmup": warmup,
    "table": table,
    "dpsgd": dpsgd,
    "sample": sample,
    "release": release,
    "evaluate": evaluate,
}


# ---------------------------------------------------------------- helpers


def _preset(run: Run) -> ImagePreset:
    from dptab_core.pipeline.planning import spec_preset

    return spec_preset(run.spec)


def _public_dir(run: Run) -> Path:
    if not run.spec.public_dir:
        raise ValueError("this stage needs the spec's public image folder (public_dir)")
    return Path(run.spec.public_dir)


def _n_select(n_labels: int) -> int:
    """How many public labels to pre-train on: about a third, at least one (PrivImage picks a subset)."""
    return max(1, math.ceil(n_labels / 3))


def _model(run: Run) -> tuple[RecordConditionedModel, RecordEncoder]:
    """The image model and its record encoder, from memory or from the latest stage checkpoint."""
    if run.model is None or run.encoder is None:
        import torch

        from dptab_core.image.encoder import RecordEncoder
        from dptab_core.image.models import build_model

        encoder = RecordEncoder(run.schema)
        model = build_model(_preset(run), encoder.dim, tuple(run.real_images().shape[1:]))
        for name in ("dpsgd", "warmup", "pretrain"):
            path = run.work_dir / f"model_{name}.pt"
            if path.exists():
                model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
                break
        run.model, run.encoder = model, encoder
    return run.model, run.encoder


def _save_model(run: Run, model: Any, name: str) -> None:
    import torch

    torch.save(model.state_dict(), run.work_dir / f"model_{name}.pt")


def _sub_progress(run: Run, stage: str) -> Callable[[float, str, int], None]:
    return lambda fraction, message, _step: run.report(stage, fraction, message)


def _assumptions(run: Run, released: Schema) -> list[str]:
    """What the guarantee rests on, in plain words, for the report."""
    public = [c.name for c in released.synthesized_columns() if c.public]
    paid = [c.name for c in released.synthesized_columns() if not c.public]
    out = [
        _unit_of_privacy(run, released),
        "neighbouring datasets differ by adding or removing one person (their row and their image)",
        "the number of people n is treated as public: it sets the DP-SGD sampling rate (as Opacus does); "
        "the synthetic table's row count is drawn from the table model's noisy total, not copied from n",
        "domains declared public by the user: " + (", ".join(public) or "none"),
        "domains paid for from the budget: " + (", ".join(paid) or "none"),
    ]
    if run.spec.public_dir:
        out.append("the public image folder contains no sensitive data")
    if run.spec.reproducible_noise:
        out.append(
            "WARNING: the privacy noise was seeded for reproducibility; anyone who knows the seed can "
            "remove it — do not publish this release"
        )
    return out


def _unit_of_privacy(run: Run, released: Schema) -> str:
    """The sentence that says whom the guarantee protects, from what was actually done to the rows."""
    from dptab_core.privacy.person_unit import KEPT_ROW_RULE, proxy_hint

    bounded = (run.spec.policy or {}).get("keep_one_row_per_person", True)
    if released.person_column and bounded:
        proxy = proxy_hint(released.person_column)
        return (
            f"one person = one row and its image: rows were bounded to one per {released.person_column!r} "
            f"({KEPT_ROW_RULE})" + (f". WARNING: {proxy}" if proxy else "")
        )
    if released.person_column:
        return (
            f"WARNING: rows were NOT bounded per {released.person_column!r}: the guarantee protects one row; "
            f"a person with k rows is protected only at about k·ε"
        )
    if released.one_row_per_person_confirmed:
        return "one person = one row and its image (confirmed by the user)"
    return (
        "one person = one row and its image: ASSUMED, not confirmed — if a person can have several rows, "
        "name the person column and run again"
    )


def _report_extra(run: Run) -> dict[str, Any]:
    # Nothing here may depend on the private data beyond what the ledger accounts for: no exact n, no
    # timings (the data owner finds both in the job folder).
    extra: dict[str, Any] = {"preset": run.spec.preset, "table_mechanism": run.spec.table_mechanism}
    chosen = run.work_dir / SEMANTIC_QUERY_FILE
    if chosen.exists():
        extra["semantic_query"] = json.loads(chosen.read_text(encoding="utf-8"))
    if run.spec.public_dir and not run.spec.table_only:
        extra["public_pretraining"] = {
            "labels": (extra.get("semantic_query") or {}).get("selected_labels"),
            "epsilon": 0.0,
            "words": "the image model was pre-trained on the public images of the labels the semantic query "
            "chose: public data, so it spends no ε (the query's vote is in the ledger)",
        }
    return extra
