"""Proof that the conditioning works: a non-private model draws the attribute it is conditioned on."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest


@pytest.mark.slow
def test_a_non_private_model_draws_the_skin_type_it_is_conditioned_on():
    import torch

    from dptab_core.data.demo import demo_schema, generate_table
    from dptab_core.data.demo_images import render_lesion_images
    from dptab_core.data.encoding import encode_table
    from dptab_core.image.encoder import RecordEncoder, encode_images
    from dptab_core.image.models import build_model
    from dptab_core.image.presets import get_preset
    from dptab_core.image.sample import sample_images
    from dptab_core.image.semantic import predict_proba, train_classifier
    from dptab_core.image.train import fit

    torch.set_num_threads(2)
    preset = dataclasses.replace(get_preset("quick", has_public=False), resolution=8, width=16, latent_dim=4)
    schema = demo_schema()
    table = generate_table(800, rng=np.random.default_rng(0))
    images = render_lesion_images(table, rng=np.random.default_rng(1))
    encoder = RecordEncoder(schema)
    cond = encoder.encode(table)
    model = build_model(preset, encoder.dim, (32, 32, 3))
    fit(
        model,
        model,
        encode_images(images, 8),
        cond,
        steps=250,
        batch_size=64,
        lr=3e-3,
        seed=0,
        device=torch.device("cpu"),
        label="test",
    )

    skin = encode_table(table, schema)["skin_type"]
    reader = train_classifier(encode_images(images, 8), skin, 7, width=8, steps=150, seed=0, device="cpu")
    perm = np.random.default_rng(2).permutation(len(table))[:300]
    rows = np.arange(300)
    drawn = sample_images(model, cond[rows], seed=0, batch_size=100, device="cpu", temperature=0.8)
    shuffled = sample_images(model, cond[perm], seed=0, batch_size=100, device="cpu", temperature=0.8)

    def accuracy(imgs):
        return float((predict_proba(reader, encode_images(imgs, 8), "cpu").argmax(1) == skin[rows]).mean())

    got, base = accuracy(drawn), accuracy(shuffled)
    assert got > base + 0.3, f"skin type read back from conditioned images {got:.2f} vs shuffled {base:.2f}"
