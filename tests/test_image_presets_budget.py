"""The CPU presets keep their promises: every setting has a reason, and ``standard`` fits its ~30 minutes.

The time itself is measured by benchmarks/bench_preset_cost.py (too slow for CI); these tests pin
what that measurement rests on — the model size and the step counts the pipeline really runs — so
a change that would blow the budget fails here and sends the author back to the benchmark.
"""

from __future__ import annotations

import dataclasses
import math

import pytest

from dptab_core.image.presets import PRESETS, ImagePreset, get_preset
from dptab_core.pipeline.planning import plan_kwargs

DEMO_ROWS = 2000
"""The default demo's size (dptab_core.data.demo.DemoConfig.rows): what the presets are sized for."""


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_reason_names_a_preset_setting(name):
    fields = {f.name for f in dataclasses.fields(ImagePreset)}
    unknown = set(get_preset(name).reasons) - fields
    assert not unknown, f"preset {name} gives reasons for settings that do not exist: {sorted(unknown)}"


def test_standard_gives_a_reason_for_every_setting_it_changes_from_quick():
    quick, standard = get_preset("quick"), get_preset("standard")
    changed = [
        f.name
        for f in dataclasses.fields(ImagePreset)
        if f.name not in ("name", "reasons") and getattr(quick, f.name) != getattr(standard, f.name)
    ]
    missing = [name for name in changed if name not in standard.reasons]
    assert not missing, f"standard changes {missing} from quick without saying why"


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_draws_images_of_at_least_32_pixels_with_public_images(name):
    assert get_preset(name).resolution >= 32, f"{name} draws {get_preset(name).resolution}x images: too small to judge"


def test_standard_trains_a_wider_autoencoder_longer_with_a_larger_batch_and_more_dpsgd_steps():
    quick, standard = get_preset("quick"), get_preset("standard")
    assert standard.width > quick.width, "standard's autoencoder should be wider (sharper decodes)"
    assert standard.pretrain_steps > quick.pretrain_steps, "standard should train its autoencoder longer"
    assert standard.dpsgd_batch > quick.dpsgd_batch, "standard should average more images per DP-SGD step"
    assert standard.dpsgd_steps > quick.dpsgd_steps, "standard should train longer under DP-SGD than quick"


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_dpsgd_updates_only_the_small_latent_model_never_the_public_autoencoder(name):
    from dptab_core.data.demo import demo_schema
    from dptab_core.image.encoder import RecordEncoder
    from dptab_core.image.models import build_model

    model = build_model(get_preset(name), RecordEncoder(demo_schema()).dim, (32, 32, 3))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert all(not p.requires_grad for p in model.autoencoder.parameters()), "the public autoencoder must be frozen"
    assert trainable < 2.5e5, f"{name}: DP-SGD would update {trainable} parameters; the latent model should stay small"


@pytest.mark.parametrize(("name", "family"), [("quick", "cvae"), ("standard", "cvae"), ("gpu", "diffusion")])
def test_a_job_without_public_images_runs_the_presets_fallback_family(name, family):
    assert get_preset(name).family == "latent"
    assert get_preset(name, has_public=False).family == family


def test_standard_fallback_model_stays_near_one_million_parameters_on_the_demo():
    from dptab_core.data.demo import demo_schema
    from dptab_core.image.encoder import RecordEncoder
    from dptab_core.image.models import build_model

    model = build_model(get_preset("standard", has_public=False), RecordEncoder(demo_schema()).dim, (32, 32, 3))
    params = sum(p.numel() for p in model.parameters())
    assert 0.5e6 < params < 1.5e6, (
        f"standard's model has {params / 1e6:.2f} M parameters; its ~30-minute budget was measured at 1.1 M "
        "(width 48 = 3.5 M made it ~3 CPU hours): re-run benchmarks/bench_preset_cost.py --preset standard"
    )


def test_standard_plans_exactly_its_dpsgd_steps_and_batch_on_the_demo():
    kwargs = plan_kwargs({}, preset="standard", n_rows=DEMO_ROWS, channels=3, n_paid_columns=6, n_public_labels=6)
    dpsgd, preset = kwargs["dpsgd"], get_preset("standard")
    steps = dpsgd.epochs * math.ceil(DEMO_ROWS / dpsgd.batch_size)
    assert dpsgd.batch_size == preset.dpsgd_batch, f"planned batch {dpsgd.batch_size}, preset {preset.dpsgd_batch}"
    assert steps == preset.dpsgd_steps, (
        f"the plan runs {steps} DP-SGD steps on the demo, the preset (and its timing) says {preset.dpsgd_steps}"
    )
