"""The Train page's "GPUs for DP-SGD": asked only when more than one GPU is visible, sent as ``SynthSpec.gpus``."""

from __future__ import annotations

import pytest
from app_support import demo_home, demo_state, fake_job, home, page  # noqa: F401 (fixtures used by name)

from dptab_core.pipeline import SynthSpec
from ui.budget_view import plan_options
from ui.device import DeviceInfo

pytestmark = pytest.mark.usefixtures("home")
TRAIN = "pages/train.py"
PLAN = plan_options(epsilon=3.0, delta=1e-5, shares={}, epochs=2, batch_size=256, semantic_query=False)


def _launch(monkeypatch: pytest.MonkeyPatch, device: DeviceInfo, gpus: int | None) -> tuple[object, list[dict]]:
    submitted: list[dict] = []

    def submit(spec: dict) -> object:
        submitted.append(spec)
        return fake_job("running")

    monkeypatch.setattr("dptab_core.jobs.submit", submit)
    monkeypatch.setattr("ui.device.detect_device", lambda: device)
    at = page(TRAIN, demo_state(plan_options=PLAN)).run()
    assert not at.exception, at.exception
    if gpus is not None:
        at.number_input(key="dpsgd_gpus").set_value(gpus).run()
    at.button(key="launch").click().run()
    assert not at.exception, at.exception
    assert len(submitted) == 1, f"expected one submitted job, got {len(submitted)}"
    return at, submitted


def test_with_two_gpus_the_page_asks_and_the_choice_reaches_the_job_spec(monkeypatch):
    _, submitted = _launch(monkeypatch, DeviceInfo("cuda", "GPU — H100 (+1 more)", gpus=2), gpus=2)
    assert SynthSpec.from_job_spec(submitted[0]).gpus == 2, f"spec has gpus={submitted[0].get('gpus')!r}"


def test_with_one_gpu_or_none_the_page_does_not_ask_and_runs_on_one(monkeypatch):
    for device in (DeviceInfo("cuda", "GPU — H100", gpus=1), DeviceInfo("cpu", "CPU")):
        at = page(TRAIN, demo_state(plan_options=PLAN))
        monkeypatch.setattr("ui.device.detect_device", lambda device=device: device)
        at.run()
        assert not at.exception, at.exception
        assert not [w for w in at.number_input if w.key == "dpsgd_gpus"], f"GPUs asked on {device.label}"
    _, submitted = _launch(monkeypatch, DeviceInfo("cpu", "CPU"), gpus=None)
    assert SynthSpec.from_job_spec(submitted[0]).gpus == 1
