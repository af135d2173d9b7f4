"""Every dashboard page run in process (streamlit AppTest) on the seeded demo programme.

The assertions are on what a user would read: headline counts, grid rows, chart titles and
data, table rows, page captions. AppTest pages are opened with ``switch_page`` (after a first
run, so that ``st.navigation`` has registered them) or through the URL (``query_params``).
"""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from events import EventStore, NewEvent
from events.types import MilestoneLogged, TargetSet
from tests.helpers.apptest import APP, open_app

N_TEAMS = 8


def _open(at: AppTest, page: str) -> AppTest:
    at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception, at.exception
    return at


def _chart_spec(at: AppTest, index: int = 0) -> dict:
    return json.loads(at.get("vega_lite_chart")[index].proto.spec)


def _chart_rows(at: AppTest, column: str, index: int = 0) -> list[dict]:
    """Rows of the chart's dataset whose records carry ``column``."""
    proto = at.get("vega_lite_chart")[index].proto
    spec = json.loads(proto.spec)
    rows: list[dict] = []
    for data in spec.get("datasets", {}).values():
        if data and column in data[0]:
            rows.extend(data)
    for ds in proto.datasets:  # streamlit may move datasets out of the spec
        import pyarrow as pa

        table = pa.ipc.open_stream(ds.data.data).read_all().to_pandas()
        if column in table.columns:
            rows.extend(table.to_dict("records"))
    return rows


@pytest.fixture
def app_env(dashboard_env: str) -> str:
    return dashboard_env


# --------------------------------------------------------------------------------- overview


def test_overview_headlines_grid_and_banner(app_env):
    at = open_app()
    assert [t.value for t in at.title] == ["Programme overview"]
    assert any("Synthetic demonstration data" in w.value for w in at.warning)

    metrics = at.metric
    assert [m.label for m in metrics] == [
        "Agenda setting",
        "Goal setting",
        "Follow-up",
        "All three",
    ]
    for m in metrics:
        assert re.fullmatch(rf"\d of {N_TEAMS}", m.value)
        assert re.search(rf"\d of {N_TEAMS} teams have made .+ the norm", m.proto.help)
    assert any(
        f"of the {N_TEAMS} teams have made each enabler the norm" in s.value for s in at.subheader
    )

    grid = at.dataframe[0].value
    assert len(grid) == N_TEAMS * 4
    assert {"Team", "Enabler", "Latest %", "Variation", "Assurance", "Last 12 months"} <= set(
        grid.columns
    )
    # icons are words, not colours alone
    assert (
        grid["Variation"]
        .str.contains("Improvement|Concern|Common cause|Special cause|Too few")
        .all()
    )
    # "Not assessable" is the design's assurance for a sustained change against old limits
    assert grid["Assurance"].str.contains("Pass|Fail|Hit or miss|None|Not assessable").all()
    assert all(len(s) <= 12 for s in grid["Last 12 months"])
    assert any("How to read this" in e.label for e in at.expander)


def test_overview_filters_narrow_the_grid_and_live_in_the_url(app_env):
    at = open_app()
    at.selectbox(key="enabler").set_value("goal_setting").run()
    grid = at.dataframe[0].value
    assert len(grid) == N_TEAMS
    assert set(grid["Enabler"]) == {"Goal setting"}

    site = at.selectbox(key="site").options[1]
    at.selectbox(key="site").set_value(site).run()
    assert 0 < len(at.dataframe[0].value) < N_TEAMS

    # the URL holds the filters (the browser test checks the address bar); a link with them
    # opens the same view
    again = open_app(enabler="Goal setting")
    assert set(again.dataframe[0].value["Enabler"]) == {"Goal setting"}


def test_as_of_earlier_changes_what_is_shown(app_env):
    at = open_app(as_of="2023-06-30")
    assert "end of 30 June 2023" in at.caption[0].value
    grid = at.dataframe[0].value
    assert (grid["Latest month"] <= "2023-06").all()
    assert any("As of 30 Jun 2023" in c.value for c in at.sidebar.caption)


# ------------------------------------------------------------------------------------- team


