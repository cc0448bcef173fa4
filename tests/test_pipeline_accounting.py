"""The release stage refuses to write anything when the ledger does not match the plan."""

from __future__ import annotations

import pytest
from test_pipeline_support import make_demo

pytestmark = pytest.mark.slow


def test_ledger_differing_from_plan_stops_the_release_and_writes_nothing(tmp_path, monkeypatch):
    from dptab_core import stages
    from dptab_core.data.demo import demo_schema
    from dptab_core.errors import PrivacyAccountingError
    from dptab_core.pipeline import SynthSpec, run_pipeline

    monkeypatch.setenv("DPTAB_HOME", str(tmp_path / "home"))
    demo = make_demo(tmp_path / "demo")
    honest_schema_stage = stages.STAGES["schema"]

    def schema_with_an_unplanned_read(run):
        honest_schema_stage(run)
        run.ledger.record(stage="schema", mechanism="gaussian", label="an unplanned noisy count", sigma=1.0,
                          sensitivity=1.0)

    monkeypatch.setitem(stages.STAGES, "schema", schema_with_an_unplanned_read)
    spec = SynthSpec(csv_path=str(demo / "table.csv"), images_path=str(demo / "images"),
                     schema=demo_schema().to_dict(), plan_options={"epsilon": 10.0}, table_only=True,
                     table_settings="fast", reproducible_noise=True)
    out = tmp_path / "out"
    with pytest.raises(PrivacyAccountingError):
        run_pipeline(spec, out_dir=out, work_dir=tmp_path / "work")
    written = [p for p in out.rglob("*")] if out.exists() else []
    assert written == [], f"files were written despite the ledger mismatch: {written}"
