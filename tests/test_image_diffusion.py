"""The conditional diffusion family: DP-SGD friendly, the VAE's interface, and conditioning that works."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch

from dptab_core.image.models import build_model  # noqa: E402
from dptab_core.image.presets import get_preset  # noqa: E402

TINY = dataclasses.replace(
    get_preset("quick"),
    family="diffusion",
    resolution=8,
    width=8,
    channel_mult=(1, 2),
    unet_blocks=1,
    attention_resolution=4,
    sample_steps=4,
)


def test_diffusion_models_of_every_size_pass_opacus_module_validation():
    from opacus.validators import ModuleValidator

    for preset in (TINY, get_preset("gpu", has_public=False)):
        model = build_model(preset, 12, (32, 32, 3))
        assert type(model).__name__ == "ConditionalDiffusion", f"{preset.name} built a {type(model).__name__}"
        assert ModuleValidator.validate(model) == [], f"{preset.name}: Opacus rejects a layer"


def test_forward_returns_one_finite_loss_per_sample_even_for_an_empty_batch(one_torch_thread):
    model = build_model(TINY, 5, (8, 8, 3))
    loss = model(torch.rand(6, 3, 8, 8) * 2 - 1, torch.rand(6, 5))
    assert loss.shape == (6,), f"forward should return per-sample losses, got shape {tuple(loss.shape)}"
    assert torch.isfinite(loss).all() and (loss >= 0).all(), f"losses not finite and non-negative: {loss}"
    assert model(torch.zeros(0, 3, 8, 8), torch.zeros(0, 5)).shape == (0,), "an empty Poisson batch must run"
    assert model.regression_loss(torch.zeros(3, 3, 8, 8), torch.rand(3, 5)).shape == (3,)


def test_generate_gives_images_in_range_at_the_dataset_size_reproducibly_per_seed(one_torch_thread):
    model = build_model(TINY, 5, (20, 20, 3)).eval()
    cond = torch.rand(4, 5)

    def draw(seed: int) -> torch.Tensor:
        return model.generate(cond, temperature=1.0, generator=torch.Generator().manual_seed(seed))

    first = draw(0)
    assert first.shape == (4, 3, 20, 20), f"expected (4, 3, 20, 20), got {tuple(first.shape)}"
    assert first.min() >= -1.0 and first.max() <= 1.0, "images must lie in [-1, 1]"
    assert torch.equal(first, draw(0)), "the same seed must give the same images"
    assert not torch.equal(first, draw(1)), "a different seed must give different images"


def test_classifier_free_guidance_changes_the_draw_without_changing_its_shape(one_torch_thread):
    cond, gen = torch.rand(2, 5), lambda: torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    plain = build_model(TINY, 5, (8, 8, 3)).eval()
    guided = build_model(dataclasses.replace(TINY, guidance=2.0), 5, (8, 8, 3)).eval()
    guided.load_state_dict(plain.state_dict())
    a = plain.generate(cond, temperature=1.0, generator=gen())
    b = guided.generate(cond, temperature=1.0, generator=gen())
    assert a.shape == b.shape and not torch.allclose(a, b), "guidance > 0 should alter the sampled images"


@pytest.mark.slow
def test_a_non_private_diffusion_draws_the_colour_its_class_asks_for(one_torch_thread):
    from dptab_core.image.train import fit

    colours = np.array([[1.0, -1.0, -1.0], [-1.0, 1.0, -1.0], [-1.0, -1.0, 1.0]], dtype=np.float32)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, size=192)
    images = np.broadcast_to(colours[labels][:, :, None, None], (192, 3, 8, 8)).copy()
    images += rng.normal(0.0, 0.05, size=images.shape).astype(np.float32)
    cond = np.eye(3, dtype=np.float32)[labels]
    preset = dataclasses.replace(TINY, attention_resolution=0, cond_dropout=0.0)
    torch.manual_seed(0)
    model = build_model(preset, 3, (8, 8, 3))
    fit(model, model, images, cond, steps=150, batch_size=32, lr=3e-3, seed=0, device=torch.device("cpu"), label="toy")
    model.eval()
    want = np.repeat(np.arange(3), 8)
    drawn = model.generate(torch.eye(3)[want], temperature=1.0, generator=torch.Generator().manual_seed(0))
    got = drawn.mean(dim=(2, 3)).argmax(dim=1).numpy()
    assert (got == want).mean() >= 0.9, f"dominant channel {got.tolist()} vs asked-for class {want.tolist()}"


@pytest.mark.slow
def test_the_whole_pipeline_runs_with_the_diffusion_family(tmp_path, monkeypatch):
    from test_pipeline_support import TINY_PRESET, make_demo

    from dptab_core.data.demo import demo_schema
    from dptab_core.jobs import JobStore, run_in_foreground
    from dptab_core.pipeline import make_synth_spec

    assert get_preset("gpu", has_public=False).family == "diffusion", (
        "this test runs the diffusion family through the gpu preset"
    )
    demo = make_demo(tmp_path / "demo", rows=120)
    monkeypatch.setenv("DPTAB_HOME", str(tmp_path / "home"))
    overrides = {k: v for k, v in TINY_PRESET.items() if k != "latent_dim"} | {"sample_steps": 2, "mean_pair_rounds": 1}
    spec = make_synth_spec(
        csv_path=demo / "table.csv",
        images_path=demo / "images",
        schema=demo_schema(),
        plan_options={"epsilon": 10.0},
        preset="gpu",
        seed=1,
        device="cpu",
        preset_overrides=overrides,
        table_settings="fast",
        reproducible_noise=True,
    )
    spec["output_dir"] = str(tmp_path / "out")
    job = run_in_foreground(spec, store=JobStore(tmp_path / "home" / "jobs"))
    status = job.status()
    assert status.state == "succeeded", f"the diffusion run failed: {status.error}\n{job.log_tail(30)}"
    checkpoints = list((tmp_path / "home").rglob("model_dpsgd.pt"))
    assert checkpoints, "no DP-SGD checkpoint was written"
    keys = torch.load(checkpoints[0], map_location="cpu", weights_only=True).keys()
    assert any(k.startswith("net.") for k in keys), "the fine-tuned model is not the diffusion UNet"
    pngs = list((tmp_path / "out").rglob("*.png"))
    assert pngs, "the release holds no synthetic images"


@pytest.mark.filterwarnings("ignore:Full backward hook is firing")
def test_the_default_dp_sgd_engine_clips_the_diffusion_unet_exactly_as_opacus(one_torch_thread):
    """Per-sample clipping is what makes DP-SGD private: the own book-keeping engine must reproduce
    Opacus' clipped sum on every layer type the UNet uses (FiLM Linear on the embedding, stride-2
    and 1x1 convolutions, GroupNorm, attention), with the same timesteps and noise drawn."""
    from opacus import GradSampleModule
    from opacus.optimizers import DPOptimizer

    from dptab_core.image.per_sample import clipped_grad_sum_bookkeeping

    torch.manual_seed(0)
    model = build_model(TINY, 5, (8, 8, 3))
    x, c = torch.rand(6, 3, 8, 8) * 2 - 1, torch.rand(6, 5)
    gsm = GradSampleModule(copy.deepcopy(model))
    torch.manual_seed(3)
    gsm(x, c).mean().backward()
    norms = torch.stack([p.grad_sample.flatten(1).norm(dim=1) for p in gsm.parameters()], 1).norm(dim=1)
    clip = float(norms.median())  # half the samples clipped, half not: both branches of the rule checked
    opt = DPOptimizer(
        torch.optim.SGD(gsm.parameters(), lr=1.0), noise_multiplier=0.0, max_grad_norm=clip, expected_batch_size=len(x)
    )
    opt.clip_and_accumulate()
    torch.manual_seed(3)
    ours, _ = clipped_grad_sum_bookkeeping(model, x, c, max_grad_norm=clip)
    for (name, _), a, p in zip(model.named_parameters(), ours, gsm.parameters(), strict=True):
        torch.testing.assert_close(a, p.summed_grad, rtol=1e-3, atol=1e-4, msg=lambda m, n=name: f"{n}: {m}")