def test_team_page_chart_table_and_case_notes(app_env):
    at = _open(open_app(), "team")
    assert [t.value for t in at.title] == ["Team"]
    team = at.selectbox(key="team")
    name = team.options[team.index]
    assert at.subheader[0].value == f"{name}: agenda setting"

    spec = _chart_spec(at)
    marks = {lay["mark"]["type"] for lay in spec["layer"]}
    assert {"point", "line", "rule", "text"} <= marks
    assert "#00B0F0" in json.dumps(spec) and "#DE1B1B" in json.dumps(spec)
    points = _chart_rows(at, "point_label")
    assert points and {"period", "value", "numerator", "denominator", "ci_low", "rules"} <= set(
        points[0]
    )

    table = at.dataframe[0].value
    assert len(table) == len(points)
    assert {"Documented (sample)", "95% interval from", "Census (all notes)"} <= set(table.columns)
    assert any("Latest month" in m.value and "variation" in m.value for m in at.markdown)

    month = at.selectbox(key="month")
    assert month.value == table["Month"].iloc[-1]
    notes = at.dataframe[1].value
    assert len(notes) > 0
    assert notes["Patient (pseudonym)"].str.match(r"^p_[0-9a-f]+$").all()
    assert {"Agenda setting", "Goal setting", "Follow-up", "Reviewer"} <= set(notes.columns)

    earlier = table["Month"].iloc[0]
    month.set_value(earlier).run()
    assert earlier in at.caption[-1].value or any(earlier in c.value for c in at.caption)


def test_team_switch_changes_the_chart_and_table(app_env):
    at = _open(open_app(), "team")
    first_title = at.subheader[0].value
    first_points = _chart_rows(at, "point_label")
    first_table = at.dataframe[0].value

    team = at.selectbox(key="team")
    other_id = next(t for t in ("a-msk", "b-msk", "a-copd") if t != team.value)
    team.set_value(other_id).run()
    assert not at.exception
    assert at.subheader[0].value != first_title
    assert _chart_rows(at, "point_label") != first_points
    assert not at.dataframe[0].value.equals(first_table)


def test_chart_type_switch(app_env):
    at = _open(open_app(), "team")
    p_spec = _chart_spec(at)
    at.radio(key="chart").set_value("xmr").run()
    assert not at.exception
    assert at.caption[0].value.startswith("XmR")
    assert _chart_spec(at) != p_spec
    at.radio(key="chart").set_value("run").run()
    assert at.caption[0].value.startswith("Run chart")
    lines = _chart_rows(at, "series")
    assert {r["series"] for r in lines} == {"centre"}  # a run chart has a median, no limits


def test_as_of_earlier_shows_fewer_periods(app_env):
    at = _open(open_app(), "team")
    latest = at.dataframe[0].value
    at.sidebar.date_input(key="as_of").set_value(date(2024, 3, 31)).run()
    assert not at.exception
    earlier = at.dataframe[0].value
    assert 0 < len(earlier) < len(latest)
    assert earlier["Month"].max() <= "2024-03"


def test_team_link_opens_the_chosen_team_and_enabler(app_env):
    at = _open(open_app(), "team")
    name = at.selectbox(key="team").options[2]
    linked = AppTest.from_file(APP, default_timeout=120)
    linked.run()
    linked.query_params["team"] = name
    linked.query_params["measure"] = "Follow-up"
    linked.query_params["chart"] = "XmR"
    _open(linked, "team")
    assert linked.subheader[0].value == f"{name}: follow-up"
    assert linked.radio(key="chart").value == "xmr"


def test_month_window_limits_the_chart(app_env):
    at = _open(open_app(), "team")
    months = at.sidebar.select_slider(key="months")
    options = months.options
    months.set_range(options[6], options[17]).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert len(table) == 12
    assert table["Month"].min() == options[6]


def test_new_event_shows_at_once(monkeypatch, seeded_db_copy: Path):
    url = f"sqlite:///{seeded_db_copy}"
    monkeypatch.setenv("SIPDASH_DATABASE_URL", url)
    at = _open(open_app(), "team")
    team_id = at.selectbox(key="team").value
    assert "Target 80%" in at.caption[0].value
    milestones = len(_chart_rows(at, "kind"))

    store = EventStore(url)
    try:
        store.append(
            [
                NewEvent(
                    TargetSet(
                        team_id=team_id,
                        measure="agenda_setting",
                        target=0.9,
                        from_period="2025-01",
                        reason="raised after review",
                    )
                ),
                NewEvent(
                    MilestoneLogged(
                        team_id=team_id, on=date(2025, 6, 1), kind="note", title="Board visit"
                    )
                ),
            ]
        )
    finally:
        store.dispose()
    at.run()
    assert not at.exception
    assert "Target 90%" in at.caption[0].value
    assert len(_chart_rows(at, "kind")) == milestones + 1


# ---------------------------------------------------------------------------------- compare


