"""Two synth runs and a sweep on one dataset: their combined spend in the CLI and the app; a third
run over the owner's cap is refused before any job (hence any stage) exists (issue 15, done-when)."""

from __future__ import annotations

import json

import pytest
from app_support import page
from test_pipeline_support import cli, make_demo, save_demo_schema, wait_for

from dptab_core.data.demo import demo_schema
from ui.state import StudioState

pytestmark = pytest.mark.slow
NAME = "Demo clinic"


@pytest.fixture(scope="module")
def spent(tmp_path_factory):
    """The demo (203 rows) after two table-only synth runs (ε = 3, 2) and a table-only sweep at ε = 1."""
    root = tmp_path_factory.mktemp("budget")
    demo, home = make_demo(root / "demo", rows=203), root / "home"
    schema = save_demo_schema(root / "schema.json")
    for i, eps in enumerate(("3", "2")):
        cli(
            "synth",
            "--csv",
            str(demo / "table.csv"),
            "--images",
            str(demo / "images"),
            "--schema",
            str(schema),
            "--epsilon",
            eps,
            "--table-only",
            "--table-settings",
            "fast",
            "--no-evaluate",
            "--dataset",
            NAME,
            "--out",
            str(root / f"out{i}"),
            home=home,
            check=True,
        )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DPTAB_HOME", str(home))
        from dptab_core.jobs import submit
        from dptab_core.pipeline import make_synth_spec
        from dptab_core.pipeline.sweep import sweep_job_spec

        synth = make_synth_spec(
            csv_path=demo / "table.csv",
            images_path=demo / "images",
            schema=demo_schema(),
            plan_options={},
            table_settings="fast",
        )
        job = submit(sweep_job_spec(synth, epsilons=[1.0], baselines=["table-only"]))
    wait_for(job.dir, lambda s: s["state"] in ("succeeded", "failed"), what="the sweep to end", timeout=600)
    assert job.status().state == "succeeded", f"the sweep failed: {job.status().error}\n{job.log_tail(30)}"
    return demo, home, root


def _book(home) -> dict:
    return json.loads(cli("budget", "--dataset", NAME, "--json", home=home, check=True).stdout)


def test_the_cli_shows_the_combined_spend_of_two_runs_and_a_sweep(spent):
    _, home, _ = spent
    book = _book(home)
    assert (book["jobs"], book["runs"]) == (3, 3), book
    assert [c["kind"] for c in book["charges"]] == ["synth", "synth", "sweep"]
    assert all(c["state"] == "settled" for c in book["charges"]), book["charges"]
    assert 3.0 < book["epsilon"] <= 6.0 + 1e-6, f"combined ε {book['epsilon']} not within (max, sum]"
    assert book["method"].startswith("Rényi DP composition of the 3 finished runs"), book["method"]
    text = cli("budget", "--dataset", NAME, home=home, check=True).stdout
    assert f"this dataset: ε = {book['epsilon']:.3g} (no cap set) spent over 3 runs" in text, text


def test_the_budget_page_and_the_sidebar_show_the_same_spend(spent, monkeypatch):
    demo, home, _ = spent
    monkeypatch.setenv("DPTAB_HOME", str(home))
    sentence = f"this dataset: ε = {_book(home)['epsilon']:.3g} (no cap set) spent over 3 runs"
    state = StudioState(
        dataset_name=NAME,
        csv_path=demo / "table.csv",
        images_path=demo / "images",
        schema=demo_schema(),
        n_rows=203,
        plan_options={"epsilon": 1.0, "delta": 1e-5},
    )
    at = page("pages/budget.py", state).run()
    assert not at.exception, at.exception
    assert any(sentence in m.value for m in at.markdown), [m.value for m in at.markdown]
    at = page("app.py", state).run()
    assert not at.exception, at.exception
    assert any(sentence in c.value for c in at.sidebar.caption), [c.value for c in at.sidebar.caption]


def test_a_third_run_over_the_cap_is_refused_before_any_job_exists(spent):
    demo, home, root = spent
    total = _book(home)["epsilon"]
    cli("budget", "--dataset", NAME, "--cap", f"{total + 1:.4f}", home=home, check=True)
    jobs_before = sorted((home / "jobs").iterdir())
    result = cli(
        "synth",
        "--csv",
        str(demo / "table.csv"),
        "--images",
        str(demo / "images"),
        "--schema",
        str(root / "schema.json"),
        "--epsilon",
        "3",
        "--table-only",
        "--table-settings",
        "fast",
        "--out",
        str(root / "out-refused"),
        home=home,
    )
    assert result.returncode == 2, f"exit {result.returncode}: {result.stderr[-2000:]}"
    for part in ("would spend ε = 3", f"cap {total + 1:.4g}", "Lower ε to at most", "raise the cap"):
        assert part in result.stderr, f"{part!r} missing from the refusal: {result.stderr}"
    assert sorted((home / "jobs").iterdir()) == jobs_before, "a job was created for a refused run"
    assert not (root / "out-refused").exists()
    assert _book(home)["runs"] == 3, "the refused run was charged"
