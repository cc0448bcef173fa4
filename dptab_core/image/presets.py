"""Image-model presets: every size and step count of the image stages, each with its reason.

A preset is chosen once per job (``quick`` for the 5-minute demo on 2 CPU cores, ``standard`` for
~30 minutes on 2 cores, ``gpu`` for a CUDA machine). Nothing in the image code hard-codes a size:
it reads it from here, so the app, the CLI, the benchmarks and the tests see the same numbers.

benchmarks/bench_preset_cost.py predicts a preset's cost from a few timed steps per stage:
standard ~35 CPU minutes on one loaded core, ~23 min wall on 2 idle cores at an assumed 1.6x
two-thread speed-up, ~31 min at the 1.15x seen on quick's measured end-to-end run.

Every preset's default family is ``latent`` (a public autoencoder plus a small DP model of the
records' latents, :mod:`dptab_core.image.latent`): it needs public images to learn how images look.
A job without a public image folder runs the preset's ``without_public`` fallback instead (the
conditional VAE on CPU, the diffusion UNet on ``gpu``), and the app says so.

>>> get_preset("quick").family
'latent'
>>> get_preset("quick", has_public=False).family
'cvae'
>>> get_preset("gpu", has_public=False).family
'diffusion'
>>> sorted(PRESETS)
['gpu', 'quick', 'standard']
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from dptab_core.errors import InputError

Family = Literal["cvae", "diffusion", "latent"]


@dataclass(frozen=True)
class ImagePreset:
    """Sizes, step counts and learning rates of the image stages (see ``reasons`` for the why)."""

    name: str
    family: Family
    resolution: int
    width: int
    latent_dim: int
    kl_weight: float
    sample_temperature: float
    mean_pair_rounds: int
    mean_pair_sampling_rate: float
    mean_pair_clip_rms: float
    count_weight: float
    min_cell_count: float
    warmup_steps: int
    warmup_batch: int
    warmup_composites: int
    warmup_lr: float
    pretrain_steps: int
    pretrain_batch: int
    public_per_label: int
    classifier_steps: int
    classifier_width: int
    dpsgd_batch: int
    dpsgd_steps: int
    dpsgd_lr: float
    dpsgd_max_grad_norm: float
    sample_batch: int
    # Diffusion-family settings (unused by the VAE). Defaults, so that presets saved by earlier jobs
    # (dptab_core.image.distributed reads them back from run.json) still load.
    channel_mult: tuple[int, ...] = (1, 2)
    unet_blocks: int = 1
    attention_resolution: int = 0
    sample_steps: int = 8
    cond_dropout: float = 0.1
    guidance: float = 0.0
    # Latent-family settings: channels of the public autoencoder's latent grid (resolution / 4 square).
    latent_channels: int = 4
    mean_pair_basis: int = 32
    """Latent family: the DP mean pairs are released in the top ``mean_pair_basis`` public principal directions."""
    decoder_dpsgd_share: float = 0.0
    """Latent family: the fraction of the DP-SGD steps that fine-tune the public decoder on the private
    images (the rest fine-tune the latent Gaussian). Same noise, batch and clip per step, so the split
    changes what the steps train, not what they cost."""
    without_public: str = ""
    """The preset a job without public images runs instead (``""``: this preset needs none)."""
    reasons: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    def mean_pair_clip_norm(self, channels: int) -> float:
        """The L2 clip bound of one image at ``resolution`` for the mean pairs (what the plan passes).

        Images live in [-1, 1]; a bound of ``mean_pair_clip_rms`` per pixel clips only high-contrast
        images, so the released mean is not shrunk towards grey.
        """
        return self.mean_pair_clip_rms * math.sqrt(self.mean_pair_size(channels))

    def mean_pair_size(self, channels: int) -> int:
        """Numbers in one mean pair: the image's pixels, or the latent grid's for the latent family."""
        if self.family == "latent":
            return min(self.mean_pair_basis, self.latent_channels * (self.resolution // 4) ** 2)
        return self.resolution * self.resolution * channels


_COMMON_REASONS = {
    "family": "conditional VAE: measured against a matched 0.29 M-parameter conditional diffusion UNet on the "
    "demo at ε=10 (benchmarks/README.md, 'Model family'), the VAE reads back as well or better per "
    "CPU-minute (mean normalised read-back 0.26-0.31 in 94-189 CPU s vs 0.23-0.35 in 142-224 s); "
    "diffusion gives more diverse, closer images (FD 19-21 vs 27-31) at ~1.5x the CPU",
    "mean_pair_clip_rms": "0.5 per pixel in [-1,1]: clips only high-contrast images, keeps the mean unshrunk",
    "count_weight": "the released count coordinate weighs half the clip bound: the image part pays only "
    "sqrt(1.25) for carrying its own count, which is still precise to a few rows",
    "min_cell_count": "cells whose noisy count is below this many rows are noise-dominated: not used in warm-up",
    "sample_temperature": "latent draws at 0.8 of the prior's std: fewer off-manifold samples, some diversity kept",
}

_DIFFUSION_REASONS = {
    "channel_mult": "channels per UNet resolution, as multiples of width (diffusion family only)",
    "unet_blocks": "residual blocks per UNet resolution (diffusion family only)",
    "attention_resolution": "spatial size with self-attention; 0 = none (diffusion family only)",
    "cond_dropout": "10% of training records replaced by the empty record, so sampling can use classifier-free "
    "guidance (diffusion family only)",
    "latent_dim": "unused by the diffusion family: its noise has the image's shape",
    "kl_weight": "unused by the diffusion family",
}

_LATENT_REASONS = {
    "family": "latent: an autoencoder trained on the public images, and a ~10^4-parameter Gaussian model of "
    "the records' latents (mean map = the DP mean pairs, covariance fine-tuned with DP-SGD, as is the "
    "decoder); chosen "
    "over the conditional VAE and the conditional diffusion UNet on a score that counts variety, "
    "fidelity and read-back together (benchmarks/README.md, 'Model family')",
    "width": "base channels of the public autoencoder (its encoder never sees private data; its decoder only through "
    "DP-SGD)",
    "latent_channels": "4 channels on a (resolution/4)^2 grid: 256 numbers at 32x32, what the Gaussian models",
    "latent_dim": "rank of the latent Gaussian's shared covariance factor: the main directions individuals vary in",
    "kl_weight": "unused by the latent family",
    "pretrain_steps": "steps of the public autoencoder (public data: free); warmup_lr is its Adam step size",
    "warmup_steps": "unused by the latent family: its warm-up writes the mean pairs into the mean map exactly",
    "mean_pair_clip_rms": "1.75 per basis number (clip norm 9.9 over 32): HAM10000's latents, centred on the public "
    "mean and projected, have norms 5.3-8.7 (10th-99th percentile) under CIFAR-10's autoencoder, "
    "the demo's 5.9-10.6. At 1.25 (7.1) 57-61 % were clipped, which pulled every mean towards "
    "the public mean: HAM's pink skin came out CIFAR grey-blue",
    "mean_pair_basis": "32 public principal directions: a cell mean of 32 numbers instead of 256 carries 8x less "
    "noise energy, and the directions hold most of how lesions differ (colour, size, darkness)",
    "sample_temperature": "1.0: the fitted spread, neither shrunk (averages) nor widened (off-manifold)",
    "decoder_dpsgd_share": "half the DP-SGD steps fine-tune the public decoder on the private images (PrivImage's "
    "fine-tune), at the same noise per step: the decoder learns to draw what the public images lack. HAM10000 "
    "and demo, ε = 10, three seeds each (benchmarks/README.md, session 6)",
    "dpsgd_lr": "(DP-SGD runs on the vmap engine: the Gaussian's likelihood uses its parameters outside layer "
    "calls) Adam 3e-3 on ~10^4 parameters: the covariance moves visibly within a few hundred noisy steps",
}

_FALLBACK_PRESETS: dict[str, ImagePreset] = {}
"""The models a preset runs when the job has no public images (filled below, not listed in PRESETS)."""

PRESETS: dict[str, ImagePreset] = {
    "quick": ImagePreset(
        name="quick",
        family="latent",
        resolution=32,
        width=16,
        latent_dim=16,
        kl_weight=1.0,
        sample_temperature=1.0,
        mean_pair_rounds=1,
        mean_pair_sampling_rate=1.0,
        mean_pair_clip_rms=1.75,
        count_weight=0.5,
        min_cell_count=15.0,
        warmup_steps=1,
        warmup_batch=64,
        warmup_composites=64,
        warmup_lr=2e-3,
        pretrain_steps=800,
        pretrain_batch=64,
        public_per_label=200,
        classifier_steps=300,
        classifier_width=16,
        dpsgd_batch=256,
        dpsgd_steps=200,
        dpsgd_lr=3e-3,
        dpsgd_max_grad_norm=1.0,
        sample_batch=256,
        latent_channels=4,
        decoder_dpsgd_share=0.5,
        without_public="quick-cvae",
        reasons={
            **_COMMON_REASONS,
            **_LATENT_REASONS,
            "resolution": "32x32: what a stakeholder can judge; the autoencoder's cost, not DP noise, sets it",
            "pretrain_steps": "800 autoencoder steps at batch 64 and width 16: ~1-2 CPU minutes",
            "dpsgd_steps": "200 steps at q ~ 1/8: 100 on the latent Gaussian (milliseconds each), 100 on the decoder "
            "(~0.5 CPU s each at batch 256)",
            "dpsgd_batch": "256: large batches divide the DP noise; the demo's ~2000 rows give q ~ 1/8",
        },
    ),
    "quick-cvae": ImagePreset(
        name="quick",
        family="cvae",
        resolution=16,
        width=32,
        latent_dim=16,
        kl_weight=1.0,
        sample_temperature=0.8,
        mean_pair_rounds=1,
        mean_pair_sampling_rate=1.0,
        mean_pair_clip_rms=0.5,
        count_weight=0.5,
        min_cell_count=15.0,
        warmup_steps=300,
        warmup_batch=64,
        warmup_composites=2048,
        warmup_lr=2e-3,
        pretrain_steps=150,
        pretrain_batch=64,
        public_per_label=200,
        classifier_steps=300,
        classifier_width=16,
        dpsgd_batch=256,
        dpsgd_steps=100,
        dpsgd_lr=1e-3,
        dpsgd_max_grad_norm=1.0,
        sample_batch=256,
        reasons={
            **_COMMON_REASONS,
            "resolution": "16x16 (upsampled to the schema size): 4x fewer pixels than 32x32 means 2x the "
            "per-pixel signal-to-noise of the mean pairs and ~3x faster steps on 2 cores",
            "width": "32 base channels: 0.5 M parameters on the demo, a DP-SGD step on 256 images ~0.7 CPU s "
            "(book-keeping engine, bench_preset_cost.py)",
            "warmup_steps": "300 steps fit the mean pairs and their composites in ~20 s",
            "dpsgd_batch": "256: large batches divide the DP noise; the demo's ~2000 rows give q ~ 1/8",
            "dpsgd_steps": "100 steps (96 as planned: 12 epochs at q = 1/8): ~65 CPU s with the book-keeping "
            "engine (115 s wall under Opacus hooks in the idle end-to-end run)",
            "mean_pair_rounds": "one round on everyone: the cheapest way to clean means (findings: ε=10 "
            "read-back close to real pairs)",
        },
    ),
    "standard": ImagePreset(
        name="standard",
        family="latent",
        resolution=32,
        width=32,
        latent_dim=32,
        kl_weight=1.0,
        sample_temperature=1.0,
        mean_pair_rounds=1,
        mean_pair_sampling_rate=1.0,
        mean_pair_clip_rms=1.75,
        count_weight=0.5,
        min_cell_count=15.0,
        warmup_steps=1,
        warmup_batch=64,
        warmup_composites=64,
        warmup_lr=2e-3,
        pretrain_steps=3000,
        pretrain_batch=64,
        public_per_label=1000,
        classifier_steps=600,
        classifier_width=16,
        dpsgd_batch=512,
        dpsgd_steps=400,
        dpsgd_lr=3e-3,
        dpsgd_max_grad_norm=1.0,
        sample_batch=256,
        latent_channels=4,
        decoder_dpsgd_share=0.25,
        without_public="standard-cvae",
        reasons={
            **_COMMON_REASONS,
            **_LATENT_REASONS,
            "resolution": "32x32 with a wider autoencoder than quick's: sharper decodes",
            "classifier_steps": "600 steps of the semantic query's public classifier: under a minute",
            "without_public": "standard's own conditional VAE (1.1 M parameters, 32x32) when there are no public "
            "images",
            "width": "32 base channels: ~4x quick's autoencoder cost per step, sharper reconstructions",
            "pretrain_steps": "3000 autoencoder steps: the bulk of this preset's CPU time",
            "public_per_label": "up to 1000 public images per label (the demo ships 150, all used)",
            "latent_dim": "rank 32: more directions of individual variation than quick's 16",
            "dpsgd_batch": "512, q ~ 1/4 on the demo: the averaged gradient's noise std is z·C/B",
            "dpsgd_steps": "400 steps: cheap at this model size; more steps at a larger noise multiplier",
            "decoder_dpsgd_share": "100 of the 400 steps fine-tune the decoder: ~5 CPU s each at batch 512 and width "
            "32 (half would add ~17 CPU minutes; the quick preset's decoder settles within 50 steps)",
        },
    ),
    "standard-cvae": ImagePreset(
        name="standard",
        family="cvae",
        resolution=32,
        width=24,
        latent_dim=32,
        kl_weight=1.0,
        sample_temperature=0.8,
        mean_pair_rounds=1,
        mean_pair_sampling_rate=1.0,
        mean_pair_clip_rms=0.5,
        count_weight=0.5,
        min_cell_count=15.0,
        warmup_steps=800,
        warmup_batch=64,
        warmup_composites=8192,
        warmup_lr=2e-3,
        pretrain_steps=600,
        pretrain_batch=64,
        public_per_label=1000,
        classifier_steps=600,
        classifier_width=16,
        dpsgd_batch=512,
        dpsgd_steps=360,
        dpsgd_lr=1e-3,
        dpsgd_max_grad_norm=1.0,
        sample_batch=256,
        reasons={
            **_COMMON_REASONS,
            "resolution": "full 32x32, the point of this preset: 4x the pixels of quick",
            "latent_dim": "32, twice quick's, for 4x the pixels (not tuned by measurement)",
            "warmup_composites": "8192 composites of the mean pairs (~100 MB at 32x32), 4x quick's, for the 4x "
            "longer warm-up; their count does not change the step time",
            "public_per_label": "up to 1000 public images per label (the demo ships 150, all used)",
            "width": "24 base channels: 1.1 M parameters on the demo; a book-keeping DP-SGD step on 500 images "
            "takes ~4.3-4.9 CPU s (bench_preset_cost.py). Width 48 (3.5 M) took 13.8 CPU s a step, "
            "which made this preset ~3 CPU hours instead of ~30 minutes",
            "dpsgd_batch": "512 (~500 expected on the demo, q = 1/4), twice quick's: the averaged gradient's noise "
            "std is z·C/B, so it falls with the batch at a given noise multiplier",
            "dpsgd_steps": "360 steps (90 epochs of the 2,000-row demo at q = 1/4), 3.75x quick's 96: ~28 CPU "
            "minutes, 4/5 of the preset's ~35 (bench_preset_cost.py, one loaded core); sized so "
            "the whole demo run takes ~23-31 min on 2 idle cores",
            "warmup_steps": "800 steps at 32x32 (~0.22-0.24 CPU s each): ~3 CPU minutes",
            "pretrain_steps": "600 public steps (~0.29-0.36 CPU s each): ~3-3.6 CPU minutes",
            "classifier_steps": "600 steps of a width-16 classifier (~0.05 CPU s each): well under a minute; "
            "it only ranks the public labels for the semantic query",
        },
    ),
    "gpu": ImagePreset(
        name="gpu",
        family="latent",
        resolution=64,
        width=64,
        latent_dim=64,
        kl_weight=1.0,
        sample_temperature=1.0,
        mean_pair_rounds=1,
        mean_pair_sampling_rate=1.0,
        mean_pair_clip_rms=1.75,
        count_weight=0.5,
        min_cell_count=15.0,
        warmup_steps=1,
        warmup_batch=64,
        warmup_composites=64,
        warmup_lr=1e-3,
        pretrain_steps=6000,
        pretrain_batch=128,
        public_per_label=5000,
        classifier_steps=2000,
        classifier_width=32,
        dpsgd_batch=1024,
        dpsgd_steps=1000,
        dpsgd_lr=3e-3,
        dpsgd_max_grad_norm=1.0,
        sample_batch=1024,
        latent_channels=4,
        decoder_dpsgd_share=0.5,
        without_public="gpu-diffusion",
        reasons={
            **_COMMON_REASONS,
            **_LATENT_REASONS,
            "family": "latent at 64x64 (UNPROVEN on CUDA until benchmarks/gpu_check.sh has run on a GPU): "
            + _LATENT_REASONS["family"],
            "resolution": "64x64: the size a GPU makes cheap; the latent grid is 16x16x4 = 1024 numbers",
            "width": "64 base channels: a sharper public autoencoder, ~3 M parameters, cheap on a GPU",
            "pretrain_steps": "6000 autoencoder steps at batch 128: a few minutes on a GPU",
            "dpsgd_batch": "1024: DP-SGD's noise shrinks with batch size; the model is small, so it is cheap",
            "latent_dim": "rank 64 for 1024 latent numbers",
        },
    ),
    "gpu-diffusion": ImagePreset(
        name="gpu",
        family="diffusion",
        resolution=32,
        width=96,
        latent_dim=64,
        kl_weight=1.0,
        sample_temperature=1.0,
        mean_pair_rounds=4,
        mean_pair_sampling_rate=0.5,
        mean_pair_clip_rms=0.5,
        count_weight=0.5,
        min_cell_count=15.0,
        warmup_steps=10000,
        warmup_batch=256,
        warmup_composites=65536,
        warmup_lr=1e-3,
        pretrain_steps=20000,
        pretrain_batch=256,
        public_per_label=5000,
        classifier_steps=5000,
        classifier_width=64,
        dpsgd_batch=4096,
        dpsgd_steps=5000,
        dpsgd_lr=5e-4,
        dpsgd_max_grad_norm=1.0,
        sample_batch=1024,
        channel_mult=(1, 2, 2),
        unet_blocks=2,
        attention_resolution=16,
        sample_steps=50,
        cond_dropout=0.1,
        guidance=1.0,
        reasons={
            **_COMMON_REASONS,
            **_DIFFUSION_REASONS,
            "family": "UNPROVEN on CUDA (no GPU was lent to the task that built it; one forward/backward/"
            "sample ran on CPU): the conditional diffusion UNet the seed papers train with DP-SGD, "
            "which keeps per-sample diversity a VAE decoder blurs away",
            "width": "96 base channels, multipliers (1,2,2), 2 residual blocks per level, attention at 16x16: "
            "~16 M parameters, the scale of DDPM-style 32x32 UNets; per-sample gradients of 16 M "
            "parameters take 64 MB each, so DP-SGD must split the 4096 batch into physical batches",
            "sample_steps": "50 DDIM steps: the usual quality plateau for 32x32 diffusion; cheap on a GPU",
            "guidance": "classifier-free guidance 1.0 (two passes per step): sharpens the record's attributes, "
            "which DP noise otherwise washes out",
            "sample_temperature": "1.0: DDIM is deterministic given its start noise; shrinking it only blurs",
            "dpsgd_batch": "4096: DP-SGD's noise shrinks with batch size; GPUs make large batches cheap",
        },
    ),
}


def get_preset(name: str, *, has_public: bool = True) -> ImagePreset:
    """The preset called ``name`` (``quick``, ``standard`` or ``gpu``); its fallback when ``has_public`` is False."""
    try:
        preset = PRESETS[name]
    except KeyError:
        raise InputError(
            f"unknown image preset {name!r}", where="preset", hint=f"Pick one of: {', '.join(PRESETS)}."
        ) from None
    return preset if has_public or not preset.without_public else _FALLBACK_PRESETS[preset.without_public]


for _key in ("quick-cvae", "standard-cvae", "gpu-diffusion"):
    _FALLBACK_PRESETS[_key] = PRESETS.pop(_key)

PRESET_DURATIONS = {
    "quick": "about 5–10 min on 2 CPU cores (a first run on a public folder trains its autoencoder; later ones reuse it)",
    "standard": "about 25–45 min on 2 CPU cores (predicted from timed steps; not yet run end to end)",
    "gpu": "for a CUDA GPU (not yet timed)",
}
"""Each preset's expected duration in words (the Train page's preset picker shows it)."""
