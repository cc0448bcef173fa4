"""The Budget page: ε and δ inputs, the live accountant, noise pictures, errors in plain words, speed."""

from __future__ import annotations

import statistics
import time

import pytest
from app_support import demo_home, demo_state, home, page  # noqa: F401 (fixtures used by name)

from dptab_core.pipeline.planning import DEFAULT_EPSILON, default_delta
from ui import budget_view as bv
from ui.state import STATE_KEY

pytestmark = pytest.mark.usefixtures("home")
BUDGET = "pages/budget.py"
REDRAW_LIMIT_MS = 100


def metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_the_page_shows_the_meaning_of_epsilon_the_split_and_both_noise_pictures():
    at = page(BUDGET, demo_state()).run()
    assert not at.exception, at.exception
    assert any(f"ε = {DEFAULT_EPSILON:g}" in i.value for i in at.info), "no plain-words meaning of the chosen ε"
    assert float(metric(at, "Composed ε (all stages)")) <= DEFAULT_EPSILON, "composed ε above the target"
    assert len(at.get("plotly_chart")) == 2, "expected the split bar and the noisy histogram"
    assert len(at.get("image")) == 2, "expected the mean image without and with noise"
    assert any("uses only n" in c.value for c in at.caption), "the page must say planning reads no private data"


def test_moving_epsilon_redraws_the_accountant_and_stores_the_plan():
    at = page(BUDGET, demo_state()).run()
    before = at.dataframe[0].value["noise"].tolist()
    at.select_slider(key="eps").set_value(20.0).run()
    assert not at.exception, at.exception
    assert metric(at, "Target ε") == "20"
    assert at.dataframe[0].value["noise"].tolist() != before, "per-stage noise did not change with ε"
    assert at.session_state[STATE_KEY].plan_options["epsilon"] == 20.0
    assert any("large" in w.value for w in at.warning), "no warning at ε above 10"


def test_delta_at_or_above_one_over_n_warns_and_blocks_next():
    at = page(BUDGET, demo_state(n_rows=20_000)).run()
    at.select_slider(key="delta").set_value(1e-4).run()
    assert any("not below 1/n" in w.value for w in at.warning), "no δ ≥ 1/n warning"
    assert at.button(key="next_train").disabled


def test_an_impossible_plan_is_an_error_in_plain_words_not_a_traceback():
    at = page(BUDGET, demo_state(n_rows=300)).run()
    at.select_slider(key="eps").set_value(0.1).run()
    assert not at.exception, at.exception
    assert at.error and "Raise ε" in at.error[0].value, [e.value for e in at.error]
    assert at.button(key="next_train").disabled


def test_the_public_image_query_is_off_without_a_public_folder():
    at = page(BUDGET, demo_state(public_dir=None)).run()
    at.toggle(key="auto_shares").set_value(False).run()
    assert at.slider(key="share_semantic_query").disabled
    assert "semantic_query" not in at.session_state[STATE_KEY].plan_options["shares"]


def test_the_planning_call_behind_each_redraw_takes_under_100_ms():
    state = demo_state()
    options = bv.plan_options(
        epsilon=DEFAULT_EPSILON,
        delta=default_delta(state.n_rows),
        shares={},
        epochs=bv.preset_dpsgd(state).epochs,
        batch_size=256,
        semantic_query=True,
    )
    bv.make_plan(options, state)  # warm-up (imports, caches)
    times = []
    for _ in range(7):
        started = time.perf_counter()
        bv.make_plan(options, state)
        times.append(1000 * (time.perf_counter() - started))
    assert statistics.median(times) < REDRAW_LIMIT_MS, f"planning took {sorted(times)} ms"


def test_the_mean_image_picture_says_how_the_latent_family_releases_it_and_why_it_stays_on_at_small_epsilon():
    at = page(BUDGET, demo_state()).run()
    assert not at.exception, at.exception
    assert any(c.value == bv.LATENT_MEAN_PAIRS_WORDS for c in at.caption), (
        "the default (latent) preset's mean-image stage is not explained under its noise picture"
    )


def test_the_dpsgd_stage_says_the_latent_family_spends_half_its_steps_on_the_decoder():
    at = page(BUDGET, demo_state()).run()
    assert not at.exception, at.exception
    words = bv.LATENT_DPSGD_WORDS.format(decoder=0.5)  # the default (quick) preset's share
    assert "(50% with this preset)" in words
    assert any(c.value == words for c in at.caption), (
        "the default (latent) preset's DP-SGD stage does not say what its steps train"
    )


def test_the_split_is_automatic_until_the_user_asks_for_sliders():
    at = page(BUDGET, demo_state()).run()
    assert not at.exception, at.exception
    assert at.toggle(key="auto_shares").value, "the automatic split should be the default"
    assert not [s for s in at.slider if s.key.startswith("share_")], "share sliders shown in automatic mode"
    assert any(c.value == bv.AUTOMATIC_SPLIT_WORDS for c in at.caption), "the automatic split is not explained"
    assert at.session_state[STATE_KEY].plan_options["shares"] == {}, "automatic mode must leave the split to the plan"


@pytest.mark.parametrize("epsilon", [1.0, 10.0])
def test_hand_set_sliders_start_from_the_automatic_split_at_the_chosen_epsilon(epsilon):
    state = demo_state()
    state.plan_options = {"epsilon": epsilon}
    at = page(BUDGET, state).run()
    at.toggle(key="auto_shares").set_value(False).run()
    assert not at.exception, at.exception
    want = bv.automatic_shares(state, epsilon)
    for stage in ("mean_pairs", "dpsgd", "table"):
        got = at.slider(key=f"share_{stage}").value
        assert got == round(100 * want[stage]), f"at ε = {epsilon} the {stage} slider starts at {got}, want {want}"
