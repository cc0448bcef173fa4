"""Multi-process DP-SGD (dptab_core.image.distributed) under torchrun, 2 CPU processes on gloo.

The CUDA/NCCL path is the same code with another backend; it needs a GPU machine to test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (dist.is_available() and dist.is_gloo_available()),
        reason="torch.distributed with the gloo backend is not available",
    ),
]

N_ROWS, COND_DIM, STEPS, RATE, SIGMA, CLIP, SEED = 64, 5, 3, 1 / 32, 1.1, 1.0, 3
TIMEOUT_S = 120


def _torchrun(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)


@pytest.fixture(scope="module", params=["bookkeeping", "opacus"])
def finished_job(tmp_path_factory, request) -> Path:
    """A tiny job folder (plan, warm-up model, 64 images 16×16) run through 2-process DP-SGD, on the
    CVAE's own engine (bookkeeping, the default) and on Opacus' distributed optimizer.

    At rate 1/32 each rank expects one row a step, and with this seed each rank draws an empty batch
    in a different step: the run only finishes if an empty rank still joins that step's all-reduce.
    """
    from dptab_core.image.distributed import export_inputs, poisson_shard_batch, rank_generators
    from dptab_core.image.models import build_model
    from dptab_core.image.presets import get_preset

    job = tmp_path_factory.mktemp("job")
    preset = replace(get_preset("quick", has_public=False), width=8, latent_dim=4)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(N_ROWS, 16, 16, 3), dtype=np.uint8)
    conditions = rng.random((N_ROWS, COND_DIM)).astype(np.float32)
    torch.manual_seed(0)
    torch.save(build_model(preset, COND_DIM, (16, 16, 3)).state_dict(), job / "model_warmup.pt")
    plan = {
        "stages": {
            "dpsgd": {
                "params": {"noise_multiplier": SIGMA, "sampling_rate": RATE, "steps": STEPS, "max_grad_norm": CLIP}
            }
        }
    }
    (job / "plan.json").write_text(json.dumps(plan), encoding="utf-8")
    export_inputs(job, images, conditions, preset=preset, lr=1e-2, seed=SEED)
    sizes = []
    for rank in (0, 1):
        generator = rank_generators(SEED, rank)[0]
        sizes.append(
            [
                len(poisson_shard_batch(N_ROWS, rank=rank, world_size=2, sampling_rate=RATE, generator=generator))
                for _ in range(STEPS)
            ]
        )
    assert [s.index(0) for s in sizes if 0 in s] == [0, 1], f"the seed no longer gives the empty batches: {sizes}"
    done = _torchrun(
        ["-m", "dptab_core.image.distributed", "--job-dir", str(job), "--backend", "gloo", "--engine", request.param],
        cwd=job,
    )
    assert done.returncode == 0, f"torchrun failed (rc {done.returncode}):\n{done.stderr[-3000:]}"
    return job


def test_two_process_dpsgd_changes_the_model(finished_job):
    before = torch.load(finished_job / "model_warmup.pt", weights_only=True)
    after = torch.load(finished_job / "model_dpsgd.pt", weights_only=True)
    assert before.keys() == after.keys(), "the fine-tuned state dict has other keys than the warm-up model"
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert changed, "no parameter changed after 3 DP-SGD steps on 2 processes"


def test_two_process_dpsgd_records_the_planned_entry_once(finished_job):
    lines = (finished_job / "ledger.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1, f"expected one ledger entry (rank 0 only), got {len(lines)}"
    entry = json.loads(lines[0])
    got = (entry["stage"], entry["mechanism"], entry["steps"], entry["noise_multiplier"], entry["sampling_rate"])
    assert got == ("dpsgd", "subsampled_gaussian", STEPS, SIGMA, RATE), f"ledger entry differs from the plan: {got}"
    assert entry["details"]["world_size"] == 2, f"entry should say it ran on 2 processes: {entry['details']}"
    assert entry["details"]["engine"] in ("bookkeeping", "opacus"), f"entry should name its engine: {entry['details']}"


GRAD_SCRIPT = textwrap.dedent("""
    import sys, torch, torch.distributed as dist
    from dptab_core.image.distributed import make_private_distributed

    class PerSampleSquares(torch.nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.lin = torch.nn.Linear(4, 3)
        def forward(self, x):
            return (self.lin(x) ** 2).sum(dim=1)

    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    x = torch.load(sys.argv[1])  # the drawn rows of a 64-row dataset
    model = PerSampleSquares()
    private, opt = make_private_distributed(model, torch.optim.SGD(model.parameters(), lr=0.0), 64,
                                            noise_multiplier=0.0, sampling_rate=0.25, max_grad_norm=1e6)
    part = x[rank::world]
    private(part).mean().backward()
    opt.step()
    grads = [p.grad.clone() for p in model.parameters()]

    # Noise only: zero per-sample gradients, σ = 1, C = 1; the step is the noise over the expected batch.
    wide = torch.nn.Linear(4, 500)
    private, opt = make_private_distributed(wide, torch.optim.SGD(wide.parameters(), lr=0.0), 64,
                                            noise_multiplier=1.0, sampling_rate=0.25, max_grad_norm=1.0)
    (private(part) * 0.0).sum(dim=1).mean().backward()
    opt.step()
    if rank == 0:
        torch.save({"grads": grads, "noise_std": float(wide.weight.grad.std())}, sys.argv[2])
    dist.barrier()  # neither rank tears gloo down while the other still works (an abort seen once at exit)
    dist.destroy_process_group()
""")


def test_two_process_step_is_batch_mean_gradient_plus_one_noise_draw(tmp_path):
    """With σ = 0 and a clip bound no gradient reaches, DP-SGD's step direction is the plain mean
    gradient of the global batch (the single-process path's as well, at batch = expected batch); with
    zero gradients and σ = 1 it is one draw of N(0, (σC)²) over the expected batch, as on one process."""
    torch.manual_seed(1)
    x = torch.randn(16, 4)  # the 16 drawn rows of a 64-row dataset at rate 1/4: expected batch 16
    torch.save(x, tmp_path / "x.pt")
    (tmp_path / "grad.py").write_text(GRAD_SCRIPT, encoding="utf-8")
    done = _torchrun([str(tmp_path / "grad.py"), str(tmp_path / "x.pt"), str(tmp_path / "g.pt")], cwd=tmp_path)
    assert done.returncode == 0, f"torchrun failed (rc {done.returncode}):\n{done.stderr[-3000:]}"
    out = torch.load(tmp_path / "g.pt", weights_only=True)
    two = out["grads"]

    torch.manual_seed(0)
    lin = torch.nn.Linear(4, 3)
    (lin(x) ** 2).sum(dim=1).mean().backward()
    for a, b in zip(two, [p.grad for p in lin.parameters()], strict=True):
        assert torch.allclose(a, b, atol=1e-5), f"2-process gradient {a} differs from the batch mean gradient {b}"
    # Noise drawn once for the global batch: std σC / (q·n) = 1/16, not √2 times that (noise per rank).
    assert abs(out["noise_std"] * 16 - 1.0) < 0.1, f"noise std × expected batch is {out['noise_std'] * 16:.3f}, not 1"


OWN_SCRIPT = textwrap.dedent("""
    import sys, torch, torch.distributed as dist
    from dptab_core.image.distributed import _own_step

    class PerSampleSquares(torch.nn.Module):
        def __init__(self, out):
            super().__init__()
            torch.manual_seed(0)
            self.lin = torch.nn.Linear(4, out)
        def forward(self, x, c):
            return (self.lin(x) ** 2).sum(dim=1)

    class Keep:  # an optimizer that keeps the gradient it was asked to step with
        def step(self):
            self.grads = [p.grad.clone() for p in model.parameters()]
        def zero_grad(self, set_to_none=True):
            pass

    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    x = torch.load(sys.argv[1])
    part = x[rank::world]
    model, keep = PerSampleSquares(3), Keep()
    noise = torch.Generator().manual_seed(5) if rank == 0 else None
    _own_step(model, keep, part, part[:, :1], engine="bookkeeping", noise_multiplier=0.0, max_grad_norm=0.5,
              expected_batch=16, noise_generator=noise)
    grads = keep.grads
    model, keep = PerSampleSquares(500), Keep()
    model.lin.weight.data.zero_(); model.lin.bias.data.zero_()  # zero per-sample gradients: the step is noise
    _own_step(model, keep, part, part[:, :1], engine="vmap", noise_multiplier=1.0, max_grad_norm=1.0,
              expected_batch=16, noise_generator=noise)
    if rank == 0:
        torch.save({"grads": grads, "noise_std": float(keep.grads[0].std())}, sys.argv[2])
    dist.barrier()  # neither rank tears gloo down while the other still works (an abort seen once at exit)
    dist.destroy_process_group()
""")


def test_own_engine_step_is_the_clipped_batch_sum_plus_one_noise_draw(tmp_path):
    """The own engines' distributed step: Σ_all rows clip(g_i) / expected batch with σ = 0 (clipping
    at 0.5 does bite here), and one N(0, (σC)²) draw over the expected batch, not one per rank."""
    from dptab_core.image.per_sample import clipped_grad_sum_bookkeeping

    torch.manual_seed(1)
    x = torch.randn(16, 4)
    torch.save(x, tmp_path / "x.pt")
    (tmp_path / "own.py").write_text(OWN_SCRIPT, encoding="utf-8")
    done = _torchrun([str(tmp_path / "own.py"), str(tmp_path / "x.pt"), str(tmp_path / "g.pt")], cwd=tmp_path)
    assert done.returncode == 0, f"torchrun failed (rc {done.returncode}):\n{done.stderr[-3000:]}"
    out = torch.load(tmp_path / "g.pt", weights_only=True)

    class PerSampleSquares(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.lin = torch.nn.Linear(4, 3)

        def forward(self, x, c):
            return (self.lin(x) ** 2).sum(dim=1)

    summed, _ = clipped_grad_sum_bookkeeping(PerSampleSquares(), x, x[:, :1], max_grad_norm=0.5)
    for a, b in zip(out["grads"], summed, strict=True):
        assert torch.allclose(a, b / 16, atol=1e-5), f"2-process step {a} differs from the clipped sum / 16 {b / 16}"
    assert abs(out["noise_std"] * 16 - 1.0) < 0.1, f"noise std × expected batch is {out['noise_std'] * 16:.3f}, not 1"
