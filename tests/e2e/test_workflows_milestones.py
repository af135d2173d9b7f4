"""Milestones, targets, commentary and sign-off recorded through the dashboard (AppTest) show at
once on the team chart, the overview and in the review pack."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest
from streamlit.testing.v1 import AppTest

from audit import labels, queries
from dashboard.pack import build_pack
from events import EventStore
from tests.helpers.apptest import open_page

TEAM = "a-msk"


def _chart_rows(at: AppTest, column: str) -> list[dict]:
    import pyarrow as pa

    proto = at.get("vega_lite_chart")[0].proto
    rows: list[dict] = []
    for data in json.loads(proto.spec).get("datasets", {}).values():
        if data and column in data[0]:
            rows.extend(data)
    for ds in proto.datasets:
        table = pa.ipc.open_stream(ds.data.data).read_all().to_pandas()
        if column in table.columns:
            rows.extend(table.to_dict("records"))
    return rows


def _facts(url: str, types: tuple[str, ...]):
    store = EventStore(url)
    try:
        return queries.team_facts(store.engine, TEAM, types=types)
    finally:
        store.dispose()


def test_the_milestone_form_offers_the_kinds_in_the_words_of_the_chart_and_the_pack(url):
    at = open_page("milestones")
    assert at.selectbox(key="ms_kind").options == list(labels.MILESTONE_LABELS.values())


def test_a_logged_milestone_is_on_the_team_chart_at_once(url):
    team = open_page("team")
    team.selectbox(key="team").set_value(TEAM).run()
    before = len(_chart_rows(team, "kind"))

    at = open_page("milestones")
    at.selectbox(key="ms_team").set_value(TEAM).run()
    at.selectbox(key="ms_kind").set_value("pdsa_cycle")
    at.date_input(key="ms_on").set_value(date(2025, 11, 15))
    at.text_input(key="ms_title").set_value("")
    at.button(key="ms_submit").click().run()
    assert not at.exception
    assert any("Give the milestone a title" in e.value for e in at.error)
    assert _facts(url, ("MilestoneLogged",))["title"].tolist().count("PDSA 9: prompt") == 0

    at.text_input(key="ms_title").set_value("PDSA 9: prompt")
    at.button(key="ms_submit").click().run()
    assert not at.exception
    assert any("PDSA 9: prompt" in s.value for s in at.success)
    facts = _facts(url, ("MilestoneLogged",))
    last = facts.iloc[-1]
    assert (last["title"], last["kind"], last["on"], last["actor"]) == (
        "PDSA 9: prompt",
        "pdsa_cycle",
        "2025-11-15",
        "local user",
    )
    assert "PDSA 9: prompt" in at.dataframe[0].value["What"].iloc[0]

    team.switch_page("app_pages/team.py").run()
    rows = _chart_rows(team, "kind")
    assert len(rows) == before + 1
    assert any("PDSA 9: prompt" in json.dumps(r, default=str) for r in rows)


def test_baseline_and_target_show_on_the_charts_and_the_overview(url):
    at = open_page("milestones")
    at.selectbox(key="ms_team").set_value(TEAM).run()
    at.radio(key="ms_what").set_value("target").run()
    at.selectbox(key="tg_measure").set_value("goal_setting")
    at.number_input(key="tg_value").set_value(95)
    at.button(key="tg_submit").click().run()
    assert any("Give a reason" in e.value for e in at.error)  # shown under the reason field
    at.text_area(key="tg_reason").set_value("Board asked for 95% by spring")
    at.button(key="tg_submit").click().run()
    assert not at.exception
    assert any("Target of 95% set" in s.value for s in at.success)
    target = _facts(url, ("TargetSet",)).iloc[-1]
    assert (target["measure"], float(target["target"])) == ("goal_setting", 0.95)

    at.radio(key="ms_what").set_value("baseline").run()
    at.radio(key="bl_kind").set_value("recalculate")
    at.selectbox(key="bl_measure").set_value("goal_setting")
    at.selectbox(key="bl_period").set_value("2025-03")
    at.text_area(key="bl_reason").set_value("New template in use since March")
    before = len(_facts(url, ("LimitsRecalculated",)))
    at.button(key="bl_submit").click().run()
    assert not at.exception
    # the partition rule (issue #15 item 9): a-msk's limits were recalculated from 2024-09, so
    # new limits from 2025-03 would close a partition of 6 months; it is refused, in words
    assert any("closed" in e.value and "at least 13" in e.value for e in at.error)
    assert len(_facts(url, ("LimitsRecalculated",))) == before

    overview = open_page("overview")
    grid = overview.dataframe[0].value
    name = grid.loc[grid["Team"].str.contains("South Jasonside"), "Team"].iloc[0]
    row = grid[(grid["Team"] == name) & (grid["Enabler"] == "Goal setting")].iloc[0]
    assert row["Target"] == pytest.approx(0.95)

    team = open_page("team")
    team.selectbox(key="team").set_value(TEAM).run()
    team.selectbox(key="measure").set_value("goal_setting").run()
    assert "Target 95%" in team.caption[0].value
    from audit import views

    store = EventStore(url)
    try:
        chart = views.team_chart(store.engine, TEAM, "goal_setting")
    finally:
        store.dispose()
    assert "2025-03" not in chart.recalculate_at


def test_commentary_and_sign_off_go_into_the_pack(url):
    at = open_page("commentary")
    at.selectbox(key="cm_team").set_value(TEAM).run()
    at.selectbox(key="cm_period").set_value("2025-12")
    at.text_area(key="cm_text").set_value("Goal setting rose after the template change.")
    at.text_input(key="cm_author").set_value("Lead Lucy")
    at.button(key="cm_submit").click().run()
    assert not at.exception
    assert any("Commentary on" in s.value for s in at.success)

    at.text_input(key="so_by").set_value("Dr Senior")
    at.button(key="so_submit").click().run()
    assert any("Tick the box" in e.value for e in at.error)
    at.checkbox(key="so_confirm").check()
    at.button(key="so_submit").click().run()
    assert not at.exception
    assert any("signed off by Dr Senior" in s.value for s in at.success)
    table = at.dataframe[0].value
    assert set(table["What"].head(2)) == {"Commentary", "Sign-off"}

    # the Review pack page builds it (recording the export) and offers both files
    pack_page = open_page("pack")
    pack_page.button(key="pk").click().run()
    assert not pack_page.exception
    assert [b.proto.label for b in pack_page.get("download_button")] == ["HTML", "PDF"]
    assert any("Pack built as of" in s.value for s in pack_page.success)
    # the as-of as the pack prints it, not a slice of it ("16:54 E UTC" until 2026-11-30)
    (built,) = [s.value for s in pack_page.success if "Pack built as of" in s.value]
    assert re.search(r"as of \d{1,2} \w{3} \d{4} \d{2}:\d{2} Europe/London: log position", built)
    exports = _export_events(url)
    assert exports and exports[-1].payload["what"] == "review pack"
    assert exports[-1].metadata["actor"] == "local user"

    store = EventStore(url)
    try:
        html = build_pack(store, record=False).html
    finally:
        store.dispose()
    assert (
        "Commentary for 2025-12 by Lead Lucy: Goal setting rose after the template change." in html
    )
    assert "Review for 2025-12 signed off by Dr Senior." in html


def _export_events(url: str):
    store = EventStore(url)
    try:
        return store.read_stream("governance-review-pack")
    finally:
        store.dispose()


def test_a_table_download_is_recorded(url):
    at = open_page("overview")
    at.get("download_button")[0].click().run()
    assert not at.exception
    store = EventStore(url)
    try:
        (ev,) = store.read_stream("governance-table")
    finally:
        store.dispose()
    assert ev.payload["what"] == "programme-overview.csv"
    assert ev.metadata["actor"] == "local user"
