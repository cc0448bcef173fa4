"""Every metric card has a baseline and a verdict; collapsed images get the red near-copies verdict
(issues 16 and 13.3). The numbers come from the real evaluation code, not hand-written dicts."""

from __future__ import annotations

import json

import numpy as np
import pytest
from app_support import demo_home, demo_state, fake_job, finished_job_with_release, home, page  # noqa: F401
from eval_fakes import fake_pairs, fake_schema

from dptab_core.data.ingest import load_paired_dataset
from dptab_core.eval.evaluate import EvalConfig, evaluate_arrays, evaluate_table_only
from dptab_core.eval.features import FeatureConfig
from dptab_core.eval.report_html import render_report
from dptab_core.eval.verdicts import LEVELS, metric_verdicts
from dptab_core.release import write_release
from ui.safe_text import md

RESULTS = "pages/results.py"
CONFIG = EvalConfig(features=FeatureConfig(epochs=5, batch_size=64, image_size=16, width=16))
NEAR_COPIES = "near-copies of an average"


def summary_texts(at) -> str:
    return " ".join(
        str(e.value) for kind in ("markdown", "error", "warning", "caption", "info") for e in getattr(at, kind)
    )


def table_only_job_guessing_the_majority():
    """A finished table-only release whose target column always holds the real majority value."""
    state = demo_state()
    real = load_paired_dataset(state.csv_path, state.images_path, state.schema)
    synthetic = real.table.sample(400, random_state=0).reset_index(drop=True)
    target = evaluate_table_only(real.table, synthetic, state.schema)["table"]["tstr"]["target"]  # from real data only
    synthetic[target] = real.table[target].mode()[0]
    columns = [c.name for c in state.schema.synthesized_columns()]
    job = fake_job("succeeded")
    write_release(
        job.output_path,
        table=synthetic[columns],
        images=None,
        image_column="image",
        schema_dict=state.schema.to_dict(),
        privacy_report={"target": {"epsilon": 3.0, "delta": 1e-5}},
        privacy_report_md="# Privacy report",
    )
    metrics = evaluate_table_only(real.table, synthetic, state.schema, claimed={"epsilon": 3.0})
    job.owner_view_path.mkdir()
    (job.owner_view_path / "evaluation.json").write_text(json.dumps(metrics))
    return job, metrics


@pytest.mark.usefixtures("home")
def test_a_table_only_release_that_only_guesses_the_majority_is_called_no_better_than_guessing():
    job, metrics = table_only_job_guessing_the_majority()
    tstr = metrics["table"]["tstr"]
    assert tstr["synthetic"] == pytest.approx(tstr["majority"]), tstr
    assert tstr["real"] > tstr["majority"] + 0.05, f"the chosen target must be one real rows predict: {tstr}"
    at = page(RESULTS, demo_state(job_id=job.id)).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    words = summary_texts(at)
    assert md("no better than guessing") in words, words
    assert md(f"always guessing {tstr['majority_label']!r}") in words, "the card must name the majority baseline"
    assert "table-only release" in words


@pytest.mark.usefixtures("home")
def test_every_card_shows_a_baseline_and_a_verdict():
    job = finished_job_with_release()
    metrics = {
        "table": {
            "tvd_1way": 0.02,
            "tvd_2way": 0.3,
            "baselines": {"tvd_1way_uniform": 0.3, "tvd_2way_independent": 0.2},
            "tstr": {"target": "diagnosis", "synthetic": 0.6, "real": 0.7, "majority": 0.4, "majority_label": "nevus"},
        },
        "image": {
            "precision": 0.5,
            "recall": 0.05,
            "variety": 0.35,
            "real_reference": {"precision": 0.8, "recall": 0.8},
        },
        "cross_modal": {"agreement_normalised": 1.197},
        "privacy": {"nn_distance_ratio": 0.794},
    }
    (job.owner_view_path / "evaluation.json").write_text(json.dumps(metrics))
    verdicts = metric_verdicts(metrics)
    assert len(verdicts) == 8 and all(v.baseline and v.level in LEVELS and v.meaning for v in verdicts)
    by_key = {v.key: v for v in verdicts}
    assert by_key["tvd_2way"].level == "red flag", "a 2-way TVD above the independent-columns baseline"
    assert by_key["link"].shown == "120%" and "Above 100 %" in by_key["link"].meaning, "honest scale above 1"
    assert by_key["memorisation"].level == "weak"
    at = page(RESULTS, demo_state(job_id=job.id)).run()
    assert not at.exception, at.exception
    words = summary_texts(at)
    for v in verdicts:
        assert (md(v.title) if v.key == "tstr" else v.title) in [m.label for m in at.metric], v.title
        assert md(v.headline) in words and md(v.baseline) in words, v.key
    assert md(NEAR_COPIES) not in words, "variety 0.35 is weak, not collapsed"


