"""The schema published with a release says nothing that was read off the private data."""

import json
from dataclasses import replace

import pandas as pd

from dptab_core.data.infer import propose_schema


def _proposal() -> tuple[pd.DataFrame, str]:
    ages = [str(a) for a in range(20, 60)] + ["97"]
    frame = pd.DataFrame(
        {
            "patient": [f"P{i:03d}" for i in range(len(ages))],
            "age": ages,
            "site": ["arm", "leg"] * 20 + ["arm"],
            "image": [f"img{i}.png" for i in range(len(ages))],
        }
    )
    return frame, json.dumps(propose_schema(frame, image_column="image").to_dict())


def test_the_inferred_proposal_prefills_bounds_snapped_outward_not_the_observed_extremes():
    frame, _ = _proposal()
    age = propose_schema(frame, image_column="image").column("age")
    assert age.bounds == (10, 100), f"pre-filled bounds {age.bounds} must be grid points around 20–97"


def test_the_release_view_drops_every_observed_extreme_and_count():
    frame, _ = _proposal()
    released = propose_schema(frame, image_column="image").release_view()
    notes = " ".join(c.note for c in released.columns)
    assert "97" not in notes and "41" not in notes, f"a released note quotes the data: {notes!r}"


def test_the_release_view_keeps_paid_notes_and_says_what_was_declared_public():
    frame, _ = _proposal()
    schema = propose_schema(frame, image_column="image")
    age = replace(schema.column("age").with_domain(bounds=(0.0, 120.0), public=True), binning="equal", missing="never")
    released = schema.replace_column(age).release_view()
    assert released.column("age").note == "domain declared public by the user"
    still_paid = schema.replace_column(schema.column("age").with_domain(bounds=(0.0, 120.0), public=True))
    assert still_paid.release_view().column("age").note == "domain paid from the privacy budget", (
        "public bounds with DP quantile bins still pay for the bins"
    )
    assert released.column("patient").note == "excluded: not released"
