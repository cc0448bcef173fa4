"""The sidebar badge: which dataset is in use and which job runs, visible from every page.

It reads the job's ``status.json`` through :mod:`dptab_core.jobs` (cheap), and polls every few
seconds only while that job is active, so an idle app does no background work.
"""

from __future__ import annotations

import streamlit as st

from dptab_core.errors import JobError
from dptab_core.jobs.store import FINISHED_STATES, JobStatus, JobStore
from ui.budget_book import sidebar_line
from ui.job_view import STAGE_WORDS, job_dataset, load_job
from ui.safe_text import md
from ui.state import get_state

POLL_SECONDS = 3


def _followed_status() -> JobStatus | None:
    """Status of the job this session follows, else of the newest job still running on disk."""
    state = get_state()
    store = JobStore()
    try:
        followed = state.job_id or st.query_params.get("job")  # the page attaches to ?job= after the badge
        if followed:
            return store.get(followed).status()
        for job in store.list()[:10]:
            status = job.status()
            if not status.finished:
                return status
    except (JobError, OSError, ValueError):
        return None
    return None


def _draw() -> None:
    state = get_state()
    if state.has_dataset:
        public = f"  \npublic images: {md(state.public_label or 'yes')}" if state.public_dir else ""
        st.markdown(f"**Dataset:** {md(state.dataset_name or 'unnamed')}  \n{state.n_rows:,} rows{public}")
        sidebar_line(state)
    else:
        st.markdown("**Dataset:** none yet")
    status = _followed_status()
    if status is None:
        st.caption("No training job yet.")
        return
    job = load_job(status.id)
    on = job_dataset(job.spec) if job is not None else None
    on_words = f" on **{md(on)}**" if on and on != state.dataset_name else ""
    if status.finished:
        st.markdown(f"**Job** `{status.id}`{on_words}: {status.state}")
        return
    stage = f" · {STAGE_WORDS.get(status.stage, status.stage)}" if status.stage else ""
    st.markdown(f"**Job** `{status.id}`{on_words}: {status.state}{stage}")
    st.progress(min(1.0, max(0.0, status.fraction)))


def sidebar_badge() -> None:
    """Draw the badge (in the current container); re-draws itself every few seconds while a job is active."""
    status = _followed_status()
    active = status is not None and status.state not in FINISHED_STATES
    st.fragment(run_every=POLL_SECONDS if active else None)(_draw)()
