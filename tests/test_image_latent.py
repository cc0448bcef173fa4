"""The latent family: a public autoencoder, a Gaussian over its latents whose mean map is the DP mean pairs."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch

from dptab_core.data.demo import demo_schema
from dptab_core.image import per_sample
from dptab_core.image.dpsgd import finetune_dpsgd
from dptab_core.image.encoder import RecordEncoder
from dptab_core.image.latent import DecoderFineTune, LatentGaussian
from dptab_core.image.mean_pairs import dp_mean_pairs_of
from dptab_core.image.presets import get_preset
from dptab_core.privacy.ledger import Ledger

TINY = dataclasses.replace(get_preset("quick"), width=8, latent_dim=3, resolution=16)


def _model(seed: int = 0) -> tuple[LatentGaussian, RecordEncoder]:
    torch.manual_seed(seed)
    encoder = RecordEncoder(demo_schema())
    return LatentGaussian(TINY, encoder.dim, (16, 16, 3)), encoder


def _release(coordinates, codes, *, clip_norm: float, noise_multiplier: float = 1.0, shrink: bool = False):
    """DP mean pairs of ``coordinates`` in the public basis, one round on everyone, under the demo schema."""
    return dp_mean_pairs_of(
        coordinates,
        codes,
        demo_schema(),
        noise_multiplier=noise_multiplier,
        sampling_rate=1.0,
        rounds=1,
        clip_norm=clip_norm,
        rng=np.random.default_rng(3),
        ledger=Ledger(),
        count_weight=0.5,
        min_cell_count=1.0,
        shrink=shrink,
        bounded=False,
    )


def _four_dpsgd_steps(model, encoder: RecordEncoder, *, noise_multiplier: float):
    """Four seeded DP-SGD steps of ``model`` (the latent model or one of its phases) on 64 random 16×16
    images with unspecified records; returns the trainer's result and the ledger."""
    ledger = Ledger()
    result = finetune_dpsgd(
        model,
        np.random.default_rng(1).integers(0, 255, (64, 16, 16, 3), dtype=np.uint8),
        np.tile(encoder.unspecified(), (64, 1)),
        noise_multiplier=noise_multiplier,
        sampling_rate=0.25,
        steps=4,
        max_grad_norm=1.0,
        ledger=ledger,
        device=torch.device("cpu"),
        lr=1e-2,
        noise_seed=0,
    )
    return result, ledger


def test_nll_is_the_low_rank_gaussians_negative_log_likelihood_per_latent_number():
    model, encoder = _model()
    with torch.no_grad():
        model.factor.normal_(0, 0.3)
        model.log_std.uniform_(-2.0, -0.5)
        model.mean.weight.normal_(0, 0.1)
    cond = torch.as_tensor(np.tile(encoder.unspecified(), (5, 1)))
    z = torch.randn(5, model.latent_size) * 0.3
    reference = torch.distributions.LowRankMultivariateNormal(
        model.mean(cond), cov_factor=model.factor, cov_diag=torch.exp(2 * model.log_std)
    )
    expected = -reference.log_prob(z) / model.latent_size
    assert torch.allclose(model(z, cond), expected, atol=1e-4), "forward must be the Gaussian's NLL per latent number"


def test_warm_start_makes_the_mean_map_draw_each_records_additive_mean_pair_composite_mapped_back_to_latents():
    model, encoder = _model()
    codes = {c: np.random.default_rng(1).integers(0, size, 400) for c, size in encoder.sizes.items()}
    latents = np.random.default_rng(2).uniform(-0.5, 0.5, (400, model.latent_size))
    pairs = _release(model.project(latents), codes, clip_norm=5.0, shrink=True)
    model.warm_start(pairs, encoder)
    record = {c: np.array([0]) for c in encoder.sizes}
    composite = pairs.overall.flatten() + sum(
        (pairs.means[c][0].flatten() - pairs.overall.flatten()) for c in encoder.sizes if pairs.usable[c][0]
    )
    expected = model.public_mean.numpy() + model.public_basis.numpy() @ composite
    with torch.no_grad():
        got = model.mean(torch.as_tensor(encoder.encode_codes(record))).numpy()[0]
    assert np.allclose(got, expected, atol=1e-5)


