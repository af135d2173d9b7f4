"""Page rough edges that cost trust (issue #13 item 10), through AppTest: a link to an unknown
team or an impossible date says so; the worklist keeps its month, says when a round is closed
and remembers the reviewer's name."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from audit.projections import Projector
from audit.service import rounds_for
from events import EventStore
from tests.helpers.apptest import open_app

TEAM = "a-msk"
ELEMENTS = ("agenda_setting", "goal_setting", "follow_up")


def _warnings(at: AppTest) -> str:
    return " ".join(w.value for w in at.warning)


def test_a_link_to_an_unknown_team_says_so(dashboard_env):
    at = open_app(team="No Such Team")
    at.switch_page("app_pages/team.py").run()
    assert not at.exception, at.exception
    assert "names a team that is not registered" in _warnings(at)
    ok = open_app()
    ok.switch_page("app_pages/team.py").run()
    assert "not registered" not in _warnings(ok)


def test_a_link_with_a_team_id_opens_that_team(dashboard_env):
    at = open_app(team="b-mood")
    at.switch_page("app_pages/team.py").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="team").value == "b-mood"
    assert "not registered" not in _warnings(at)


@pytest.mark.parametrize("when", ["1999-01-01", "2999-01-01", "yesterday"])
def test_a_link_with_an_out_of_range_date_says_so(dashboard_env, when):
    at = open_app(as_of=when)
    assert "as-of date" in _warnings(at) and "showing the latest data" in _warnings(at)


def test_a_link_with_a_good_date_gives_no_warning(dashboard_env):
    at = open_app(as_of="2024-06-30")
    assert "as-of date" not in _warnings(at)


def test_the_overview_has_its_own_address(dashboard_env):
    """/overview is a registered page (Streamlit serves the default page only at the root)."""
    at = open_app()
    at.switch_page("app_pages/overview.py").run()
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["Programme overview"]


# ------------------------------------------------------------------------------- worklist


def _import(url: str) -> None:
    from audit.imports import Importer
    from events.pseudonym import PatientRegistry, resolve_key

    lines = [
        "consultation_id,team,clinician,patient,occurred_on,contact,agenda_setting,"
        "goal_setting,follow_up"
    ]
    for period in ("2026-02", "2026-03"):
        for i in range(6):
            lines.append(
                f"re-{period}-{i},{TEAM},re-clin,L{period}{i},{period}-0{1 + i},video,yes,no,yes"
            )
    store = EventStore(url)
    try:
        key, demo = resolve_key()
        Importer(
            store, PatientRegistry(store.engine, key), demo_key=demo, projector=Projector(store)
        ).import_consultations(("\n".join(lines) + "\n").encode())
    finally:
        store.dispose()


def test_the_worklist_keeps_its_month_says_closed_and_remembers_the_reviewer(url):
    _import(url)
    at = open_app()
    at.switch_page("app_pages/worklist.py").run()
    at.selectbox(key="wl_team").set_value(TEAM).run()
    at.selectbox(key="wl_month").set_value("2026-02").run()
    at.radio(key="wl_method").set_value("census")
    at.button(key="open_submit_1").click().run()
    assert not at.exception, at.exception
    # the month's label changed ("round open"): the page stays on the month chosen
    assert at.selectbox(key="wl_month").value == "2026-02"
    assert any("2026-02: audit round 1" in s.value for s in at.subheader)

    store = EventStore(url)
    try:
        (info,) = rounds_for(store.engine, team_id=TEAM, period="2026-02")
    finally:
        store.dispose()
    first, second = info.sampled[:2]
    for element in ELEMENTS:
        at.radio(key=f"first_{first}_{element}").set_value("yes")
    at.text_input(key=f"first_{first}_reviewer").set_value("alice")
    at.button(key=f"first_{first}_submit").click().run()
    assert not at.exception, at.exception
    assert at.selectbox(key="wl_month").value == "2026-02"
    # the next note asks for nothing already given
    assert at.text_input(key=f"first_{second}_reviewer").value == "alice"

    at.checkbox(key="wl_close_anyway").check().run()
    at.button(key="wl_close").click().run()
    assert not at.exception, at.exception
    assert at.selectbox(key="wl_month").value == "2026-02"
    assert at.metric[2].value == "closed"
    labels = list(at.radio(key="wl_list").options)  # the labels a user reads
    assert all("round closed" in label for label in labels), labels
    assert not any("to do" in label for label in labels)
