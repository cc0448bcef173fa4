"""Names from the data are shown as text, never rendered as markdown (issue 15, finding 8).

Reproduction from the audit: a column (or dataset) named ``![x](https://…/p.png)`` made the app load
a remote image.
"""

from __future__ import annotations

import re

import pytest
from app_support import demo_home, demo_state, home, page  # noqa: F401 (fixtures used by name)

from ui.safe_text import md

EVIL = "![x](https://evil.example/p.png) **bold** :red[alarm]"
RENDERS = re.compile(r"(?<!\\)!(?<!\\)\[|(?<!\\)\]\(|(?<!\\)\*\*|(?<!\\):red")


def test_md_leaves_no_markdown_construct_unescaped():
    assert not RENDERS.search(md(EVIL)), md(EVIL)


def test_md_keeps_plain_names_readable_once_rendered():
    assert md("skin type (Fitzpatrick)").replace("\\", "") == "skin type (Fitzpatrick)"


@pytest.mark.usefixtures("home")
def test_the_sidebar_shows_a_hostile_dataset_name_as_text():
    at = page("app.py", demo_state(dataset_name=EVIL)).run()
    assert not at.exception, at.exception
    shown = " ".join(m.value for m in at.sidebar.markdown)
    assert md(EVIL) in shown, f"the dataset name is not shown escaped: {shown}"
    assert "![x](" not in shown, f"the sidebar renders markdown from the dataset name: {shown}"


@pytest.mark.usefixtures("home")
def test_the_so_far_line_shows_a_hostile_dataset_name_as_text():
    at = page("pages/budget.py", demo_state(dataset_name=EVIL)).run()
    assert not at.exception, at.exception
    lines = [c.value for c in at.caption if c.value.startswith("So far")]
    assert lines and md(EVIL) in lines[0] and "![x](" not in lines[0], lines
