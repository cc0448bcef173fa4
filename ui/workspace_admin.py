"""Your files: the uploads and jobs in the workspace, each with a Delete button (sidebar expander).

Deleting is two clicks (tick, then delete). A job's privacy spend stays on its dataset's budget
book after the job is deleted; uploads an unfinished job still reads cannot be deleted.
"""

from __future__ import annotations

import streamlit as st

from dptab_core.errors import InputError
from dptab_core.jobs import JobStore
from dptab_core.uploads import delete_job, delete_upload, list_uploads
from ui.safe_text import md

SHOWN = 15


def _size(n: int) -> str:
    return f"{n / 1e6:,.1f} MB" if n >= 1e5 else f"{n / 1e3:,.0f} kB"


def manage_files() -> None:
    """The expander listing uploads and jobs with delete buttons."""
    with st.expander("Your files (uploads and jobs)"):
        confirm = st.checkbox(
            "Allow deleting",
            key="allow_delete",
            help="Deleted uploads and jobs cannot be restored. A job's privacy spend stays on its dataset's budget.",
        )
        uploads = list_uploads()
        st.caption(f"{len(uploads)} upload(s)" if uploads else "No uploads.")
        for upload in uploads[:SHOWN]:
            left, right = st.columns([3, 1])
            used = f" · read by job {', '.join(upload.used_by)}" if upload.used_by else ""
            left.caption(f"{md(upload.label)} · {_size(upload.size_bytes)}{used}")
            if right.button("Delete", key=f"del_up_{upload.path.name}", disabled=not confirm or bool(upload.used_by)):
                _run(delete_upload, upload.path)
        jobs = JobStore().list()
        st.caption(f"{len(jobs)} job(s)" if jobs else "No jobs.")
        for job in jobs[:SHOWN]:
            status = job.status()
            left, right = st.columns([3, 1])
            left.caption(f"job {job.id} · {status.state}")
            if right.button("Delete", key=f"del_job_{job.id}", disabled=not confirm or not status.finished):
                _run(delete_job, job.id)


def _run(action, target) -> None:
    try:
        action(target)
    except InputError as exc:
        st.error(str(exc))
        return
    st.rerun()
