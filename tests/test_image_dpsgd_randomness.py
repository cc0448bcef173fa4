"""DP-SGD's privacy randomness (Poisson batches, Gaussian noise) is fresh on every run unless seeded on purpose."""

import numpy as np
import pytest
import torch

from dptab_core.image.dpsgd import finetune_dpsgd  # noqa: E402
from dptab_core.image.models import build_model  # noqa: E402
from dptab_core.image.presets import get_preset  # noqa: E402
from dptab_core.privacy.ledger import Ledger  # noqa: E402

ROWS = 8
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pairs():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (ROWS, 16, 16, 3), dtype=np.uint8)
    conditions = np.eye(4, dtype=np.float32)[rng.integers(0, 4, ROWS)]
    return images, conditions


def _train(pairs, *, noise_seed, steps=12):
    images, conditions = pairs
    torch.manual_seed(0)
    model = build_model(get_preset("quick", has_public=False), 4, (16, 16, 3))
    ledger = Ledger()
    finetune_dpsgd(
        model,
        images,
        conditions,
        noise_multiplier=1.0,
        sampling_rate=1 / ROWS,
        steps=steps,
        max_grad_norm=1.0,
        ledger=ledger,
        device=torch.device("cpu"),
        lr=1e-3,
        seed=0,
        noise_seed=noise_seed,
    )
    return torch.cat([p.detach().flatten() for p in model.parameters()]), ledger


def test_two_runs_with_the_same_seed_draw_different_noise(pairs):
    first, _ = _train(pairs, noise_seed=None)
    second, _ = _train(pairs, noise_seed=None)
    assert not torch.equal(first, second), "DP-SGD noise repeated across runs: the seed would let anyone remove it"


def test_a_given_noise_seed_reproduces_the_run(pairs):
    first, _ = _train(pairs, noise_seed=7)
    second, _ = _train(pairs, noise_seed=7)
    assert torch.equal(first, second), "reproducible_noise runs must be bit-identical"


def test_empty_poisson_batches_do_not_stop_training_and_every_step_is_recorded(pairs):
    # At q = 1/8 on 8 rows about a third of the 12 batches are empty.
    _, ledger = _train(pairs, noise_seed=3)
    assert [e.steps for e in ledger.entries] == [12], ledger.to_dicts()
