"""Step 2 · Budget: how much privacy to spend, and where — with a live accountant.

Every move re-plans with ``dptab_core.privacy.plan_budget`` (RDP, no torch, well under 100 ms) and
redraws the per-stage noise and the pictures of what that noise does.
"""

import time

import streamlit as st

from dptab_core.pipeline.planning import DEFAULT_EPSILON, default_delta
from dptab_core.privacy.explain import describe_epsilon
from dptab_core.privacy.settings import STAGES
from ui import budget_view as bv
from ui.budget_book import budget_panel
from ui.charts import split_bar
from ui.job_view import table_mechanism_picker
from ui.state import get_state
from ui.widgets import next_button, plain_errors, require_dataset, summary_line

state = get_state()
st.title("2 · Budget")
summary_line(state)
if not require_dataset(state):
    st.stop()
n_rows, schema = state.n_rows, state.schema
st.caption("Planning uses only n (the number of rows) and the schema: your data is not read until training.")
saved = state.plan_options

st.subheader("How much privacy to spend")
epsilon = st.select_slider(
    "Privacy budget ε",
    options=bv.EPSILON_STEPS,
    key="eps",
    persist_state="session",
    value=saved.get("epsilon", DEFAULT_EPSILON),
)
ends = st.columns(2)
ends[0].caption("← stronger privacy")
ends[1].markdown(
    "<div style='text-align:right;font-size:0.85em;opacity:0.7'>more faithful data →</div>", unsafe_allow_html=True
)
st.info(describe_epsilon(epsilon))
if epsilon > bv.LARGE_EPSILON:
    st.warning(f"ε = {epsilon:g} is large: the guarantee becomes weak. Published deployments mostly stay below 10.")

suggested_delta = default_delta(n_rows)
delta = st.select_slider(
    "δ (chance the guarantee fails outright)",
    options=bv.DELTA_STEPS,
    key="delta",
    persist_state="session",
    value=saved.get("delta", suggested_delta),
    format_func=lambda d: f"{d:.0e}",
)
st.caption(
    f"Suggested: {suggested_delta:.0e} — at most 1/(10·n) for your {n_rows:,} rows, and no more than 1e-5, "
    "the usual ceiling."
)
if delta >= 1 / n_rows:
    st.warning(
        f"δ = {delta:.0e} is not below 1/n = {1 / n_rows:.1e}: a mechanism that publishes one random "
        "person's row would meet it. Choose a smaller δ."
    )

with st.expander("Where the budget goes (stage shares) and the image model's training", expanded=False):
    semantic_ok = state.public_dir is not None
    if not semantic_ok:
        st.caption("The public-image query is off: it needs a public labelled image folder (set on the Data page).")
    saved_shares = saved.get("shares", {})
    automatic = st.toggle(
        "Split the budget automatically (recommended)",
        value=not saved_shares,
        key="auto_shares",
        persist_state="session",
        help=bv.AUTOMATIC_SPLIT_WORDS,
    )
    shares = {}
    if automatic:
        st.caption(bv.AUTOMATIC_SPLIT_WORDS)
    else:
        start_shares = bv.automatic_shares(state, epsilon)
        for stage in STAGES:
            off = (stage == "semantic_query" and not semantic_ok) or (stage == "schema" and not schema.unpaid_domains())
            value = st.slider(
                bv.STAGE_LABELS[stage],
                0,
                100,
                key=f"share_{stage}",
                persist_state="session",
                value=int(round(100 * saved_shares.get(stage, start_shares[stage]))),
                disabled=off,
                help="Relative weight; the planner rescales the enabled stages to 100 %.",
            )
            if not off:
                shares[stage] = value / 100
    dpsgd = saved.get("dpsgd", {})
    preset = bv.preset_dpsgd(state)
    left, right = st.columns(2)
    epochs = left.number_input(
        "DP-SGD epochs", 1, 200, dpsgd.get("epochs", preset.epochs), key="epochs", persist_state="session"
    )
    batch = right.number_input(
        "DP-SGD batch size",
        1,
        n_rows,
        min(n_rows, dpsgd.get("batch_size", preset.batch_size)),
        key="batch",
        persist_state="session",
    )
    st.caption(f"Defaults come from the image preset ({state.preset or bv.DEFAULT_PRESET}).")

options = bv.plan_options(
    epsilon=epsilon, delta=delta, shares=shares, epochs=int(epochs), batch_size=int(batch), semantic_query=semantic_ok
)
plan = None
with plain_errors("planning the budget"):
    started = time.perf_counter()
    plan = bv.make_plan(options, state)
    st.session_state["_plan_ms"] = 1000 * (time.perf_counter() - started)

if plan is not None:
    state.plan_options = options
    st.subheader("Live accountant")
    cols = st.columns(3)
    cols[0].metric("Composed ε (all stages)", f"{plan.composed_epsilon:.3f}", help="Never above the target ε.")
    cols[1].metric("Target ε", f"{plan.epsilon:g}")
    cols[2].metric("Planning took", f"{st.session_state['_plan_ms']:.0f} ms")
    st.plotly_chart(split_bar({s: p.share for s, p in plan.stages.items() if p.enabled}, bv.STAGE_LABELS), key="split")
    st.dataframe(bv.stage_table(plan), hide_index=True)
    with st.expander("What each stage's noise means"):
        bv.stage_words(plan, preset=state.preset)
    for warning in plan.warnings:
        st.warning(warning)
    st.subheader("What this much noise does")
    mechanism = table_mechanism_picker(key="budget_table_mechanism", captions=False)
    bv.noise_pictures(
        plan, n_rows=n_rows, n_columns=len(schema.synthesized_columns()), preset=state.preset, mechanism=mechanism
    )

fits = budget_panel(state, epsilon=epsilon)
next_button(
    "Next: train →",
    "train",
    ready=plan is not None and delta < 1 / n_rows and fits,
    why_not="Fix the budget above first." if fits else "This run would pass the dataset's cap (above).",
)
