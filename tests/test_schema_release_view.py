"""The schema published with a release says nothing that was read off the private data."""

import json

import pandas as pd

from dptab_core.data.infer import propose_schema


def _proposal() -> tuple[pd.DataFrame, str]:
    ages = [str(a) for a in range(20, 60)] + ["97"]
    frame = pd.DataFrame({
        "patient": [f"P{i:03d}" for i in range(len(ages))],
        "age": ages,
        "site": ["arm", "leg"] * 20 + ["arm"],
        "image": [f"img{i}.png" for i in range(len(ages))],
    })
    return frame, json.dumps(propose_schema(frame, image_column="image").to_dict())


def test_the_inferred_proposal_quotes_the_data_for_the_data_owner():
    _, proposal = _proposal()
    assert "97" in proposal, "the proposal is expected to show the observed range to the data owner"


def test_the_release_view_drops_every_observed_extreme_and_count():
    frame, _ = _proposal()
    released = propose_schema(frame, image_column="image").release_view()
    notes = " ".join(c.note for c in released.columns)
    assert "97" not in notes and "41" not in notes, f"a released note quotes the data: {notes!r}"


def test_the_release_view_keeps_paid_notes_and_says_what_was_declared_public():
    frame, _ = _proposal()
    schema = propose_schema(frame, image_column="image")
    age = schema.column("age").with_domain(bounds=(0.0, 120.0), public=True)
    released = schema.replace_column(age).release_view()
    assert released.column("age").note == "domain declared public by the user"
    assert released.column("patient").note == "excluded: not released"