@pytest.fixture(scope="module")
def collapsed_evaluation(tmp_path_factory):
    """The real evaluation of images collapsed to one image per record value (colour, size)."""
    table, images = fake_pairs(240, seed=0)
    collapsed = images.copy()
    for _, rows in table.groupby(["colour", "size"]).groups.items():
        collapsed[np.asarray(rows)] = images[np.asarray(rows)[0]]
    return evaluate_arrays(
        table, images, table, collapsed, fake_schema(), config=CONFIG, cache_dir=tmp_path_factory.mktemp("cache")
    )


@pytest.mark.slow
@pytest.mark.usefixtures("one_torch_thread")
def test_collapsed_images_get_the_red_near_copies_verdict_in_the_report(collapsed_evaluation):
    m = collapsed_evaluation.metrics
    assert m["image"]["variety"] < 0.05, m["image"]
    html = render_report(collapsed_evaluation)
    assert "id='variety-warning'" in html and NEAR_COPIES in html
    assert "class='red'" in html


@pytest.mark.slow
@pytest.mark.usefixtures("one_torch_thread", "home")
def test_collapsed_images_get_the_red_near_copies_verdict_on_the_summary(collapsed_evaluation):
    job = finished_job_with_release()
    (job.owner_view_path / "evaluation.json").write_text(json.dumps(collapsed_evaluation.metrics))
    at = page(RESULTS, demo_state(job_id=job.id)).run()
    assert not at.exception, at.exception
    assert any(md(NEAR_COPIES) in e.value for e in at.error), [e.value for e in at.error]


@pytest.mark.usefixtures("home")
def test_the_images_tab_shows_at_least_eight_synthetic_images_per_value():
    job = finished_job_with_release()
    at = page(RESULTS, demo_state(job_id=job.id)).run()
    grid = json.loads(at.get("plotly_chart")[3].proto.spec)
    z = grid["data"][1]["z"]  # the synthetic side
    width = int(str(z["shape"]).split(",")[1]) if isinstance(z, dict) else len(z[0])
    tile = demo_state().schema.image_size
    assert width >= 8 * tile, f"synthetic grid is {width} px wide: fewer than 8 images of {tile} px per value"


def test_a_target_real_rows_cannot_predict_is_cannot_judge_not_a_verdict():
    from dptab_core.eval.verdicts import tstr_verdict

    barely = tstr_verdict(
        {"target": "sex", "synthetic": 0.52, "real": 0.52, "majority": 0.50, "majority_label": "female"}, n_test=60
    )
    assert barely.headline == "cannot judge" and barely.level == "weak", barely
    clear = tstr_verdict(
        {"target": "dx", "synthetic": 0.73, "real": 0.85, "majority": 0.73, "majority_label": "nv"}, n_test=400
    )
    assert clear.headline == "no better than guessing" and clear.level == "red flag", clear


def test_more_variety_than_real_photos_is_weak_not_good():
    from dptab_core.eval.verdicts import variety_verdict

    assert variety_verdict(1.37).level == "weak" and variety_verdict(0.8).level == "good"
    assert variety_verdict(0.1).level == "red flag"


def test_an_older_evaluation_without_the_majority_baseline_says_so():
    from dptab_core.eval.verdicts import tstr_verdict

    old = tstr_verdict({"synthetic": 0.61, "real": 0.7})
    assert old.headline == "no baseline recorded" and "0%" not in old.meaning, old
