"""A dataset's privacy budget: every job that reads it is charged, the total composes, the cap refuses.

Fast tests on the books themselves (no training); ``test_dataset_budget_e2e.py`` runs real jobs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from jobfuncs import isolated_store, kill_leftover_workers, wait_for_stage, wait_for_state

from dptab_core.jobs import cancel, submit
from dptab_core.privacy import dataset_budget as db


@pytest.fixture
def data(tmp_path, monkeypatch) -> tuple[Path, Path]:
    """A tiny CSV + image folder (the budget reads bytes only), in a fresh workspace."""
    monkeypatch.setenv("DPTAB_HOME", str(tmp_path / "home"))
    folder = tmp_path / "data"
    (folder / "images").mkdir(parents=True)
    (folder / "table.csv").write_text("age,image\n30,a.png\n41,b.png\n")
    for name in ("a.png", "b.png"):
        (folder / "images" / name).write_bytes(b"\x89PNG fake " + name.encode())
    return folder / "table.csv", folder / "images"


def _synth(data, epsilon: float, **extra) -> dict:
    csv, images = data
    return {
        "kind": "synth",
        "csv_path": str(csv),
        "images_path": str(images),
        "plan_options": {"epsilon": epsilon, "delta": 1e-6},
        **extra,
    }


def _charge(spec: dict, job_id: str) -> None:
    with db.admitting(spec) as charge:
        charge(job_id)


def test_the_fingerprint_follows_the_content_not_the_path(data, tmp_path):
    csv, images = data
    moved = tmp_path / "moved"
    shutil.copytree(csv.parent, moved)
    assert db.fingerprint(moved / "table.csv", moved / "images") == db.fingerprint(csv, images)
    (moved / "images" / "b.png").write_bytes(b"\x89PNG another person")
    assert db.fingerprint(moved / "table.csv", moved / "images") != db.fingerprint(csv, images)


def test_two_runs_and_a_sweep_add_up_under_the_confirmed_name(data):
    _charge(_synth(data, 5.0, dataset_name="Clinic A"), "job-1")
    _charge(_synth(data, 3.0), "job-2")
    sweep = {
        "kind": "sweep",
        "synth": _synth(data, 1.0),
        "epsilons": [1.0, 2.0],
        "baselines": ["dp-tabimage", "independent", "non-private"],
    }
    _charge(sweep, "job-3")
    spent = db.spend_of(*data)
    assert (spent.name, spent.jobs, spent.runs) == ("Clinic A", 3, 4), spent
    assert spent.epsilon == pytest.approx(5 + 3 + 1 + 2), "reservations add by basic composition"
    assert spent.delta == pytest.approx(4e-6) and "basic composition" in spent.method
    assert spent.non_private_runs == 1, "the non-private reference is listed, not counted as ε"
    assert spent.sentence() == "this dataset: ε = 11 (no cap set) spent over 4 runs"


def test_a_job_over_the_cap_is_refused_with_the_numbers_and_the_way_out(data):
    _charge(_synth(data, 5.0), "job-1")
    _charge(_synth(data, 3.0), "job-2")
    db.set_cap(db.fingerprint(*data), 10.0)
    with pytest.raises(db.BudgetCapError) as refused:
        _charge(_synth(data, 4.0), "job-3")
    message = str(refused.value)
    for part in ("ε = 4", "spent ε = 8", "cap 10", "ε = 12", "Lower ε to at most 2", "raise the cap"):
        assert part in message, f"{part!r} missing from: {message}"
    assert [c.job_id for c in db.load_book(db.fingerprint(*data)).charges] == ["job-1", "job-2"]
    _charge(_synth(data, 2.0), "job-4")  # exactly what is left still fits


def _finished_run(folder: Path, *, epsilon: float, sigma: float) -> None:
    folder.mkdir(parents=True)
    (folder / "plan.json").write_text(json.dumps({"epsilon": epsilon, "delta": 1e-6}))
    entry = {"stage": "table", "mechanism": "gaussian", "label": "1-way", "sensitivity": 1.0, "sigma": sigma}
    (folder / "ledger.jsonl").write_text(json.dumps(entry) + "\n")


def test_settled_runs_compose_in_renyi_dp_tighter_than_adding_epsilons(data, tmp_path):
    from dptab_core.privacy.accountant import compose_entries
    from dptab_core.privacy.ledger import LedgerEntry

    single = compose_entries(
        [LedgerEntry(stage="table", mechanism="gaussian", label="x", sensitivity=1.0, sigma=2.0)], delta=1e-6
    )
    for i in range(3):
        _charge(_synth(data, single), f"job-{i}")
        _finished_run(tmp_path / f"job-{i}" / "checkpoints", epsilon=single, sigma=2.0)
        assert db.settle(_synth(data, single), f"job-{i}", [tmp_path / f"job-{i}"])
    spent = db.spend_of(*data)
    assert spent.epsilon < 3 * single * 0.9, f"RDP of three runs should beat 3 × {single:.3g}: {spent}"
    assert spent.method.startswith("Rényi DP composition of the 3 finished runs"), spent.method
    assert spent.delta == pytest.approx(3e-6)


def test_cancelling_a_queued_job_voids_its_charge_but_a_started_one_keeps_it(data, tmp_path, monkeypatch):
    store = isolated_store(tmp_path, monkeypatch)
    release = tmp_path / "release"
    try:
        first = submit(
            {"entry": "jobfuncs:wait_for_release", "release": str(release), **_synth(data, 2.0)}, store=store
        )
        wait_for_stage(first, "waiting")
        queued = submit({"entry": "jobfuncs:write_outputs", **_synth(data, 3.0)}, store=store)
        cancel(queued.id, store=store)
        cancel(first.id, store=store)
        wait_for_state(first, "cancelled")
    finally:
        kill_leftover_workers(store)
    states = {c.job_id: c.state for c in db.load_book(db.fingerprint(*data)).charges}
    assert states == {first.id: "reserved", queued.id: "void"}, states
    assert db.spend_of(*data).epsilon == pytest.approx(2.0)


def test_a_book_that_cannot_be_read_refuses_new_charges_instead_of_starting_from_zero(data):
    _charge(_synth(data, 5.0), "job-1")
    path = next((Path(db.workspace_dir(db.BOOKS_DIR))).glob("*/budget.json"))
    path.write_text(path.read_text()[:20])
    with pytest.raises(db.InputError, match="cannot be read"):
        _charge(_synth(data, 1.0), "job-2")


def test_a_background_submission_over_the_cap_creates_no_job(data, tmp_path, monkeypatch):
    store = isolated_store(tmp_path, monkeypatch)
    _charge(_synth(data, 5.0), "job-1")
    db.set_cap(db.fingerprint(*data), 6.0)
    with pytest.raises(db.BudgetCapError, match="cap 6"):
        submit({"entry": "jobfuncs:write_outputs", **_synth(data, 2.0)}, store=store)
    assert store.list() == [] and store.broken() == [], "a refused job left a folder behind"
