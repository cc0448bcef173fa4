"""DP-SGD fine-tuning: accounting agrees with Opacus, cancel/resume, plan checks, model validity."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from dptab_core.errors import PlanError  # noqa: E402
from dptab_core.image.dpsgd import ENGINES, finetune_dpsgd, opacus_batch_size, opacus_sampling_rate  # noqa: E402
from dptab_core.image.models import build_model  # noqa: E402
from dptab_core.image.presets import PRESETS, get_preset  # noqa: E402
from dptab_core.privacy.ledger import Ledger  # noqa: E402

TINY = dataclasses.replace(get_preset("quick", has_public=False), resolution=8, width=8, latent_dim=4)


def _run(ledger, **kw):
    import torch

    torch.manual_seed(0)
    model = build_model(TINY, 5, (8, 8, 3))
    rng = np.random.default_rng(0)
    args = dict(
        noise_multiplier=1.3,
        sampling_rate=0.25,
        steps=6,
        max_grad_norm=1.0,
        ledger=ledger,
        device=torch.device("cpu"),
        lr=1e-3,
    )
    args.update(kw)
    return finetune_dpsgd(
        model, rng.integers(0, 256, (64, 8, 8, 3), dtype=np.uint8), rng.random((64, 5)).astype(np.float32), **args
    )


@pytest.mark.parametrize("engine", ENGINES)
def test_opacus_epsilon_equals_the_ledger_entry_composed_by_dp_accounting(engine):
    import dp_accounting as dpa

    ledger = Ledger()
    result = _run(ledger, engine=engine)
    (entry,) = ledger.entries
    assert (entry.stage, entry.mechanism, entry.steps) == ("dpsgd", "subsampled_gaussian", 6)
    acc = dpa.rdp.RdpAccountant()
    acc.compose(
        dpa.SelfComposedDpEvent(
            dpa.PoissonSampledDpEvent(entry.sampling_rate, dpa.GaussianDpEvent(entry.noise_multiplier)), entry.steps
        )
    )
    ours, theirs = acc.get_epsilon(1e-5), result.accountant.get_epsilon(1e-5)
    assert theirs == pytest.approx(ours, rel=1e-3), f"Opacus says ε={theirs}, the ledger entry composes to ε={ours}"


def test_a_cancelled_run_records_the_steps_taken_and_resumes_from_its_checkpoint(tmp_path):
    ledger = Ledger()
    calls = []
    first = _run(
        ledger,
        steps=8,
        checkpoint_dir=tmp_path,
        should_stop=lambda: len(calls) >= 3,
        progress=lambda f, m, s: calls.append(s),
    )
    assert first.steps_done == 3 and ledger.entries[0].steps == 3, "cancel must stop and account the steps taken"
    second = _run(ledger, steps=8, checkpoint_dir=tmp_path)
    assert second.steps_done == 8 and second.steps_this_call == 5, "resume must continue from the checkpoint"
    assert sum(e.steps for e in ledger.entries) == 8, "ledger must hold exactly the steps taken over both calls"


def test_a_sampling_rate_opacus_cannot_run_is_refused():
    assert opacus_batch_size(2000, opacus_sampling_rate(2000, 256)) == 250
    with pytest.raises(PlanError, match="1/m"):
        opacus_batch_size(2000, 0.128)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_model_passes_the_opacus_validator(name):
    from opacus.validators import ModuleValidator

    assert ModuleValidator.validate(build_model(get_preset(name), 12, (32, 32, 3))) == []


def test_the_loss_in_progress_messages_is_labelled_not_private_owner_only():
    messages = []
    _run(Ledger(), steps=2, progress=lambda f, m, s: messages.append(m))
    with_loss = [m for m in messages if "loss" in m]
    assert with_loss and all("not private, owner only" in m for m in with_loss), messages
