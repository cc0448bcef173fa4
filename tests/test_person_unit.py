"""Person-unit honesty (issue 15, finding 9): a proxy person column is called one where it is chosen
and in the report, the kept-row rule is stated, and the duplicate-image option says what it drops."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from app_support import demo_home, demo_state, home, page  # noqa: F401 (fixtures used by name)

from dptab_core.privacy.person_unit import KEPT_ROW_RULE, proxy_hint


@pytest.mark.parametrize("column", ["lesion_id", "LesionID", "visit_no", "image_id", "exam"])
def test_a_column_naming_less_than_a_person_gets_a_warning(column):
    hint = proxy_hint(column)
    assert hint and "not a person" in hint and "k·ε" in hint, hint


@pytest.mark.parametrize("column", ["patient_id", "subject", "PatientLesionId", "mrn", "name", None])
def test_a_column_naming_a_person_gets_none(column):
    assert proxy_hint(column) is None


def test_the_report_says_the_unit_is_a_lesion_and_which_row_was_kept():
    from dptab_core.pipeline.stages import _unit_of_privacy

    run = SimpleNamespace(spec=SimpleNamespace(policy={}))
    words = _unit_of_privacy(run, SimpleNamespace(person_column="lesion_id"))
    assert "WARNING" in words and "a lesion, not a person" in words and KEPT_ROW_RULE in words, words


@pytest.mark.usefixtures("home")
def test_the_data_page_labels_say_what_is_dropped_and_kept():
    at = page("pages/data.py", demo_state()).run()
    at.radio(key="data_source").set_value("Folder on this server").run()  # the demo's files, as own data
    assert not at.exception, at.exception
    dupes = at.checkbox(key="drop_dupes")
    assert "later rows" not in dupes.label and "every row" in dupes.label, dupes.label
    assert "first one too" in dupes.help, dupes.help
    assert "first row in file order" in at.checkbox(key="one_per_person").help
    assert "lesion" in at.selectbox(key="person_column").help
