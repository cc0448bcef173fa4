"""The image-first and non-private baselines: each writes a run the evaluation loads and scores; image-first
spends at most its target through the privacy core; non-private is labelled NOT PRIVATE everywhere."""

from __future__ import annotations

import json

import numpy as np
import pytest
from eval_fakes import fake_pairs, fake_schema, write_real, write_synthetic_run

from dptab_core.data.encoding import encode_table
from dptab_core.data.schema import Schema
from dptab_core.eval.evaluate import EvalConfig, evaluate_arrays, load_synthetic_run
from dptab_core.eval.features import FeatureConfig
from dptab_core.eval.figures import metric_vs_epsilon_figure
from dptab_core.pipeline import SynthSpec
from dptab_core.pipeline.methods.image_first import image_first_plan, match_rows_to_images
from dptab_core.pipeline.planning import build_plan
from dptab_core.pipeline.sweep import NO_GUARANTEE, run_sweep
from dptab_core.privacy import compose_entries
from dptab_core.privacy.ledger import Ledger

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CONFIG = EvalConfig(features=FeatureConfig(epochs=5, batch_size=64, image_size=16, width=16))
TINY = {
    "resolution": 8,
    "width": 8,
    "latent_dim": 4,
    "warmup_steps": 4,
    "classifier_width": 8,
    "dpsgd_batch": 64,
    "dpsgd_steps": 4,
    "sample_batch": 64,
}
ROWS = 160


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """A tiny real dataset on disk (images show colour and size) and the spec of a run on it."""
    root = tmp_path_factory.mktemp("baselines")
    table, images = fake_pairs(ROWS, seed=0)
    csv, folder = write_real(root / "real", table, images)
    spec = SynthSpec(
        csv_path=str(csv),
        images_path=str(folder),
        schema=fake_schema().to_dict(),
        plan_options={"epsilon": 5.0, "delta": 1e-5},
        preset_overrides=TINY,
        table_settings="fast",
        evaluate=False,
        reproducible_noise=True,
    )
    return root, table, images, spec


@pytest.fixture(scope="module")
def image_first_run(real):
    from dptab_core.pipeline.methods.image_first import run_image_first

    root, _, _, spec = real
    run_image_first(spec, out_dir=root / "image_first", work_dir=root / "image_first_work")
    return root / "image_first", root / "image_first_work"


@pytest.fixture(scope="module")
def non_private_run(real):
    from dptab_core.pipeline.methods.non_private import run_non_private

    root, _, _, spec = real
    run_non_private(spec, out_dir=root / "non_private", work_dir=root / "non_private_work")
    return root / "non_private"


def test_image_first_plan_drops_mean_pairs_and_doubles_the_dpsgd_epochs(real):
    _, _, _, spec = real
    schema = fake_schema()
    ours = image_first_plan(spec, schema=schema, n_rows=ROWS, channels=3)
    pipeline = build_plan(spec, schema=schema, n_rows=ROWS, channels=3)
    assert not ours.stages["mean_pairs"].enabled, "image-first has no record-conditioned mean pairs"
    assert ours.stages["dpsgd"].params["steps"] == 2 * pipeline.stages["dpsgd"].params["steps"], (
        "the DP-SGD stage must hold the generator's and the reader's steps"
    )
    assert ours.composed_epsilon <= 5.0, f"plan composes to {ours.composed_epsilon} > target 5"


def test_pairing_recovers_rows_a_perfect_reader_reads_even_in_blocks():
    rng = np.random.default_rng(1)
    codes = {"a": rng.integers(0, 3, size=60), "b": rng.integers(0, 2, size=60)}
    log_probs = {k: np.log(np.eye(size)[v] * 0.98 + 0.01) for (k, v), size in zip(codes.items(), (3, 2), strict=True)}
    for block in (60, 25):
        order = match_rows_to_images(log_probs, codes, rng=np.random.default_rng(0), block=block)
        assert sorted(order.tolist()) == list(range(60)), "every row must be used exactly once"
        matched = np.mean([(codes["a"][order] == codes["a"]) & (codes["b"][order] == codes["b"])])
        floor = 1.0 if block == 60 else 0.6
        assert matched >= floor, f"block {block}: only {matched:.2f} of images got a row they read as"


