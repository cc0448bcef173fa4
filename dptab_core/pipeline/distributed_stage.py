"""The ``dpsgd`` stage on several processes: :func:`run_distributed_dpsgd` launches ``torchrun``.

When a spec asks for ``gpus > 1``, the job worker writes what the ranks need into
``work_dir/dpsgd_distributed/`` (the plan, the warmed-up model, the sensitive pairs: the same folder
layout :mod:`dptab_core.image.distributed` documents), runs ``python -m torch.distributed.run
--nproc_per_node N -m dptab_core.image.distributed`` in its own process group, follows rank 0's
progress file, and copies rank 0's one ``dpsgd`` ledger entry into the run's ledger. On the CPU
(``device`` cpu) the ranks talk over gloo, on GPUs over NCCL, one GPU per rank.

A cancel sends SIGTERM to the launcher's process group (``torchrun`` then ends its ranks, which run
in process groups of their own), SIGKILL if it lingers; a rank whose launcher is gone (the worker
was killed outright) stops at its next step. A failed launch fails the stage with the ranks' log tail.
Whatever the ranks recorded (rank 0 records the steps it took even when it fails) reaches the run's
ledger, so a failed or cancelled run never hides spent steps. The sensitive pairs written for the
ranks are deleted when they finish.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dptab_core.errors import DPTabError, InputError
from dptab_core.pipeline.planning import spec_preset
from dptab_core.privacy.ledger import Ledger, dpsgd_so_far

if TYPE_CHECKING:
    from dptab_core.pipeline.run import Run

log = logging.getLogger(__name__)

JOB_SUBDIR = "dpsgd_distributed"
LOG_FILE = "torchrun.log"
POLL_S = 0.5
KILL_GRACE_S = 5.0
"""Below the job runner's cancel grace (10 s), after which it kills the worker itself."""


class DistributedRunError(DPTabError):
    """The ``torchrun`` ranks of the DP-SGD stage exited with an error."""


def check_gpus(gpus: int, device: str) -> None:
    """An :class:`InputError` when ``gpus`` processes cannot run on ``device`` (CUDA needs one GPU each)."""
    if gpus < 1:
        raise InputError(f"gpus must be at least 1, got {gpus}", where="gpus")
    if gpus == 1 or device == "cpu":
        return
    import torch

    visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if visible == 0 and device == "auto":
        raise InputError(
            f"{gpus} GPUs were asked for DP-SGD but torch sees no CUDA GPU",
            where="gpus",
            hint="Use --gpus 1, or --device cpu to run the processes on the CPU (gloo).",
        )
    if visible < gpus:
        raise InputError(
            f"{gpus} GPUs were asked for DP-SGD but torch sees {visible}",
            where="gpus",
            hint=f"Use --gpus {max(visible, 1)} or fewer.",
        )


def torchrun_command(job_dir: Path, *, nproc: int, backend: str) -> list[str]:
    """The command line that runs the ranks (``torch.distributed.run`` is what ``torchrun`` calls)."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        "-m",
        "dptab_core.image.distributed",
        "--job-dir",
        str(job_dir),
        "--backend",
        backend,
    ]


def run_distributed_dpsgd(run: Run, model: Any, conditions: Any, params: dict[str, Any], *, lr: float) -> None:
    """Fine-tune ``model`` under ``params`` (the plan's DP-SGD parameters, ``steps`` possibly fewer: the
    model's share of the stage) on ``run.spec.gpus`` processes; load the result into it.

    ``conditions`` are the encoded records of the real rows. Exactly one ``dpsgd`` entry (rank 0's)
    is added to ``run.ledger``: the plan's rate and noise multiplier and the steps the ranks took.
    """
    import torch

    from dptab_core.image.distributed import MODEL_IN, MODEL_OUT, export_inputs, read_progress
    from dptab_core.pipeline.checkpoints import PLAN_FILE

    spec = run.spec
    check_gpus(spec.gpus, spec.device)
    backend = "nccl" if run.torch_device().type == "cuda" else "gloo"
    job = run.work_dir / JOB_SUBDIR
    shutil.rmtree(job, ignore_errors=True)
    job.mkdir(parents=True)
    plan = json.loads((run.work_dir / PLAN_FILE).read_text(encoding="utf-8"))
    plan["stages"]["dpsgd"]["params"] = dict(params)  # the ranks read their steps from here
    (job / PLAN_FILE).write_text(json.dumps(plan, indent=2), encoding="utf-8")
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, job / MODEL_IN)
    export_inputs(
        job,
        run.real_images(),
        conditions,
        preset=spec_preset(spec),
        lr=lr,
        seed=spec.seed + 7919 if spec.reproducible_noise else None,
    )
    steps = int(params["steps"])
    run.report("dpsgd", 0.0, f"DP-SGD on {spec.gpus} processes ({backend}) under torchrun")
    try:
        code = _launch_and_follow(
            run, job, nproc=spec.gpus, backend=backend, params=params, steps=steps, read_progress=read_progress
        )
    finally:
        # Whatever rank 0 recorded was spent, finished or not: it joins the run's ledger.
        for entry in Ledger.load(job / "ledger.jsonl").entries:
            run.ledger.record(**entry.to_dict())
        shutil.rmtree(job / "dpsgd_inputs", ignore_errors=True)  # no extra copy of the sensitive images
    if code != 0 or not (job / MODEL_OUT).exists():
        tail = _tail(job / LOG_FILE)
        raise DistributedRunError(
            f"DP-SGD under torchrun on {spec.gpus} processes failed (exit code {code}); "
            f"the ranks' log ends with:\n{tail}"
        )
    model.load_state_dict(torch.load(job / MODEL_OUT, map_location="cpu", weights_only=True))


def _launch_and_follow(
    run: Run, job: Path, *, nproc: int, backend: str, params: dict[str, Any], steps: int, read_progress: Any
) -> int:
    package_root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    if backend == "gloo":
        env.setdefault("OMP_NUM_THREADS", "1")
    with open(job / LOG_FILE, "wb") as out:
        proc = subprocess.Popen(
            torchrun_command(job, nproc=nproc, backend=backend),
            cwd=job,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        seen = 0
        while proc.poll() is None:
            time.sleep(POLL_S)
            done = read_progress(job)
            if done != seen or run.should_stop():
                seen = done
                run.report(
                    "dpsgd",
                    done / max(steps, 1),
                    f"DP-SGD step {done}/{steps} on {nproc} processes",
                    pending=[dpsgd_so_far(params, done)],
                )  # raises JobCancelled on a cancel
        return int(proc.returncode)
    finally:
        if proc.poll() is None:
            _kill_group(proc)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the launcher and its ranks (their own process group), SIGKILL if they linger."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=KILL_GRACE_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return text[-chars:].strip() or "(empty log)"
