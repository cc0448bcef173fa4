"""Step 3 · Train: pick a preset and a table synthesizer, launch a background job, follow it stage by stage, cancel it.

The job runs in its own process (``dptab_core.jobs``); this page only reads the job folder on disk,
so a browser refresh (the job id is in the URL) or an app restart finds the same job again.
"""

import streamlit as st

from dptab_core import jobs
from ui import job_view
from ui.device import detect_device
from ui.state import get_state
from ui.widgets import next_button, plain_errors, require_dataset, summary_line

state = get_state()
st.title("3 · Train")
job_view.attach_from_url(state)
followed = job_view.load_job(state.job_id) if state.job_id else None
summary_line(state, job_dataset=job_view.job_dataset(followed.spec) if followed is not None else None)

if state.job_id is None:
    if not require_dataset(state):
        st.stop()
    if not state.plan_options:
        st.info("Choose a privacy budget first: training spends exactly what the plan says.")
        next_button("Set the budget →", "budget", ready=True)
        st.stop()

    device = detect_device()
    st.markdown(f"**Training will run on:** {device.label}")
    preset = job_view.preset_picker(state, device)
    mechanism = job_view.table_mechanism_picker()
    gpus = job_view.gpus_picker(device)
    st.caption(
        "Training runs in the background: you can leave this page, refresh the browser or close it. "
        "Every run is a new release and spends its own ε."
    )
    if st.button("Start training", type="primary", key="launch"):
        with plain_errors("starting the training job"):
            job = jobs.submit(
                job_view.synth_spec(state, preset=preset, device=device.kind, table_mechanism=mechanism, gpus=gpus)
            )
            state.job_id = job.id
            st.query_params["job"] = job.id
            st.rerun()
    job_view.past_jobs(state)
    st.stop()

job = followed
if job is None:
    st.error(f"Job `{state.job_id}` is not in the workspace any more (deleted?).")
    if st.button("Start a new run", key="forget_missing"):
        job_view.forget(state)
    st.stop()


@st.fragment(run_every=2 if job_view.is_active(job) else None)
def follow() -> None:
    """Redraw the job's progress every 2 s while it runs; one full rerun when it ends."""
    was_active = st.session_state.get(f"_active_{job.id}", False)
    jobs.refresh()
    status = job.status()
    active = status.state in ("queued", "running")
    job_view.show_status(job, status)
    st.session_state[f"_active_{job.id}"] = active
    if was_active and not active:
        st.rerun(scope="app")


follow()
status = job.status()
if job_view.is_active(job):
    if st.button("Cancel this run", key="cancel"):
        with plain_errors("cancelling the job"):
            jobs.cancel(job.id, wait=False)
            st.rerun()
else:
    left, right = st.columns(2)
    with left:
        next_button(
            "See the results →",
            "results",
            ready=status.state == "succeeded",
            why_not="Results appear once a run has finished successfully.",
        )
    if right.button("Start a new run", key="new_run"):
        job_view.forget(state)
job_view.past_jobs(state)