def test_warm_start_on_synthetic_rows_counts_an_effect_once_when_columns_correlate():
    """Latents set by skin type alone, body site a copy of it in 90 % of rows: the additive composite
    adds the skin effect twice (once more through body site's means), the regression on the rows once."""
    model, encoder = _model()
    rng = np.random.default_rng(0)
    n = 3000
    codes = {c: rng.integers(0, size, n) for c, size in encoder.sizes.items()}
    skin = codes["skin_type"] % 5
    codes["skin_type"] = skin
    codes["body_site"] = np.where(rng.random(n) < 0.9, skin, rng.integers(0, 5, n))
    effect = rng.normal(0.0, 1.0, (5, model.basis_size))
    coordinates = effect[skin] + rng.normal(0.0, 0.05, (n, model.basis_size))
    pairs = _release(coordinates, codes, clip_norm=100.0, noise_multiplier=1e-6)
    records = encoder.encode_codes(codes)
    errors = {}
    for name, given in (("additive", None), ("regressed", records)):
        model.warm_start(pairs, encoder, given)
        with torch.no_grad():
            drawn = model.project(model.mean(torch.as_tensor(records)).numpy())
        errors[name] = float(np.sqrt(((drawn - effect[skin]) ** 2).sum(1).mean()))
    scale = float(np.sqrt((effect[skin] ** 2).sum(1).mean()))
    assert errors["regressed"] < 0.05 * scale, f"the regression missed the true means: {errors}, scale {scale:.2f}"
    assert errors["additive"] > 5 * errors["regressed"], f"the composite should double-count here: {errors}"


def test_public_autoencoder_is_cached_and_reused_without_training(tmp_path):
    public = np.random.default_rng(0).integers(0, 255, (40, 16, 16, 3), dtype=np.uint8)
    first, _ = _model(seed=0)
    history = first.fit_public(
        public, steps=3, batch_size=8, lr=1e-3, seed=0, device=torch.device("cpu"), cache_dir=tmp_path
    )
    second, _ = _model(seed=1)
    again = second.fit_public(
        public, steps=3, batch_size=8, lr=1e-3, seed=0, device=torch.device("cpu"), cache_dir=tmp_path
    )
    assert len(history) == 3 and again == [], "the second job should load the cached autoencoder, not train"
    for a, b in zip(first.autoencoder.parameters(), second.autoencoder.parameters(), strict=True):
        assert torch.equal(a, b)
    assert torch.allclose(first.factor, second.factor), "the prior is the same function of the same public data"


def test_dpsgd_of_the_latent_gaussian_never_moves_the_public_autoencoder():
    model, encoder = _model()
    public = np.random.default_rng(0).integers(0, 255, (40, 16, 16, 3), dtype=np.uint8)
    model.fit_public(public, steps=2, batch_size=8, lr=1e-3, seed=0, device=torch.device("cpu"))
    frozen = [p.detach().clone() for p in model.autoencoder.parameters()]
    before = model.factor.detach().clone()
    result, ledger = _four_dpsgd_steps(model, encoder, noise_multiplier=1.0)
    assert result.steps_done == 4
    assert ledger.entries[-1].details["engine"] == "vmap", "the latent model's likelihood needs the vmap engine"
    assert not torch.equal(before, model.factor), "DP-SGD should move the covariance factor"
    for a, b in zip(frozen, model.autoencoder.parameters(), strict=True):
        assert torch.equal(a, b), "the public autoencoder must not change under DP-SGD"


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_generated_images_differ_within_one_record_unless_temperature_is_zero(temperature):
    model, encoder = _model()
    with torch.no_grad():
        model.factor.normal_(0, 0.3)
    cond = torch.as_tensor(np.tile(encoder.unspecified(), (6, 1)))
    images = model.generate(cond, temperature=temperature, generator=torch.Generator().manual_seed(0))
    spread = float(images.std(dim=0).mean())
    assert images.shape == (6, 3, 16, 16)
    assert (spread > 1e-3) == (temperature > 0), f"within-record spread {spread} at temperature {temperature}"


