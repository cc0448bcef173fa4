"""DP-TabImage Studio: the app shell — page config, the five steps, and the sidebar badge.

No logic lives here: each step is one page under ``pages/`` and the engine is ``dptab_core``.
Run it with ``streamlit run app.py`` (``./studio start`` does that, bound to 127.0.0.1).
"""

import streamlit as st

from dptab_core.workspace import private_umask
from ui.badge import sidebar_badge
from ui.demo import ready_on_first_launch
from ui.state import get_state
from ui.widgets import PAGES, plain_errors
from ui.workspace_admin import manage_files

private_umask()  # uploads and extracted images are the user's alone (0600 files, 0700 folders)
# An emoji favicon is drawn in the page; a ":material/…:" one is fetched from fonts.gstatic.com (no outside requests).
st.set_page_config(page_title="DP-TabImage Studio", page_icon="🛡️", layout="wide")

steps = st.navigation(
    [
        st.Page(PAGES["data"], title="1 · Data", icon=":material/table_view:", default=True),
        st.Page(PAGES["budget"], title="2 · Budget", icon=":material/balance:"),
        st.Page(PAGES["train"], title="3 · Train", icon=":material/model_training:"),
        st.Page(PAGES["results"], title="4 · Results", icon=":material/compare:"),
        st.Page(PAGES["explorer"], title="ε explorer", icon=":material/explore:"),
    ]
)
with plain_errors("preparing the demo dataset"):
    ready_on_first_launch(get_state())
with st.sidebar:
    sidebar_badge()
    manage_files()
steps.run()
