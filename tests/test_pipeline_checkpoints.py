"""Checkpoints and resume never let a run see or reuse noise it should not (issue 15, findings 6 and 8).

* a stage is marked done before anything it released is shown (no cancel-and-redraw cherry-picking);
* the ledger is rewritten atomically on resume;
* a fresh run in a reused folder never reads an earlier run's noisy results;
* plain-data checkpoints are arrays and JSON, never pickles; every ``torch.load`` is ``weights_only``.
"""

from __future__ import annotations

import ast
import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dptab_core.pipeline import checkpoints, stages
from dptab_core.pipeline.run import Run, run_stages
from dptab_core.privacy import Ledger

PACKAGE = Path(__file__).resolve().parents[1] / "dptab_core"


def test_the_semantic_querys_labels_are_shown_only_after_the_stage_is_marked_done(tmp_path, monkeypatch):
    import dptab_core.image.semantic as semantic
    from dptab_core.data.demo import demo_schema
    from dptab_core.pipeline import SynthSpec
    from dptab_core.privacy import plan_budget

    def fake_query(images, public_dir, *, ledger, **_):
        ledger.record(stage="semantic_query", mechanism="gaussian", label="votes", sensitivity=1.0, sigma=3.0)
        return semantic.SemanticQueryResult(
            selected_labels=["lesion_like"], noisy_votes=np.array([5.0]), labels=["lesion_like"]
        )

    def fake_load(run):
        run.plan = plan_budget(epsilon=5.0, delta=1e-5, n_rows=1000)
        run.images = np.zeros((4, 8, 8, 3), dtype=np.uint8)

    monkeypatch.setenv("DPTAB_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(semantic, "semantic_query", fake_query)
    work = tmp_path / "work"
    shown: list[tuple[str, bool]] = []

    def progress(stage, fraction, message="", epsilon_spent=None, **_):
        shown.append((message, checkpoints.is_done(work, "semantic_query")))

    spec = SynthSpec(
        csv_path="-",
        images_path="-",
        schema=demo_schema().to_dict(),
        plan_options={},
        public_dir=str(tmp_path),
        device="cpu",
    )
    run_stages(
        Run.start(spec, out_dir=tmp_path / "out", work_dir=work, progress=progress),
        [("load", fake_load), ("semantic_query", checkpoints.skip_if_done("semantic_query", stages.semantic_query))],
    )
    with_labels = [(m, done) for m, done in shown if "lesion_like" in m]
    assert with_labels, f"the chosen labels were never reported: {shown}"
    assert all(done for _, done in with_labels), f"labels shown before the stage was marked done: {with_labels}"


def test_resuming_rewrites_the_ledger_atomically(tmp_path, monkeypatch):
    ledger = Ledger(path=tmp_path / checkpoints.LEDGER_FILE)
    for stage in ("table", "dpsgd"):
        ledger.record(stage=stage, mechanism="zcdp", label=stage, rho=0.1)
    (tmp_path / "done").mkdir()
    (tmp_path / "done" / "table.done").write_text("done\n")
    before = (tmp_path / checkpoints.LEDGER_FILE).read_text()

    def crash(*args, **kwargs):
        raise OSError("power cut")

    monkeypatch.setattr("os.replace", crash)
    with pytest.raises(OSError, match="power cut"):
        checkpoints.resumable_ledger(tmp_path, resuming=True)
    assert (tmp_path / checkpoints.LEDGER_FILE).read_text() == before, "a crash while resuming shortened the ledger"
    monkeypatch.undo()
    kept = checkpoints.resumable_ledger(tmp_path, resuming=True)
    assert [e.stage for e in kept.entries] == ["table"]
    assert [e.stage for e in Ledger.load(tmp_path / checkpoints.LEDGER_FILE).entries] == ["table"]


def test_a_fresh_run_in_a_reused_folder_deletes_every_earlier_noisy_result(tmp_path):
    stale = [
        "mean_pairs.pkl",
        "mean_pairs.npz",
        "semantic_query.json",
        "synthetic_table.pkl",
        "synthetic_table.json",
        "synthetic_images.npy",
        "plan.json",
        "model_warmup.pt",
    ]
    for name in stale:
        (tmp_path / name).write_text("from an earlier run")
    checkpoints.resumable_ledger(tmp_path, resuming=False)
    left = [name for name in stale if (tmp_path / name).exists()]
    assert not left, f"a fresh run would read these from the earlier run: {left}"


def test_mean_pairs_and_tables_round_trip_without_pickle(tmp_path):
    from dptab_core.image.mean_pairs import MeanPairs
    from dptab_core.pipeline.checkpoints import load_mean_pairs, load_table, save_mean_pairs, save_table

    pairs = MeanPairs(
        conditions=np.ones((2, 3), np.float32),
        images=np.zeros((2, 1, 4, 4), np.float32),
        cells=[("skin type", 0, 12.5), ("a:b", 1, 3.0)],
        means={"skin type": np.ones((2, 16))},
        marginals={"skin type": np.array([0.4, 0.6])},
        usable={"skin type": np.array([True, False])},
        overall=np.zeros(16),
    )
    save_mean_pairs(tmp_path / "p.npz", pairs)
    back = load_mean_pairs(tmp_path / "p.npz")  # np.load(allow_pickle=False) inside
    assert back.cells == pairs.cells and np.array_equal(back.usable["skin type"], pairs.usable["skin type"])
    assert back.spread is None, "pairs released without a spread came back with one"
    with_spread = dataclasses.replace(pairs, spread=np.eye(3, dtype=np.float32))
    save_mean_pairs(tmp_path / "s.npz", with_spread)
    assert np.array_equal(load_mean_pairs(tmp_path / "s.npz").spread, with_spread.spread), "the spread was lost"
    table = pd.DataFrame({"code": ["01", None, "II"], "age": [30.5, np.nan, 52.0], "n": [1, 2, 3]})
    save_table(tmp_path / "t.json", table)
    assert load_table(tmp_path / "t.json").equals(table), "the table changed on the way through JSON"
    json.loads((tmp_path / "t.json").read_text())  # plain JSON


def _calls(name: str):
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == name:
                yield path.relative_to(PACKAGE.parent), node


def test_every_torch_load_passes_weights_only_true():
    loose = [
        f"{path}:{node.lineno}"
        for path, node in _calls("load")
        if ast.unparse(node.func.value) == "torch"
        and not any(k.arg == "weights_only" and ast.unparse(k.value) == "True" for k in node.keywords)
    ]
    assert not loose, f"torch.load without weights_only=True: {loose}"


def test_no_checkpoint_is_pickled():
    pickled = [
        f"{path}:{node.lineno}"
        for name in ("to_pickle", "read_pickle", "dump", "load")
        for path, node in _calls(name)
        if name in ("to_pickle", "read_pickle") or ast.unparse(node.func.value) == "pickle"
    ]
    assert not pickled, f"pickle still writes or reads checkpoints: {pickled}"


def test_the_table_synthesizers_noisy_results_are_shown_only_after_the_stage_is_done(tmp_path, monkeypatch):
    import dptab_core.table as table_pkg
    from dptab_core.data.demo import demo_schema
    from dptab_core.pipeline import SynthSpec
    from dptab_core.privacy import plan_budget

    def fake_synthesize(table, schema, *, progress, ledger, **_):
        ledger.record(stage="table", mechanism="zcdp", label="1-way", rho=0.1)
        progress(0.5, "AIM: round 7 (≤ 9 planned)")
        progress(0.99, "AIM: sampling 1987 rows")  # the noisy total
        return pd.DataFrame({"age": [30.0]})

    def fake_load(run):
        run.plan = plan_budget(epsilon=5.0, delta=1e-5, n_rows=1000)
        run.table = pd.DataFrame({"age": [41.0]})

    monkeypatch.setattr(table_pkg, "synthesize_table", fake_synthesize)
    work = tmp_path / "work"
    shown: list[tuple[str, bool]] = []

    def progress(stage, fraction, message="", epsilon_spent=None, **_):
        shown.append((message, checkpoints.is_done(work, "table")))

    spec = SynthSpec(csv_path="-", images_path="-", schema=demo_schema().to_dict(), plan_options={}, device="cpu")
    run_stages(
        Run.start(spec, out_dir=tmp_path / "out", work_dir=work, progress=progress),
        [("load", fake_load), ("table", checkpoints.skip_if_done("table", stages.table))],
    )
    early = [m for m, done in shown if not done and ("1987" in m or "round 7" in m)]
    assert not early, f"noisy results shown before the table stage was marked done: {early}"
    assert any("1987" in m for m, done in shown if done), f"the result is never shown: {shown}"
