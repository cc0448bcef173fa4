"""The record encoder and the pixel format of the image model."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dptab_core.data.schema import Column, Schema
from dptab_core.image.encoder import RecordEncoder, decode_images, encode_images

SCHEMA = Schema(
    columns=(
        Column("sex", "categorical", categories=("f", "m"), public=True),
        Column("age", "numeric", dtype="int", bounds=(0, 100), bins=4, public=True),
        Column("id", "excluded"),
        Column("img", "image"),
    ),
    image_column="img",
)


def test_a_record_is_one_hot_in_every_attribute_block():
    enc = RecordEncoder(SCHEMA)
    vec = enc.encode(pd.DataFrame({"sex": ["m", "f"], "age": [99, None], "id": ["a", "b"], "img": ["x", "y"]}))
    assert vec.shape == (2, (3 + 1) + (5 + 1)), "blocks are domain size (missing included) + unspecified"
    assert vec.sum(axis=1).tolist() == [2.0, 2.0]
    assert vec[1, enc.offsets["age"] + 4] == 1.0, "a missing age must use the missing code"


def test_a_mean_pair_sets_its_attribute_and_fills_the_others_with_their_marginal():
    enc = RecordEncoder(SCHEMA)
    marg = {"sex": np.array([0.4, 0.6, 0.0]), "age": np.array([0.1, 0.2, 0.3, 0.4, 0.0])}
    vec = enc.encode_mean_pair("age", 2, marg)
    assert vec[enc.offsets["age"] + 2] == 1.0 and vec[enc.offsets["age"] : enc.offsets["age"] + 6].sum() == 1.0
    assert np.allclose(vec[:4], [0.4, 0.6, 0.0, 0.0])
    assert enc.encode_mean_pair("age", 2)[3] == 1.0, "without marginals the other blocks are unspecified"


def test_images_round_trip_through_the_model_format():
    images = np.random.default_rng(0).integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    x = encode_images(images, 8)
    assert x.min() >= -1.0 and x.max() <= 1.0 and x.shape == (3, 3, 8, 8)
    assert np.array_equal(decode_images(x), images)