@pytest.mark.slow
def test_image_first_writes_a_release_the_evaluation_scores(real, image_first_run):
    root, table, images, _ = real
    out, _ = image_first_run
    syn_table, syn_images, schema, report, _ = load_synthetic_run(out)
    assert len(syn_table) == len(syn_images) > 0
    assert (out / "bundle.zip").is_file(), "image-first is a private release: it is bundled like the pipeline's"
    metrics = evaluate_arrays(
        table, images, syn_table, syn_images, schema, config=CONFIG, cache_dir=root / "cache"
    ).metrics
    assert 0 <= metrics["table"]["tvd_1way"] <= 1 and metrics["image"]["fd"] >= 0, metrics["table"]


@pytest.mark.slow
def test_image_first_ledger_composes_within_the_target_with_equal_generator_and_reader_steps(image_first_run):
    out, work = image_first_run
    report = json.loads((out / "privacy_report.json").read_text())
    entries = Ledger.load(work / "ledger.jsonl").entries
    dpsgd = [e for e in entries if e.stage == "dpsgd"]
    assert len(dpsgd) == 2 and dpsgd[0].steps == dpsgd[1].steps > 0, (
        f"expected one generator and one reader DP-SGD entry of equal steps, got {dpsgd}"
    )
    assert {e.stage for e in entries} == {"table", "dpsgd"}, "no mean pairs and no public data in this run"
    composed = compose_entries(entries, delta=report["target"]["delta"])
    assert composed <= report["target"]["epsilon"] + 1e-9, f"ledger composes to {composed} > target"
    assert report["spent"]["epsilon"] <= report["target"]["epsilon"] + 1e-9


@pytest.mark.slow
def test_non_private_run_is_scored_and_labelled_not_private_with_no_bundle(real, non_private_run):
    root, table, images, _ = real
    out = non_private_run
    syn_table, syn_images, schema, report, _ = load_synthetic_run(out)
    assert report["private"] is False and report["spent"]["epsilon"] is None and "NOT PRIVATE" in report["guarantee"]
    assert (out / "NOT_PRIVATE.txt").is_file() and not (out / "bundle.zip").exists(), (
        "real rows must never be packed as a release bundle"
    )
    assert "NOT PRIVATE" in (out / "privacy_report.md").read_text()
    real_codes, syn_codes = encode_table(table, schema), encode_table(syn_table, schema)
    assert all((real_codes[k] == syn_codes[k]).all() for k in real_codes), "the table must be the real rows"
    metrics = evaluate_arrays(
        table, images, syn_table, syn_images, schema, config=CONFIG, cache_dir=root / "cache"
    ).metrics
    assert metrics["table"]["tvd_1way"] == pytest.approx(0.0, abs=1e-12)
    assert metrics["privacy"]["claimed_epsilon"] is None


@pytest.mark.slow
def test_sweep_runs_non_private_once_with_no_epsilon_and_image_first_at_every_epsilon(real, tmp_path):
    _, table, images, spec = real
    calls: list[tuple[str, float | None]] = []

    def fake(name):
        def run(run_spec, *, out_dir, work_dir, progress, should_stop):
            epsilon = None if name == "non-private" else run_spec.plan_options["epsilon"]
            calls.append((name, epsilon))
            rows, pics = fake_pairs(80, seed=len(calls))
            write_synthetic_run(
                out_dir, rows.drop(columns="image"), pics, Schema.from_dict(run_spec.schema), epsilon=epsilon or 1.0
            )

        return run

    rows = run_sweep(
        spec,
        epsilons=[1.0, 10.0],
        baselines=["image-first", "non-private"],
        out_root=tmp_path,
        real_table=table,
        real_images=images,
        config=CONFIG,
        cache_dir=tmp_path / "cache",
        runners={"image-first": fake("image-first"), "non-private": fake("non-private")},
    )
    assert sorted(calls, key=str) == sorted(
        [("image-first", 1.0), ("image-first", 10.0), ("non-private", None)], key=str
    ), calls
    reference = [r for r in rows if r["method"] == "non-private"]
    assert len(reference) == 1, "the non-private upper bound is one reference row, not one per ε"
    assert reference[0]["epsilon"] is None and reference[0]["epsilon_spent"] is None
    assert reference[0]["guarantee"] == NO_GUARANTEE
    assert all(r["guarantee"] != NO_GUARANTEE for r in rows if r["method"] != "non-private")
    figure = metric_vs_epsilon_figure(rows, metric="table.tvd_1way")
    assert [t.name for t in figure.data] == ["image-first"], "only private methods are lines on the ε axis"
    assert any("NOT PRIVATE" in a.text for a in figure.layout.annotations), "the upper bound is a labelled line"
