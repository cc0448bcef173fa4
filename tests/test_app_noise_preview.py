"""The Budget page's table-noise picture shows the σ the chosen synthesizer really draws (issue 16).

The app's own plan (``ui.budget_view.make_plan``) and the app's own job spec (``ui.job_view.synth_spec``)
run the pipeline's real load → schema → table stages; the preview must match the σ of the 1-way
measurements the table stage records in its ledger, within 5 %, for AIM and for MST.
"""

from __future__ import annotations

import json

import pytest
from app_support import demo_home, demo_state, home  # noqa: F401 (fixtures)

from dptab_core.pipeline import SynthSpec
from dptab_core.pipeline.checkpoints import LEDGER_FILE
from dptab_core.pipeline.methods import dp_tabimage
from dptab_core.pipeline.run import Run, run_stages
from ui import budget_view as bv
from ui.job_view import synth_spec

pytestmark = [pytest.mark.usefixtures("home"), pytest.mark.slow]
OPTIONS = bv.plan_options(epsilon=3.0, delta=1e-6, shares={}, epochs=4, batch_size=256, semantic_query=False)


@pytest.mark.parametrize("mechanism", ["aim", "mst"])
def test_the_table_noise_preview_matches_the_ledger_sigma_of_a_real_table_run(mechanism, tmp_path):
    state = demo_state(preset="quick", public_dir=None)
    plan = bv.make_plan(OPTIONS, state)
    preview = bv.one_way_sigma(plan, n_columns=len(state.schema.synthesized_columns()), mechanism=mechanism)

    spec = SynthSpec.from_job_spec(
        {
            **synth_spec(state, preset="quick", device="cpu", table_mechanism=mechanism),
            "plan_options": OPTIONS,
            "evaluate": False,
        }
    )
    first_steps = [(n, f) for n, f in dp_tabimage.steps(spec) if n in ("load", "schema", "table")]
    run_stages(
        Run.start(spec, out_dir=tmp_path / "out", work_dir=tmp_path / "work"), first_steps
    )  # the full run's plan

    run_plan = json.loads((tmp_path / "work" / "plan.json").read_text())
    assert run_plan["stages"]["table"]["params"]["rho"] == pytest.approx(plan.stages["table"].params["rho"])
    entries = [json.loads(line) for line in (tmp_path / "work" / LEDGER_FILE).read_text().splitlines()]
    one_ways = [e["sigma"] for e in entries if e["stage"] == "table" and "1-way" in e["label"]]
    assert one_ways, [e["label"] for e in entries]
    assert max(abs(s / preview - 1) for s in one_ways) < 0.05, (mechanism, preview, one_ways)
