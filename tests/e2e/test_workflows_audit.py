"""A whole audit round through the dashboard's worklist (AppTest), on a private copy of the demo.

A new month (2026-01) of consultations is imported for one team, then the worklist opens a
round, records every first and second review, and closes it; the measures and the round's state
follow, and the second-review list never shows the first findings.
"""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from audit.measures import audit_measures
from audit.projections import Projector
from audit.service import AuditService, rounds_for
from events import EventStore

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
TEAM = "a-msk"
PERIOD = "2026-01"
ELEMENTS = ("agenda_setting", "goal_setting", "follow_up")


def _csv(n: int) -> bytes:
    lines = [
        "consultation_id,team,clinician,patient,occurred_on,contact,agenda_setting,"
        "goal_setting,follow_up"
    ]
    for i in range(n):
        lines.append(
            f"wf-{i:03d},{TEAM},wf-clin-{i % 3},L{i:05d},{PERIOD}-{1 + i % 28:02d},"
            "face_to_face,yes,no,yes"
        )
    return ("\n".join(lines) + "\n").encode()


def _import_month(url: str, n: int = 30) -> None:
    from audit.imports import Importer
    from events.pseudonym import PatientRegistry, resolve_key

    store = EventStore(url)
    try:
        key, demo = resolve_key()
        Importer(
            store, PatientRegistry(store.engine, key), demo_key=demo, projector=Projector(store)
        ).import_consultations(_csv(n))
    finally:
        store.dispose()


