"""Every write form saves once per submission and clears after saving (AppTest, issue #13 item 8).

A submission id made when the form is drawn becomes the event id, so the same submission sent
again appends nothing; the same entries sent again right after a save (a double click) are the
same submission. Commentary can be withdrawn and the pack prints only the current one.
"""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from audit.commentary import current_commentary, last_programme_review
from dashboard.pack import build_pack
from events import EventStore
from events.types import PROGRAMME
from tests.helpers.apptest import open_page
from tests.helpers.logs import head_position

TEAM = "a-msk"
CURRENT = "_sipdash_submission_{}"
SAVED = "_sipdash_saved_{}"


def _last(url: str, type_: str):
    store = EventStore(url)
    try:
        return list(store.read_all(types=[type_]))[-1]
    finally:
        store.dispose()


def _again_with(at: AppTest, form: str, submission) -> None:
    """Put the page back to the submission it was drawn with (as a resent request would)."""
    at.session_state[CURRENT.format(form)] = submission
    at.session_state[SAVED.format(form)] = None


def _commentary(at: AppTest, text: str) -> None:
    at.selectbox(key="cm_team").set_value(TEAM).run()
    at.selectbox(key="cm_period").set_value("2025-12")
    at.text_area(key="cm_text").set_value(text)
    at.text_input(key="cm_author").set_value("Lead Lucy")
    at.button(key="cm_submit").click().run()
    assert not at.exception, at.exception


def test_the_commentary_form_saves_once_per_submission_and_clears(url):
    at = open_page("commentary")
    at.selectbox(key="cm_team").set_value(TEAM).run()
    drawn = at.session_state[CURRENT.format("commentary")]
    before = head_position(url)
    _commentary(at, "Goal setting rose in December.")
    assert head_position(url) == before + 1
    assert _last(url, "CommentaryAdded").event_id == drawn.id
    assert at.text_area(key="cm_text").value == ""  # cleared after saving
    # a double click: the same entries again before the page redrew
    _commentary(at, "Goal setting rose in December.")
    assert head_position(url) == before + 1
    # the same submission id sent again
    _again_with(at, "commentary", drawn)
    _commentary(at, "Goal setting rose in December.")
    assert head_position(url) == before + 1
    # a new entry is a new submission
    _commentary(at, "And follow-up too.")
    assert head_position(url) == before + 2


def test_a_withdrawn_commentary_leaves_the_pack_and_withdrawing_twice_appends_once(url):
    at = open_page("commentary")
    _commentary(at, "Wrong team, sorry.")
    added = _last(url, "CommentaryAdded")
    before = head_position(url)
    at.button(key=f"cm_withdraw_{added.event_id}").click().run()
    assert not at.exception, at.exception
    assert head_position(url) == before + 1
    withdrawn = _last(url, "CommentaryWithdrawn")
    assert withdrawn.payload["commentary_event_id"] == added.event_id
    assert not [b for b in at.button if b.key == f"cm_withdraw_{added.event_id}"]
    store = EventStore(url)
    try:
        now = current_commentary(store.engine, TEAM, "2025-12")
        assert "Wrong team, sorry." not in now["text"].tolist()
        html = build_pack(store, record=False).html
    finally:
        store.dispose()
    assert "Wrong team, sorry." not in html


def test_the_sign_off_records_the_head_shown_and_saves_once(url):
    at = open_page("commentary")
    at.selectbox(key="cm_team").set_value(TEAM).run()
    drawn = at.session_state[CURRENT.format("signoff")]
    store = EventStore(url)
    try:
        shown = store.head().hash
    finally:
        store.dispose()
    before = head_position(url)
    for _ in range(2):  # a double click
        at.text_input(key="so_by").set_value("Dr Senior")
        at.checkbox(key="so_confirm").check()
        at.button(key="so_submit").click().run()
        assert not at.exception, at.exception
    assert head_position(url) == before + 1
    signed = _last(url, "ReviewSignedOff")
    assert signed.schema_version == 2 and signed.event_id == drawn.id
    assert signed.payload["viewed_head"] == shown
    assert at.checkbox(key="so_confirm").value is False  # cleared after saving


def test_a_programme_review_can_be_signed_off(url):
    at = open_page("commentary")
    at.radio(key="so_scope").set_value("programme")
    at.text_input(key="so_by").set_value("Chair")
    at.checkbox(key="so_confirm").check()
    at.button(key="so_submit").click().run()
    assert not at.exception, at.exception
    assert any("programme review" in s.value for s in at.success)
    store = EventStore(url)
    try:
        last = last_programme_review(store.engine)
    finally:
        store.dispose()
    assert last is not None and last["signed_off_by"] == "Chair"
    assert _last(url, "ReviewSignedOff").payload["team_id"] == PROGRAMME


def test_the_milestone_target_and_baseline_forms_save_once_and_clear(url):
    at = open_page("milestones")
    at.selectbox(key="ms_team").set_value(TEAM).run()
    before = head_position(url)
    for _ in range(2):
        at.text_input(key="ms_title").set_value("PDSA 7")
        at.button(key="ms_submit").click().run()
        assert not at.exception, at.exception
    assert head_position(url) == before + 1
    assert at.text_input(key="ms_title").value == ""

    at.radio(key="ms_what").set_value("target").run()
    for _ in range(2):
        at.text_area(key="tg_reason").set_value("Board asked")
        at.button(key="tg_submit").click().run()
    assert head_position(url) == before + 2
    assert at.text_area(key="tg_reason").value == ""

    at.radio(key="ms_what").set_value("baseline").run()
    drawn = at.session_state[CURRENT.format("baseline")]
    at.text_area(key="bl_reason").set_value("Twelve months")
    at.button(key="bl_submit").click().run()
    assert head_position(url) == before + 3
    _again_with(at, "baseline", drawn)
    at.text_area(key="bl_reason").set_value("Twelve months")
    at.button(key="bl_submit").click().run()
    assert not at.exception, at.exception
    assert head_position(url) == before + 3
    assert at.text_area(key="bl_reason").value == ""