def test_compare_page_funnel_and_league_table(app_env):
    at = _open(open_app(), "compare")
    assert [t.value for t in at.title] == ["Compare teams"]
    assert len(at.get("vega_lite_chart")) == 2
    funnel = json.dumps(_chart_spec(at, 0))
    assert "95% limits" in funnel and "99.8% limits" in funnel
    labels = {r["team_name"] for r in _chart_rows(at, "team_name", 0)}
    assert len(labels) == N_TEAMS
    league = at.dataframe[0].value
    assert len(league) == N_TEAMS
    assert {"Documented", "95% interval from", "95% interval to", "Funnel position"} <= set(
        league.columns
    )
    assert (league["95% interval from"] <= league["Documented"]).all()
    assert (league["Documented"] <= league["95% interval to"]).all()

    at.selectbox(key="measure").set_value("follow_up").run()
    assert at.caption[0].value.startswith("Follow-up")


def test_compare_window_changes_the_pool(app_env):
    at = _open(open_app(), "compare")
    full = at.dataframe[0].value["Notes reviewed (n)"].sum()
    months = at.sidebar.select_slider(key="months")
    options = months.options
    # the default pools the latest complete quarter; two months of it pool fewer notes
    months.set_range(options[-2], options[-1]).run()
    assert not at.exception
    assert 0 < at.dataframe[0].value["Notes reviewed (n)"].sum() < full
    assert f"{options[-2]} to {options[-1]}" in at.caption[0].value


# -------------------------------------------------------------------------------- event log


def test_event_log_pages_fifty_at_a_time(app_env):
    at = _open(open_app(), "events")
    assert [t.value for t in at.title] == ["Event log"]
    rows = at.dataframe[0].value
    assert len(rows) == 50
    assert rows["position"].tolist() == list(range(1, 51))
    assert at.metric[1].value == "0 events"  # projection lag

    at.button(key="ev_next").click().run()
    assert not at.exception
    rows = at.dataframe[0].value
    assert rows["position"].tolist() == list(range(51, 101))
    assert any(c.value.startswith("Page 2") for c in at.caption)

    at.button(key="ev_prev").click().run()
    assert at.dataframe[0].value["position"].iloc[0] == 1


def test_event_log_filters(app_env):
    at = _open(open_app(), "events")
    at.multiselect(key="ev_types").set_value(["MilestoneLogged"]).run()
    rows = at.dataframe[0].value
    assert len(rows) > 0 and set(rows["type"]) == {"MilestoneLogged"}

    at.multiselect(key="ev_types").set_value([]).run()
    at.selectbox(key="ev_team").set_value("a-msk").run()
    rows = at.dataframe[0].value
    assert len(rows) == 50 and set(rows["team"]) == {"a-msk"}
    assert any("at most 5,000 are read per page" in c.value for c in at.caption)

    at.text_input(key="ev_stream").set_value("audit-").run()
    rows = at.dataframe[0].value
    assert len(rows) > 0 and rows["stream"].str.startswith("audit-").all()
    assert set(rows["team"]) == {"a-msk"}


def test_event_log_verifies_the_chain_on_demand(app_env):
    at = _open(open_app(), "events")
    at.button(key="verify").click().run()
    assert not at.exception
    text = " ".join(s.value for s in at.success)
    head = at.sidebar.caption[0].value
    assert "verified up to position" in text
    position = re.search(r"position \*\*([\d,]+)\*\*", head).group(1)
    assert f"verified up to position {position}**" in text
    assert at.metric[2].value == "✔ intact"


def test_event_log_as_of_stops_at_that_day(app_env):
    at = _open(open_app(as_of="2023-01-01"), "events")
    rows = at.dataframe[0].value
    assert 0 < len(rows) <= 50
    assert (rows["recorded_at"] <= "2023-01-01 23:59:59").all()


def test_every_table_can_be_downloaded(app_env):
    import io

    import openpyxl

    at = open_app()
    buttons = at.get("download_button")
    labels = [b.proto.label for b in buttons]
    assert labels == ["CSV", "Excel"] * 2  # the grid and the triangulation flags
    for page, tables in (("team", 2), ("compare", 1), ("events", 1)):
        _open(at, page)
        assert [b.proto.label for b in at.get("download_button")] == ["CSV", "Excel"] * tables

    from dashboard import data

    _open(at, "team")
    shown = at.dataframe[0].value
    workbook = openpyxl.load_workbook(io.BytesIO(data.to_excel(shown, "months")))
    sheet = workbook.active
    header = [c.value for c in next(sheet.iter_rows(max_row=1))]
    assert header == list(shown.columns)
    assert sheet.max_row == len(shown) + 1
    csv = data.to_csv(shown).decode("utf-8").splitlines()
    assert csv[0].split(",")[0] == "Month" and len(csv) == len(shown) + 1