def test_mean_pairs_are_released_in_the_public_principal_basis_and_map_back_exactly_within_it():
    model, _ = _model()
    public = np.random.default_rng(0).integers(0, 255, (60, 16, 16, 3), dtype=np.uint8)
    model.fit_public(public, steps=2, batch_size=8, lr=1e-3, seed=0, device=torch.device("cpu"))
    basis = model.public_basis.numpy()
    assert np.allclose(basis.T @ basis, np.eye(model.basis_size), atol=1e-4), "the basis should be orthonormal"
    inside = model.public_mean.numpy() + basis @ np.random.default_rng(1).normal(size=model.basis_size)
    coordinates = model.project(inside[None])
    assert coordinates.shape == (1, model.basis_size)
    assert np.allclose(model.public_mean.numpy() + basis @ coordinates[0], inside, atol=1e-4)


def test_warm_start_turns_the_released_spread_into_the_factor_in_the_public_basis():
    """The Gaussian's covariance inside the basis becomes the released spread (its top ``rank`` directions)."""
    model, encoder = _model()
    public = np.random.default_rng(0).integers(0, 255, (60, 16, 16, 3), dtype=np.uint8)
    model.fit_public(public, steps=2, batch_size=8, lr=1e-3, seed=0, device=torch.device("cpu"))
    isotropic = float(torch.exp(2 * model.log_std.detach()).mean())
    directions = np.linalg.qr(np.random.default_rng(4).normal(size=(model.basis_size, model.rank)))[0]
    variances = isotropic + np.array([0.5, 0.2, 0.1])[: model.rank]
    spread = (directions * variances) @ directions.T
    codes = {c: np.zeros(10, dtype=int) for c in encoder.sizes}
    pairs = _release(np.zeros((10, model.basis_size)), codes, clip_norm=1.0)
    model.warm_start(dataclasses.replace(pairs, spread=spread), encoder)
    basis, factor = model.public_basis.double(), model.factor.detach().double()
    inside = basis.T @ factor @ factor.T @ basis + isotropic * torch.eye(model.basis_size, dtype=torch.float64)
    want = spread + isotropic * (np.eye(model.basis_size) - directions @ directions.T)
    assert np.allclose(inside.numpy(), want, atol=1e-4), "the factor should carry the released spread"


def test_public_autoencoder_training_scales_each_colour_channel_on_its_own():
    """The colour augmentation reaches colours the public set lacks (CIFAR-10 has almost no pink skin)."""
    from dptab_core.image.latent import _augment

    grey = torch.zeros(256, 3, 4, 4)  # mid-grey in [-1, 1]
    out = _augment(grey, torch.Generator().manual_seed(0))
    assert out.shape == grey.shape and out.min() >= -1.0 and out.max() <= 1.0
    per_channel = out.mean(dim=(2, 3))  # (images, channels)
    spread = (per_channel[:, 0] - per_channel[:, 1]).abs()
    assert float(spread.max()) > 0.3, "channels were scaled together: a grey image never became coloured"


def test_the_dpsgd_steps_are_split_between_the_gaussian_and_the_decoder_and_add_up_to_the_plan():
    model, _ = _model()
    phases = model.dpsgd_phases(201)
    assert [type(m) for m, _ in phases] == [LatentGaussian, DecoderFineTune], "the Gaussian first, then the decoder"
    assert sum(steps for _, steps in phases) == 201, f"the phases take {phases}, not the plan's 201 steps"
    assert phases[0][0] is model and phases[1][0].decoder is model.autoencoder.decoder, (
        "the decoder is trained in place"
    )
    torch.manual_seed(0)
    alone = LatentGaussian(dataclasses.replace(TINY, decoder_dpsgd_share=0.0), 10, (16, 16, 3))
    assert [(type(m), n) for m, n in alone.dpsgd_phases(200)] == [(LatentGaussian, 200)]


