"""evaluate_arrays end to end on data with a known link, the HTML report, and the evaluate CLI."""

import json
import re

import numpy as np
import pytest
from eval_fakes import fake_pairs, fake_schema, write_real, write_synthetic_run

from dptab_core.cli import main
from dptab_core.eval import features
from dptab_core.eval.evaluate import DATA_OWNER_VIEW, EvalConfig, evaluate_arrays
from dptab_core.eval.features import FeatureConfig
from dptab_core.eval.report_html import render_report

CONFIG = EvalConfig(features=FeatureConfig(epochs=5, batch_size=64, image_size=16, width=16))
REQUIRED_KEYS = {
    "table": ["tvd_1way", "tvd_2way"],
    "image": ["fd", "tstr_accuracy"],
    "cross_modal": ["agreement", "agreement_normalised"],
    "privacy": ["nn_distance_ratio", "audit_epsilon_lower_bound"],
}


@pytest.fixture(autouse=True)
def fast_default_features(monkeypatch):
    """The CLI uses the default feature settings: make them the tests' small ones."""
    monkeypatch.setattr(features, "DEFAULT_FEATURE_CONFIG", CONFIG.features)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def real():
    return fake_pairs(200, seed=0)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One weight cache for the module: the evaluation CNN on the same real data trains once."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def copy_evaluation(real, cache):
    table, images = real
    return evaluate_arrays(
        table,
        images,
        table,
        images,
        fake_schema(),
        config=CONFIG,
        cache_dir=cache,
        claimed={"epsilon": 1.0, "delta": 1e-5},
    )


@pytest.mark.slow
def test_a_copy_of_the_real_data_scores_perfect_fidelity_and_fails_the_memorisation_check(copy_evaluation):
    m = copy_evaluation.metrics
    assert m["view"] == DATA_OWNER_VIEW
    assert m["table"]["tvd_1way"] == 0.0 and m["table"]["tvd_2way"] == 0.0
    assert "colour" in m["cross_modal"]["expressed_attributes"], m["cross_modal"]
    assert "group" not in m["cross_modal"]["expressed_attributes"], "group is never drawn in the images"
    assert m["cross_modal"]["agreement_normalised"] == pytest.approx(1.0, abs=0.1), m["cross_modal"]
    assert m["privacy"]["nn_distance_ratio"] < 0.05, "copied images must sit on their training images"
    assert m["privacy"]["claimed_epsilon"] == 1.0


@pytest.mark.slow
def test_images_paired_with_shuffled_rows_lose_the_link(real, cache):
    table, images = real
    shuffled = table.sample(frac=1.0, random_state=1).reset_index(drop=True)
    m = evaluate_arrays(table, images, shuffled, images, fake_schema(), config=CONFIG, cache_dir=cache).metrics
    assert m["cross_modal"]["agreement_normalised"] == pytest.approx(0.0, abs=0.15), m["cross_modal"]
    assert m["table"]["tvd_1way"] == 0.0, "shuffling rows keeps every marginal"


@pytest.mark.slow
def test_html_report_is_self_contained_with_plotly_inlined_once(copy_evaluation):
    page = render_report(copy_evaluation)
    assert not re.search(r"<script[^>]*\bsrc=", page), "the report must not load any script from elsewhere"
    assert not re.search(r"<link[^>]*\bhref=\"?https?:", page), "the report must not load stylesheets"
    assert page.count("Plotly.newPlot") >= 5, "the figures are missing"
    assert len(re.findall(r"plotly\.js v\d", page)) == 1, "plotly.js must be inlined exactly once"
    assert "not part of the DP release" in page


@pytest.mark.slow
def test_evaluate_cli_prints_every_required_key_and_writes_the_report(real, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DPTAB_HOME", str(tmp_path / "ws"))
    table, images = real
    csv, folder = write_real(tmp_path / "real", table.iloc[:80], images[:80])
    syn_table, syn_images = fake_pairs(60, seed=9)
    run = write_synthetic_run(
        tmp_path / "run",
        syn_table.drop(columns="image"),
        syn_images,
        fake_schema(),
        audit={"epsilon_lower_bound": 0.2, "confidence": 0.95},
    )
    code = main(
        [
            "evaluate",
            "--real-csv",
            str(csv),
            "--real-images",
            str(folder),
            "--synthetic",
            str(run),
            "--json",
            "--html",
            str(tmp_path / "report.html"),
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    for section, keys in REQUIRED_KEYS.items():
        for key in keys:
            assert key in out[section], f"evaluate --json lacks {section}.{key}"
    assert out["privacy"]["audit_epsilon_lower_bound"] == 0.2
    assert isinstance(out["image"]["fd"], float) and np.isfinite(out["image"]["fd"])
    assert (tmp_path / "report.html").stat().st_size > 100_000


def test_evaluate_cli_names_the_folder_when_it_is_not_a_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DPTAB_HOME", str(tmp_path / "ws"))
    code = main(
        [
            "evaluate",
            "--real-csv",
            str(tmp_path / "t.csv"),
            "--real-images",
            str(tmp_path),
            "--synthetic",
            str(tmp_path),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "synthetic.csv" in err and str(tmp_path) in err, err


@pytest.mark.slow
def test_evaluate_cli_runs_baselines_through_the_pipeline_and_charts_them(real, tmp_path, monkeypatch, capsys):
    import dataclasses

    from dptab_core.pipeline.methods import METHODS

    monkeypatch.setenv("DPTAB_HOME", str(tmp_path / "ws"))
    table, images = real
    csv, folder = write_real(tmp_path / "real", table.iloc[:80], images[:80])
    syn_table, syn_images = fake_pairs(60, seed=9)
    run = write_synthetic_run(tmp_path / "run", syn_table.drop(columns="image"), syn_images, fake_schema(), epsilon=2.0)
    specs = []

    def fake_pipeline(spec, *, out_dir, work_dir, progress, should_stop):
        specs.append(spec)
        syn_table, syn_images = fake_pairs(60, seed=len(specs))
        write_synthetic_run(
            out_dir, syn_table.drop(columns="image"), syn_images, fake_schema(), epsilon=spec.plan_options["epsilon"]
        )

    monkeypatch.setitem(METHODS, "dp-tabimage", dataclasses.replace(METHODS["dp-tabimage"], run=fake_pipeline))
    code = main(
        [
            "evaluate",
            "--real-csv",
            str(csv),
            "--real-images",
            str(folder),
            "--synthetic",
            str(run),
            "--json",
            "--baselines",
            "dp-tabimage,independent",
            "--html",
            str(tmp_path / "r.html"),
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert [(r["method"], r["epsilon"]) for r in out["baselines"]] == [("dp-tabimage", 2.0), ("independent", 2.0)]
    assert specs[0].csv_path == str(csv) and specs[0].plan_options["delta"] == 1e-5, "baselines run on the real data"
    assert "cross-modal agreement (normalised)" in (tmp_path / "r.html").read_text().split("Baselines and")[1]