def test_empty_database_says_how_to_start(monkeypatch, tmp_path):
    monkeypatch.setenv("SIPDASH_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    at = open_app()
    assert any("sipdash seed" in i.value for i in at.info)
    for page in ("team", "compare", "events"):
        _open(at, page)


def test_a_new_sip_start_shows_at_once_on_the_cached_culture_shift_chart(
    monkeypatch, seeded_db_copy: Path
):
    url = f"sqlite:///{seeded_db_copy}"
    monkeypatch.setenv("SIPDASH_DATABASE_URL", url)
    at = open_app()
    index = next(
        i for i in range(len(at.get("vega_lite_chart"))) if _chart_rows(at, "teams_total", i)
    )
    starts = {(r["team"], str(r["on"])) for r in _chart_rows(at, "on", index)}
    at.run()  # the same head: the chart object is reused and draws the same
    assert {(r["team"], str(r["on"])) for r in _chart_rows(at, "on", index)} == starts
    store = EventStore(url)
    try:
        team_id = next(iter(store.read_all(types=["TeamRegistered"]))).payload["team_id"]
        first = min(on for _, on in starts)[:7] if starts else "2024-01"
        earlier = date(int(first[:4]) - 1, int(first[5:7]), 1)  # a year before any start
        store.append(
            [
                NewEvent(
                    MilestoneLogged(team_id=team_id, on=earlier, kind="sip_start", title="Start")
                )
            ]
        )
    finally:
        store.dispose()
    at.run()
    assert not at.exception
    after = {(r["team"], str(r["on"])) for r in _chart_rows(at, "on", index)}
    assert after != starts
    assert any(on.startswith(earlier.isoformat()) for _, on in after)


def test_the_culture_shift_chart_is_converted_once_per_content_it_draws(
    monkeypatch, seeded_db_copy: Path
):
    """Streamlit converts an Altair chart to its Vega-Lite spec on every run (~0.19 s for the
    9-panel culture-shift chart); the overview converts it once per content drawn: not again
    on a rerun or after an event that changes no month, again after one that does."""
    from audit.exports import record_export
    from dashboard import chart_cache

    url = f"sqlite:///{seeded_db_copy}"
    monkeypatch.setenv("SIPDASH_DATABASE_URL", url)
    chart_cache._chart_spec.clear()
    conversions: list[int] = []
    real = chart_cache._to_spec
    assert real is not None  # this Streamlit has the converter st.altair_chart itself uses

    def counted(chart):
        conversions.append(1)
        return real(chart)

    monkeypatch.setattr(chart_cache, "_to_spec", counted)
    at = open_app()
    index = next(
        i for i in range(len(at.get("vega_lite_chart"))) if _chart_rows(at, "teams_total", i)
    )
    shown = _chart_spec(at, index)
    assert len(conversions) == 1
    at.run()
    assert len(conversions) == 1 and _chart_spec(at, index) == shown
    store = EventStore(url)
    try:
        record_export(store, "table", "grid.csv", actor="test", head_hash=store.head().hash)
        at.run()
        assert not at.exception
        assert len(conversions) == 1  # a new head, the same months: the cached spec is sent
        team_id = next(iter(store.read_all(types=["TeamRegistered"]))).payload["team_id"]
        store.append(
            [
                NewEvent(
                    MilestoneLogged(
                        team_id=team_id, on=date(2019, 1, 1), kind="sip_start", title="Start"
                    )
                )
            ]
        )
    finally:
        store.dispose()
    at.run()
    assert not at.exception
    assert len(conversions) == 2  # what the chart draws changed: converted again
    assert any(str(r["on"]).startswith("2019-01-01") for r in _chart_rows(at, "on", index))


def test_a_page_with_tables_builds_no_download_file_until_one_is_asked_for(
    monkeypatch, app_env
) -> None:
    """The CSV and Excel files are made when their button is clicked (Streamlit's deferred
    download; the browser test downloads them), not on every run that draws a table."""
    from dashboard import data
    from dashboard.app_pages import _shared

    _shared._csv_bytes.clear()
    _shared._excel_bytes.clear()
    made: list[str] = []
    real_csv, real_excel = data.to_csv, data.to_excel
    monkeypatch.setattr(data, "to_csv", lambda df: made.append("csv") or real_csv(df))
    monkeypatch.setattr(
        data, "to_excel", lambda df, sheet: made.append("xlsx") or real_excel(df, sheet=sheet)
    )
    at = open_app()
    for page in ("team", "compare", "events"):
        _open(at, page)
    assert len(at.get("download_button")) >= 2  # the last page drew its table's two buttons
    assert made == []
