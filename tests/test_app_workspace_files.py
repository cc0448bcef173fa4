""" "Your files" (in the sidebar) lets the user delete an upload and a finished job (issue 15, finding 7).

The panel runs on its own here: AppTest's reruns of ``app.py`` (under ``st.navigation``) come back
with an empty sidebar, so widget clicks there cannot be followed.
"""

from __future__ import annotations

import io

import pytest
from app_support import TIMEOUT_S, demo_home, fake_job, home  # noqa: F401 (fixtures used by name)
from streamlit.testing.v1 import AppTest

from dptab_core.uploads import save_stream

pytestmark = pytest.mark.usefixtures("home")


def _panel() -> None:
    from ui.workspace_admin import manage_files

    manage_files()


def test_deleting_an_upload_and_a_finished_job_needs_the_tick_then_one_click():
    upload = save_stream(io.BytesIO(b"age\n30\n"), "mine.csv")
    job = fake_job("succeeded")
    at = AppTest.from_function(_panel, default_timeout=TIMEOUT_S).run()
    assert not at.exception, at.exception
    assert at.button(key=f"del_up_{upload.parent.name}").disabled, "deleting needs the tick first"
    at.checkbox(key="allow_delete").check().run()
    at.button(key=f"del_up_{upload.parent.name}").click().run()
    assert not at.exception, at.exception
    assert not upload.exists(), "the upload was not deleted"
    at.button(key=f"del_job_{job.id}").click().run()
    assert not at.exception, at.exception
    assert not job.dir.exists(), "the job was not deleted"


def test_a_running_job_cannot_be_deleted():
    job = fake_job("running")
    at = AppTest.from_function(_panel, default_timeout=TIMEOUT_S).run()
    at.checkbox(key="allow_delete").check().run()
    assert at.button(key=f"del_job_{job.id}").disabled and job.dir.exists()
