"""DP-SGD under torchrun through the job runner (``synth --gpus 2 --device cpu``: 2 gloo processes).

The slow test runs a whole tiny background job; the fast ones check the launcher's failure and
cancel handling with stand-in commands, and that specs written before ``gpus`` existed still load.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest
from test_pipeline_support import (
    cli,
    progress_events,
    read_status,
    submit_tiny_background_synth,
    wait_for,
)

from dptab_core.errors import InputError
from dptab_core.jobs.context import JobCancelled
from dptab_core.pipeline import distributed_stage
from dptab_core.pipeline.spec import SynthSpec


def _gloo() -> None:
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_gloo_available()):
        pytest.skip("torch.distributed with the gloo backend is not available")


def _submit_on_two_gloo_processes(tmp_path: Path, *extra: str) -> tuple[Path, Path, Path]:
    """A tiny background ``synth --gpus 2 --device cpu`` job (latent family: a public folder is given)."""
    return submit_tiny_background_synth(tmp_path, "--gpus", "2", "--device", "cpu", *extra)


@pytest.mark.slow
def test_synth_gpus_2_on_cpu_runs_dpsgd_under_torchrun_and_its_ledger_equals_the_plan(tmp_path):
    """The latent family: its Gaussian's share of the DP-SGD steps runs on 2 processes (vmap engine, on
    the public encoder's latents), the decoder's share in the job's own process."""
    import torch

    _gloo()
    home, job, out = _submit_on_two_gloo_processes(tmp_path)
    status = wait_for(
        job, lambda s: s.get("state") in ("succeeded", "failed", "cancelled"), what="the job's end", timeout=300
    )
    assert status["state"] == "succeeded", f"job {status['state']}: {status.get('error')}\n" + (
        (job / "job.log").read_text()[-3000:] if (job / "job.log").exists() else ""
    )

    work = job / "checkpoints"
    plan = json.loads((work / "plan.json").read_text())["stages"]["dpsgd"]["params"]
    report = json.loads((out / "privacy_report.json").read_text())
    released = [e for e in report["ledger"] if e["stage"] == "dpsgd"]
    reported_steps = sum(e["calls"] * e["parameters"]["steps"] for e in released)
    assert reported_steps == plan["steps"], f"the privacy report's DP-SGD entries {released} differ from {plan}"
    ledger = [json.loads(line) for line in (work / "ledger.jsonl").read_text().splitlines()]
    dpsgd = [e for e in ledger if e["stage"] == "dpsgd"]
    assert len(dpsgd) == 2, f"expected the Gaussian's (distributed) and the decoder's DP-SGD entries, got {dpsgd}"
    for entry in dpsgd:
        got = (entry["noise_multiplier"], entry["sampling_rate"])
        assert got == (plan["noise_multiplier"], plan["sampling_rate"]), f"DP-SGD entry (σ, q) {got} vs plan {plan}"
    assert sum(e["steps"] for e in dpsgd) == plan["steps"], f"the entries' steps do not add up to the plan's {plan}"
    distributed, decoder = dpsgd
    assert distributed["details"]["world_size"] == 2 and distributed["details"]["backend"] == "gloo", distributed
    assert distributed["details"]["engine"] == "vmap", f"the latent Gaussian should run on vmap: {distributed}"
    assert decoder["details"]["model"] == "DecoderFineTune", f"the second phase should be the decoder's: {decoder}"
    assert report["spent"]["epsilon"] <= report["target"]["epsilon"] + 1e-9, f"overspent: {report['spent']}"

    before = torch.load(work / "model_warmup.pt", weights_only=True)
    after = torch.load(work / "model_dpsgd.pt", weights_only=True)
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert changed, "no parameter changed in DP-SGD on 2 processes"
    assert not any(k.startswith("autoencoder.encoder.") for k in changed), f"the public encoder moved: {changed}"
    assert not (work / distributed_stage.JOB_SUBDIR / "dpsgd_inputs").exists(), (
        "the copy of the sensitive pairs written for the ranks was not deleted"
    )


