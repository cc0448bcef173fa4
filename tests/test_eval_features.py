"""The evaluation CNN learns attributes that the images show, and its weights are cached."""

import numpy as np
import pytest
import torch
from eval_fakes import fake_pairs, fake_schema

from dptab_core.data.encoding import encode_table
from dptab_core.eval.features import FeatureConfig, train_attribute_classifier

FAST = FeatureConfig(epochs=5, batch_size=64)
SIZES = {"colour": 4, "size": 3, "group": 3}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_classifier_reads_the_colour_from_held_out_images(tmp_path):
    schema = fake_schema()
    table, images = fake_pairs(160, seed=0)
    codes = encode_table(table, schema)
    train = {k: v[:120] for k, v in codes.items()}
    clf = train_attribute_classifier(images[:120], train, SIZES, config=FAST, cache_dir=tmp_path)
    predicted = clf.predict(images[120:])
    accuracy = float(np.mean(predicted["colour"] == codes["colour"][120:]))
    assert accuracy > 0.9, f"colour fills the whole image; held-out accuracy was {accuracy:.2f}"
    assert clf.embed(images[:5]).shape == (5, FAST.feature_dim)


def test_second_training_on_the_same_data_loads_the_cached_weights(tmp_path, monkeypatch):
    table, images = fake_pairs(40, seed=1)
    codes = encode_table(table, fake_schema())
    config = FeatureConfig(epochs=1, batch_size=32)
    first = train_attribute_classifier(images, codes, SIZES, config=config, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("attribute_net_*.pt"))) == 1
    monkeypatch.setattr(torch.optim, "Adam", lambda *a, **k: pytest.fail("trained again instead of loading the cache"))
    second = train_attribute_classifier(images, codes, SIZES, config=config, cache_dir=tmp_path)
    np.testing.assert_array_equal(first.embed(images), second.embed(images))