def test_the_decoder_phase_moves_only_the_decoder_and_leaves_it_frozen_afterwards():
    model, encoder = _model()
    public = np.random.default_rng(0).integers(0, 255, (40, 16, 16, 3), dtype=np.uint8)
    model.fit_public(public, steps=2, batch_size=8, lr=1e-3, seed=0, device=torch.device("cpu"))
    encoder_before = [p.detach().clone() for p in model.autoencoder.encoder.parameters()]
    decoder_before = [p.detach().clone() for p in model.autoencoder.decoder.parameters()]
    gaussian_before = {k: v.detach().clone() for k, v in model.named_parameters() if not k.startswith("autoencoder")}
    _, ledger = _four_dpsgd_steps(model.dpsgd_phases(8)[1][0], encoder, noise_multiplier=0.5)
    entry = ledger.entries[-1]
    assert (entry.steps, entry.details["model"], entry.details["engine"]) == (4, "DecoderFineTune", "bookkeeping")
    assert any(
        not torch.equal(a, b) for a, b in zip(decoder_before, model.autoencoder.decoder.parameters(), strict=True)
    ), "four DP-SGD steps at lr 1e-2 should move the decoder"
    for a, b in zip(encoder_before, model.autoencoder.encoder.parameters(), strict=True):
        assert torch.equal(a, b), "the public encoder must never change: the latents are a public function"
    for name, value in model.named_parameters():
        if name in gaussian_before:
            assert torch.equal(gaussian_before[name], value), f"the decoder's phase moved the Gaussian's {name}"
    assert not any(p.requires_grad for p in model.autoencoder.parameters()), "the decoder must be frozen again"


@pytest.mark.filterwarnings("ignore:Full backward hook is firing")
def test_the_decoder_phases_clipped_gradient_sum_equals_opacus(one_torch_thread):
    from opacus import GradSampleModule
    from opacus.optimizers import DPOptimizer

    model, _ = _model()
    phase, twin = DecoderFineTune(model), DecoderFineTune(copy.deepcopy(model))
    images = np.random.default_rng(2).integers(0, 255, (10, 16, 16, 3), dtype=np.uint8)
    x, c = torch.as_tensor(phase.prepare_inputs(images)), torch.zeros(10, 1)
    with phase.dpsgd_session(), twin.dpsgd_session():
        reference = GradSampleModule(twin)
        torch.manual_seed(5)
        reference(x, c).mean().backward()
        opt = DPOptimizer(
            torch.optim.SGD(reference.parameters(), lr=1.0),
            noise_multiplier=0.0,
            max_grad_norm=0.05,
            expected_batch_size=10,
        )
        opt.clip_and_accumulate()
        theirs = [p.summed_grad for p in reference.parameters()]
        torch.manual_seed(5)
        ours, _ = per_sample.clipped_grad_sum_bookkeeping(phase, x, c, max_grad_norm=0.05)
    for (name, _), a, b in zip(phase.named_parameters(), ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6, msg=lambda m, n=name: f"{n}: {m}")


def test_the_decoder_phase_reads_each_image_as_its_public_latent_and_its_pixels():
    model, _ = _model()
    images = np.random.default_rng(3).integers(0, 255, (5, 16, 16, 3), dtype=np.uint8)
    inputs = DecoderFineTune(model).prepare_inputs(images)
    np.testing.assert_allclose(inputs[:, : model.latent_size], model.prepare_inputs(images))
    assert inputs.shape == (5, model.latent_size + 3 * 16 * 16)
