"""The ε explorer: the planner's answer for every ε with the current plan marked; sweep results when present."""

from __future__ import annotations

import json

import pytest
from app_support import demo_home, demo_state, fake_job, home, page  # noqa: F401 (fixtures used by name)

pytestmark = pytest.mark.usefixtures("home")
EXPLORER = "pages/explorer.py"


def test_every_epsilon_of_the_scale_is_planned_and_noise_falls_as_epsilon_grows():
    at = page(EXPLORER, demo_state(plan_options={"epsilon": 5.0})).run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert len(table) >= 10, f"only {len(table)} ε values planned"
    noise = table["DP-SGD noise multiplier"].tolist()
    assert noise == sorted(noise, reverse=True), f"DP-SGD noise does not fall with ε: {noise}"
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert chart["layout"]["shapes"][0]["x0"] == 5.0, "the current plan's ε is not marked"
    assert any("No ε-sweep" in i.value for i in at.info)


def test_a_finished_sweep_job_is_charted():
    job = fake_job("succeeded")
    spec = json.loads(job.spec_path.read_text())
    job.spec_path.write_text(json.dumps({**spec, "kind": "sweep"}))
    job.output_path.mkdir(parents=True)
    rows = [{"method": "dp-tabimage", "epsilon": e, "tvd_2way": 0.3 / e} for e in (1, 3, 10)]
    (job.output_path / "sweep.json").write_text(json.dumps({"rows": rows}))
    at = page(EXPLORER, demo_state()).run()
    assert not at.exception, at.exception
    assert at.selectbox(key="explorer_metric").options == ["tvd_2way"]
    assert len(at.get("plotly_chart")) == 2
