"""The release stage refuses to write anything when the ledger does not match the plan."""

from __future__ import annotations

import pytest
from test_pipeline_support import make_demo

pytestmark = pytest.mark.slow


def test_ledger_differing_from_plan_stops_the_release_and_writes_nothing(tmp_path, monkeypatch):
    from dptab_core.data.demo import demo_schema
    from dptab_core.errors import PrivacyAccountingError
    from dptab_core.pipeline import SynthSpec, run_pipeline, stages

    monkeypatch.setenv("DPTAB_HOME", str(tmp_path / "home"))
    demo = make_demo(tmp_path / "demo")

    def table_spending_twice_its_plan(run):  # a synthesizer that measured more than it was given
        rho = run.plan.stages["table"].params["rho"]
        run.ledger.record(stage="table", mechanism="zcdp", label="marginals measured twice", rho=2 * rho)

    monkeypatch.setitem(stages.STAGES, "table", table_spending_twice_its_plan)
    spec = SynthSpec(
        csv_path=str(demo / "table.csv"),
        images_path=str(demo / "images"),
        schema=demo_schema().to_dict(),
        plan_options={"epsilon": 10.0},
        table_only=True,
        reproducible_noise=True,
    )
    out = tmp_path / "out"
    with pytest.raises(PrivacyAccountingError, match="table"):
        run_pipeline(spec, out_dir=out, work_dir=tmp_path / "work")
    written = [p for p in out.rglob("*")] if out.exists() else []
    assert written == [], f"files were written despite the ledger mismatch: {written}"