@pytest.mark.slow
def test_cancel_during_distributed_dpsgd_ends_the_ranks(tmp_path):
    _gloo()
    home, job, out = _submit_on_two_gloo_processes(tmp_path, "--preset-override", "dpsgd_steps=2000")
    wait_for(
        job,
        lambda s: s.get("stage") == "dpsgd"
        and any("DP-SGD step" in e["message"] for e in progress_events(job) if e["stage"] == "dpsgd"),
        what="a DP-SGD step on 2 processes",
        timeout=300,
    )
    ranks = _processes_naming(str(job / "checkpoints" / distributed_stage.JOB_SUBDIR))
    assert ranks, "no torchrun process names the job's folder while DP-SGD runs"
    cancelled = cli("jobs", "cancel", job.name, home=home)
    assert cancelled.returncode == 0, f"cancel failed:\n{cancelled.stderr}"
    assert read_status(job)["state"] == "cancelled", f"state after cancel: {read_status(job)}"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and [pid for pid in ranks if _alive(pid)]:
        time.sleep(0.2)
    assert not [pid for pid in ranks if _alive(pid)], "torchrun or a rank outlived the cancel"
    assert not out.exists(), "a cancelled job left an output folder"


def _processes_naming(text: str) -> list[int]:
    """The pids whose command line contains ``text`` (torchrun and its ranks get ``--job-dir``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline:
                found.append(int(entry.name))
    return found


class _FakeRun:
    """What the launcher's follow loop uses of a Run: report and should_stop."""

    def __init__(self, stop_after: float | None = None) -> None:
        self.events: list[tuple[str, float, str]] = []
        self.started = time.monotonic()
        self.stop_after = stop_after

    def should_stop(self) -> bool:
        return self.stop_after is not None and time.monotonic() - self.started > self.stop_after

    def report(self, stage: str, fraction: float, message: str = "", *, pending=None) -> None:
        if self.should_stop():
            raise JobCancelled(f"cancelled during {stage}")
        self.events.append((stage, fraction, message))


def _stand_in(monkeypatch, code: str) -> None:
    monkeypatch.setattr(
        distributed_stage, "torchrun_command", lambda job, *, nproc, backend: [sys.executable, "-c", code]
    )


def _follow(run, job: Path) -> int:
    return distributed_stage._launch_and_follow(
        run,
        job,
        nproc=2,
        backend="gloo",
        params={"sampling_rate": 0.25, "noise_multiplier": 1.0, "steps": 4},
        steps=4,
        read_progress=lambda _job: 0,
    )


def test_failed_ranks_return_their_exit_code_and_leave_their_log(tmp_path, monkeypatch):
    _stand_in(monkeypatch, "import sys; print('rank 1 failed: boom', file=sys.stderr); sys.exit(3)")
    assert _follow(_FakeRun(), tmp_path) == 3
    assert "boom" in distributed_stage._tail(tmp_path / distributed_stage.LOG_FILE)


def test_cancel_kills_the_launcher_process_group(tmp_path, monkeypatch):
    pid_file = tmp_path / "child.pid"
    # The launcher starts a child (as torchrun starts ranks); both must be gone after the cancel.
    _stand_in(
        monkeypatch,
        "import subprocess, sys, time; "
        "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        f"open({str(pid_file)!r}, 'w').write(str(c.pid)); time.sleep(60)",
    )
    with pytest.raises(JobCancelled):
        _follow(_FakeRun(stop_after=1.5), tmp_path)
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(child):
        time.sleep(0.1)
    assert not _alive(child), "the launcher's child (a rank) outlived the cancel"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_specs_without_gpus_load_with_one_and_new_specs_carry_it():
    spec = SynthSpec(csv_path="t.csv", images_path="i", schema={}, plan_options={}, gpus=2)
    job_spec = spec.to_job_spec()
    assert job_spec["gpus"] == 2
    old = {k: v for k, v in job_spec.items() if k != "gpus"}
    assert SynthSpec.from_job_spec(old).gpus == 1


def test_gpus_are_checked_before_a_job_starts():
    with pytest.raises(InputError, match="at least 1"):
        distributed_stage.check_gpus(0, "cpu")
    distributed_stage.check_gpus(2, "cpu")  # gloo processes on the CPU need no GPU
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) == "":
        with pytest.raises(InputError):
            distributed_stage.check_gpus(2, "cuda")


@pytest.mark.parametrize(("visible", "expected"), [(None, 3), ("0,2", 2), ("", 0), ("-1", 0), ("GPU-abc", 1)])
def test_visible_gpu_names_reads_nvidia_smi_and_cuda_visible_devices(tmp_path, monkeypatch, visible, expected):
    from dptab_core.image.device import visible_gpu_names

    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\n" + "".join(f"echo 'GPU {i}: NVIDIA H100 (UUID: GPU-{i})'\n" for i in range(3)))
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")
    if visible is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    names = visible_gpu_names()
    assert len(names) == expected, f"CUDA_VISIBLE_DEVICES={visible!r}: {names}"
    assert all(name == "NVIDIA H100" for name in names), names
