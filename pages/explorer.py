"""ε explorer: what each privacy budget would give, with the current plan marked.

Two views: the planner's answer for every ε on the scale (live, from n and the schema only), and —
when an ε-sweep evaluation job has run — measured quality against ε.
"""

import streamlit as st

from dptab_core import jobs
from dptab_core.eval.figures import metric_vs_epsilon_figure
from dptab_core.pipeline.planning import DEFAULT_EPSILON
from ui import explorer_view as ev
from ui import job_view
from ui.job_view import DEFAULT_TABLE_MECHANISM, TABLE_MECHANISM_KEY
from ui.safe_text import md
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
    mechanism = st.session_state.get(TABLE_MECHANISM_KEY, DEFAULT_TABLE_MECHANISM)
    rows = ev.plan_each_epsilon(options, f"{ev.state_key(state)}|{mechanism}", state, mechanism)
    measure = st.radio("Show", list(ev.NOISE_MEASURES), horizontal=True, key="explorer_measure")
    st.plotly_chart(metric_vs_epsilon_figure(rows, metric=measure, current_epsilon=current), key="explorer_noise")
    st.caption(ev.NOISE_MEASURES[measure] + " Lower is better; ε values the planner rejects are left out.")
    st.dataframe(ev.as_table(rows), hide_index=True)

st.subheader("Measured quality against ε (evaluation sweep) — data owner's view")
st.caption(
    "Measured on your real data: each point is a separate run that reads the data again. Use it to "
    "understand the trade-off, not as part of any release's budget."
)
sweep = ev.latest_sweep()
if sweep is None:
    st.info("No ε sweep has run in this workspace yet: start one below; its results appear here when it finishes.")
else:
    metric = st.selectbox("Metric", ev.sweep_metrics(sweep), key="explorer_metric", format_func=ev.metric_label)
    st.plotly_chart(
        metric_vs_epsilon_figure(sweep, metric=metric, metric_label=ev.metric_label(metric), current_epsilon=current),
        key="explorer_sweep",
    )

running = ev.running_sweep()
if running is not None:
    status = running.status()
    st.progress(
        min(1.0, max(0.0, status.fraction or 0.0)),
        text=f"Sweep `{running.id}` on {md(job_view.job_dataset(running.spec))}: "
        f"{status.state}" + (f" — {status.message}" if status.message else ""),
    )
else:
    with st.expander("Start an ε sweep on this dataset", expanded=sweep is None):
        with plain_errors("preparing the sweep"):
            spec = ev.sweep_form(
                state,
                lambda: job_view.synth_spec(
                    state,
                    preset=state.preset or "quick",
                    device="auto",
                    table_mechanism=st.session_state.get(TABLE_MECHANISM_KEY, DEFAULT_TABLE_MECHANISM),
                ),
            )
            if spec is not None:
                job = jobs.submit(spec)
                st.success(f"Sweep `{job.id}` started.")
                st.rerun()
