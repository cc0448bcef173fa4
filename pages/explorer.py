"""ε explorer: what each privacy budget would give, with the current plan marked.

Two views: the planner's answer for every ε on the scale (live, from n and the schema only), and —
when an ε-sweep evaluation job has run — measured quality against ε.
"""

import streamlit as st

from dptab_core.eval.figures import metric_vs_epsilon_figure
from dptab_core.planning import DEFAULT_EPSILON
from ui import explorer_view as ev
from ui.state import get_state
from ui.widgets import plain_errors, require_dataset, summary_line

state = get_state()
st.title("ε explorer")
summary_line(state)
if not require_dataset(state):
    st.stop()
st.caption("The planner view below uses only n and the schema: it reads no private data.")

options = state.plan_options
current = options.get("epsilon", DEFAULT_EPSILON)

st.subheader("What each ε gives (planner)")
with plain_errors("planning the ε scale"):
    rows = ev.plan_each_epsilon(options, ev.state_key(state), state)
    measure = st.radio("Show", list(ev.NOISE_MEASURES), horizontal=True, key="explorer_measure")
    st.plotly_chart(metric_vs_epsilon_figure(rows, metric=measure, current_epsilon=current), key="explorer_noise")
    st.caption(ev.NOISE_MEASURES[measure] + " Lower is better; ε values the planner rejects are left out.")
    st.dataframe(ev.as_table(rows), hide_index=True)

st.subheader("Measured quality against ε (evaluation sweep) — data owner's view")
st.caption("Measured on your real data: each point is a separate run that reads the data again. Use it to "
           "understand the trade-off, not as part of any release's budget.")
sweep = ev.latest_sweep()
if sweep is None:
    st.info("No ε-sweep has run in this workspace yet. Start one from the command line "
            "(`python -m dptab_core sweep --csv … --images … --epsilons 1,3,10`); its results appear here.")
else:
    metric = st.selectbox("Metric", ev.sweep_metrics(sweep), key="explorer_metric")
    st.plotly_chart(metric_vs_epsilon_figure(sweep, metric=metric, current_epsilon=current), key="explorer_sweep")
