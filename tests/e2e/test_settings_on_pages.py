"""The pages state the programme's SPC settings in force, not fixed numbers (issue #12: one
settings object that the dashboard passes through). AppTest on a copy of the seeded demo."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from audit import decisions
from events import EventStore
from tests.helpers.apptest import open_page


def _text(at: AppTest) -> str:
    return " ".join([c.value for c in at.caption] + [m.value for m in at.markdown]).replace("*", "")


def test_the_overview_and_the_team_page_state_the_settings_in_force(
    monkeypatch, seeded_db_copy: Path
) -> None:
    url = f"sqlite:///{seeded_db_copy}"
    monkeypatch.setenv("SIPDASH_DATABASE_URL", url)
    before = _text(open_page("overview"))
    assert "last 6 final months" in before and "a shift: 6 or more months" in before

    store = EventStore(url)
    try:
        decisions.change_spc_settings(
            store, actor="lead", reason="board", shift_points=7, norm_window=4, small_sample=5
        )
    finally:
        store.dispose()

    overview = _text(open_page("overview"))
    assert "last 4 final months" in overview and "at least 5 notes" in overview
    assert "a shift: 7 or more months" in overview and "a shift: 6" not in overview
    team = _text(open_page("team"))
    assert "a shift: 7 or more months" in team and "fewer than 5 notes" in team
