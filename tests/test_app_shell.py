"""The app shell: navigation over the five steps, the sidebar badge, and no torch in the app process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from app_support import ROOT, demo_home, demo_state, fake_job, home, page  # noqa: F401 (fixtures used by name)

from ui.state import STATE_KEY

pytestmark = pytest.mark.usefixtures("home")
PAGES = ("pages/data.py", "pages/budget.py", "pages/train.py", "pages/results.py", "pages/explorer.py")


def sidebar_text(at) -> str:
    return " ".join(m.value for m in at.sidebar.markdown) + " " + " ".join(c.value for c in at.sidebar.caption)


def test_first_launch_opens_the_data_step_with_the_demo_ready():
    at = page("app.py").run()
    assert not at.exception, at.exception
    assert at.title[0].value == "1 · Data"
    assert at.session_state[STATE_KEY].has_dataset, "the demo is not ready on first launch"
    assert "Demo" in sidebar_text(at), "the sidebar badge does not name the dataset"


def test_every_step_renders_without_an_exception():
    at = page("app.py", demo_state(plan_options={"epsilon": 3.0})).run()
    for path in PAGES:
        at.switch_page(path).run()
        assert not at.exception, f"{path}: {at.exception}"


def test_the_badge_shows_the_running_job():
    # AppTest.switch_page runs a page file without app.py, so the badge on other pages is checked
    # in the browser test; here the shell's own run is enough.
    job = fake_job("running", stage="dpsgd", fraction=0.4)
    at = page("app.py", demo_state(job_id=job.id)).run()
    assert job.id in sidebar_text(at) and "running" in sidebar_text(at), sidebar_text(at)
    assert at.sidebar.get("progress"), "no progress bar in the badge"


@pytest.mark.slow
def test_the_app_process_never_imports_torch_jax_or_opacus():
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT / "tests")!r})
        from streamlit.testing.v1 import AppTest
        from app_support import demo_state, ROOT
        from ui.state import STATE_KEY
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
        at.session_state[STATE_KEY] = demo_state(plan_options={{"epsilon": 3.0}})
        at.run()
        for path in {PAGES!r}:
            at.switch_page(path).run()
            assert not at.exception, (path, at.exception)
        print(sorted(m for m in ("torch", "jax", "opacus", "mbi") if m in sys.modules))
    """)
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=600, env=dict(os.environ)
    )  # DPTAB_HOME: the fixture workspace
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[]", f"heavy modules imported: {done.stdout}"