def _worklist(url: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    assert not at.exception, at.exception
    at.switch_page("app_pages/worklist.py").run()
    assert not at.exception, at.exception
    at.selectbox(key="wl_team").set_value(TEAM).run()
    at.selectbox(key="wl_month").set_value(PERIOD).run()
    assert not at.exception, at.exception
    return at


def _finding(i: int, element: str) -> str:
    if element == "agenda_setting":
        return "yes"
    if element == "goal_setting":
        return "yes" if i < 8 else "no"
    return "not_applicable" if i < 5 else "yes"


def _text(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [str(d.value.to_dict()) for d in at.dataframe]
    return "\n".join(parts)


def test_a_whole_round_through_the_worklist(url):
    _import_month(url)
    at = _worklist(url)
    assert any("no audit round yet" in s.value for s in at.subheader)
    at.number_input(key="wl_size").set_value(20)
    at.button(key="open_submit_1").click().run()
    assert not at.exception, at.exception
    assert any("opened: 20 case notes to review" in s.value for s in at.success)
    assert at.metric[0].value == "0 of 20"
    assert at.metric[1].value == "0 of 2"
    assert at.metric[2].value == "open"

    engine_store = EventStore(url)
    try:
        (info,) = rounds_for(engine_store.engine, team_id=TEAM, period=PERIOD)
    finally:
        engine_store.dispose()
    assert len(info.sampled) == 20 and len(info.second_review) == 2

    # first reviews: one form per sampled note, pseudonymous ids only
    for i, cid in enumerate(info.sampled):
        for element in ELEMENTS:
            at.radio(key=f"first_{cid}_{element}").set_value(_finding(i, element))
        at.text_input(key=f"first_{cid}_reviewer").set_value("alice")
        at.button(key=f"first_{cid}_submit").click().run()
        assert not at.exception, at.exception
        assert any(f"Review of {cid} recorded" in s.value for s in at.success)
    assert at.metric[0].value == "20 of 20"
    reviewed = at.dataframe[0].value
    assert len(reviewed) == 20
    assert reviewed["Patient (pseudonym)"].str.match(r"^p_[0-9a-f]+$").all()
    assert not reviewed["Patient (pseudonym)"].str.contains("L0").any()

    # the blind list: no first findings, no first reviewer, no answers pre-filled
    at.radio(key="wl_list").set_value("second").run()
    assert not at.exception, at.exception
    assert len(at.dataframe) == 0  # no table of findings on the blind list
    text = _text(at)
    assert "alice" not in text
    assert "✔ yes" not in text and "✘ no" not in text
    for cid in info.second_review:
        for element in ELEMENTS:
            assert at.radio(key=f"second_{cid}_{element}").value is None
    # the same person cannot second-review their own note
    cid = info.second_review[0]
    for element in ELEMENTS:
        at.radio(key=f"second_{cid}_{element}").set_value("yes")
    at.text_input(key=f"second_{cid}_reviewer").set_value("alice")
    at.button(key=f"second_{cid}_submit").click().run()
    assert any("someone other than the first reviewer" in e.value for e in at.error)
    for cid in info.second_review:
        for element in ELEMENTS:
            at.radio(key=f"second_{cid}_{element}").set_value("yes")
        at.text_input(key=f"second_{cid}_reviewer").set_value("bob")
        at.button(key=f"second_{cid}_submit").click().run()
        assert not at.exception, at.exception
    assert at.metric[1].value == "2 of 2"
    assert any(s.value == "Agreement between reviewers" for s in at.subheader)
    assert any(
        "reviewed twice" in t
        for t in [c.value for c in at.caption] + [m.value for m in at.markdown]
    )

    at.button(key="wl_close").click().run()
    assert not at.exception, at.exception
    assert at.metric[2].value == "closed"
    assert any("closed" in s.value for s in at.success)

    store = EventStore(url)
    try:
        (info,) = rounds_for(store.engine, team_id=TEAM, period=PERIOD)
        assert info.closed_at is not None
        m = audit_measures(store.engine, team=TEAM)
        m = m[m["period"] == PERIOD].set_index("measure")
        assert (m.loc["agenda_setting", "numerator"], m.loc["agenda_setting", "denominator"]) == (
            20,
            20,
        )
        assert (m.loc["goal_setting", "numerator"], m.loc["goal_setting", "denominator"]) == (8, 20)
        assert (m.loc["follow_up", "numerator"], m.loc["follow_up", "denominator"]) == (15, 15)
        assert (m.loc["all_three", "numerator"], m.loc["all_three", "denominator"]) == (3, 15)
        # every event the worklist appended names its actor
        actors = {ev.metadata.get("actor") for ev in store.read_stream(f"audit-{info.round_id}")}
        assert actors == {"local user"}
    finally:
        store.dispose()

    # the month's label and the team page pick it up at once
    assert "closed" in at.selectbox(key="wl_month").format_func(PERIOD)


def test_a_stale_page_gets_a_clear_error_not_a_traceback(url, monkeypatch):
    _import_month(url, n=12)
    at = _worklist(url)
    at.button(key="open_submit_1").click().run()
    store = EventStore(url)
    try:
        (info,) = rounds_for(store.engine, team_id=TEAM, period=PERIOD)
    finally:
        store.dispose()

    # someone else appends to the round between this page's run and the click
    from events import VersionConflict

    def conflict(self, *args, **kwargs):
        raise VersionConflict(f"audit-{info.round_id}", 3, 4)

    cid = info.sampled[0]
    with monkeypatch.context() as patch:
        patch.setattr(AuditService, "record_review", conflict)
        for element in ELEMENTS:
            at.radio(key=f"first_{cid}_{element}").set_value("yes")
        at.text_input(key=f"first_{cid}_reviewer").set_value("alice")
        at.button(key=f"first_{cid}_submit").click().run()
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "Someone else changed this record" in errors and "Reload the page" in errors

    # a round closed elsewhere: the next run shows it closed and offers no more forms
    store = EventStore(url)
    try:
        AuditService(store, projector=Projector(store)).close_round(
            info.round_id, actor="someone else"
        )
    finally:
        store.dispose()
    at.run()
    assert not at.exception
    assert at.metric[2].value == "closed"
    assert not [b for b in at.button if (b.key or "").startswith("first_")]


def test_a_review_needs_every_answer_and_a_name(url):
    _import_month(url, n=12)
    at = _worklist(url)
    at.radio(key="wl_method").set_value("census")
    at.button(key="open_submit_1").click().run()
    assert at.metric[0].value == "0 of 12"
    store = EventStore(url)
    try:
        (info,) = rounds_for(store.engine, team_id=TEAM, period=PERIOD)
        before = store.head().position
    finally:
        store.dispose()
    cid = info.sampled[0]
    at.radio(key=f"first_{cid}_agenda_setting").set_value("yes")
    at.button(key=f"first_{cid}_submit").click().run()
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "Goal setting, Follow-up" in errors and "reviewer's name" in errors
    store = EventStore(url)
    try:
        assert store.head().position == before
    finally:
        store.dispose()
