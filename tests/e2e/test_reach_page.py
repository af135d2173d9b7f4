"""The Reach page run in process (streamlit AppTest) on the seeded demo: both lenses, the
observational caveat, n behind every figure, URL-bound filters, as-of and the download."""

from __future__ import annotations

import io
import json
import os
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")


def _name(team_id: str) -> str:
    """A team's name: the URL carries what the selector shows (as the Team page's links)."""
    from audit import queries
    from events import EventStore

    store = EventStore(os.environ["SIPDASH_DATABASE_URL"])
    try:
        return queries.teams(store.engine).set_index("team_id").loc[team_id, "name"]
    finally:
        store.dispose()


def _reach(team: str | None = None, as_of: str | None = None, **query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    if as_of is not None:
        at.query_params["as_of"] = as_of
    at.run()
    assert not at.exception, at.exception
    if team is not None:
        at.query_params["reach_team"] = _name(team)
    for key, value in query.items():
        at.query_params[key] = value
    at.switch_page("app_pages/reach.py").run()
    assert not at.exception, at.exception
    return at


def _text(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [w.value for w in at.warning] + [i.value for i in at.info]
    return "\n".join(parts)


def _chart_rows(at: AppTest, column: str) -> list[dict]:
    """Rows of every chart's datasets that carry ``column``."""
    import pyarrow as pa

    rows: list[dict] = []
    for chart in at.get("vega_lite_chart"):
        for data in json.loads(chart.proto.spec).get("datasets", {}).values():
            if data and column in data[0]:
                rows.extend(data)
        for ds in chart.proto.datasets:
            table = pa.ipc.open_stream(ds.data.data).read_all().to_pandas()
            if column in table.columns:
                rows.extend(table.to_dict("records"))
    return rows


def _frame(at: AppTest, column: str) -> pd.DataFrame:
    """The page's table that has ``column``."""
    found = [d.value for d in at.dataframe if column in d.value.columns]
    assert len(found) == 1, [list(d.value.columns) for d in at.dataframe]
    return found[0]


@pytest.fixture
def app_env(dashboard_env: str) -> str:
    return dashboard_env


def test_the_page_says_it_is_observational_and_shows_both_lenses_programme_wide(app_env) -> None:
    at = _reach()
    assert [t.value for t in at.title] == ["Who the shift reaches"]
    assert any("Observational figures, not proof of cause" in i.value for i in at.info)
    assert [h.value for h in at.header] == ["Training", "Deprivation"]
    assert at.selectbox(key="reach_team").value == "All teams"
    text = _text(at)
    assert "active clinicians trained in ADP" in text
    assert "English Indices of Deprivation 2019" in text
    assert len(at.get("vega_lite_chart")) == 4  # coverage, groups, quintiles, gap


def test_a_team_whose_most_deprived_get_it_less_often_is_flagged_with_the_n(app_env) -> None:
    at = _reach("b-copd")
    assert at.selectbox(key="reach_team").value == "b-copd"
    flags = [w.value for w in at.warning if "less often" in w.value]
    assert len(flags) == 1
    assert "95% interval" in flags[0] and "notes)" in flags[0]
    table = _frame(at, "Verdict")
    assert table["Verdict"].iloc[0] == "⚠ most deprived less often"
    assert table["Q1 (most deprived)"].str.contains(r"n = \d+").all()


def test_a_team_whose_gap_closed_says_when_it_was_flagged_and_that_it_is_not_now(app_env) -> None:
    at = _reach("a-msk")
    assert not [w.value for w in at.warning if "less often" in w.value]
    assert "not in the latest complete quarter" in _text(at)
    titles = [r.get("title") for r in _chart_rows(at, "title")]
    assert any("deprived areas" in str(t) for t in titles), "the change idea is on the gap chart"


def test_every_rate_carries_its_n_and_a_small_stratum_reads_too_few_notes(app_env) -> None:
    at = _reach("a-coach")
    ba = _frame(at, "Before")
    cells = pd.concat([ba["Before"], ba["After"]])
    assert cells.str.contains(r"n = \d+").all()
    groups = _frame(at, "Not yet trained")
    column = pd.concat([groups["Trained"], groups["Not yet trained"]])
    assert column.str.contains(r"n = \d+|no notes").all()
    quintiles = _frame(at, "Verdict")
    strata = pd.concat(
        [
            quintiles[c]
            for c in quintiles.columns
            if (c.startswith("Q") and "(" in c) or c in ("Q2", "Q3", "Q4")
        ]
    )
    assert strata.str.contains(r"n = \d+").all()
    early = _frame(_reach("a-coach", as_of="2023-01-04"), "Verdict")  # a few days' notes
    assert early["Verdict"].tolist() == ["too few notes"]
    small = early[["Q1 (most deprived)", "Q2", "Q3", "Q4", "Q5 (least deprived)"]].iloc[0]
    assert small.str.match(r"^(too few notes \(n = \d\)|no notes \(n = 0\))$").all(), "never 0%"
    assert small.str.startswith("too few notes").any()


def test_filters_are_read_from_the_url(app_env) -> None:
    at = _reach("b-msk", reach_measure="Goal setting")
    assert at.selectbox(key="reach_team").value == "b-msk"
    assert at.selectbox(key="reach_measure").value == "goal_setting"
    assert f"**{_name('b-msk')}, 2025-12**" in _text(at)


def test_as_of_shows_the_figures_as_they_were_known_then(app_env) -> None:
    now = _reach("b-copd")
    then = _reach("b-copd", as_of="2024-06-30")
    latest_now = _frame(now, "Verdict")["Quarter"].iloc[0]
    latest_then = _frame(then, "Verdict")["Quarter"].iloc[0]
    assert (latest_then, latest_now) == ("2024-Q2", "2025-Q4")
    assert "of 8 active clinicians" in _text(then) or "active clinicians" in _text(then)


def test_the_excel_download_holds_every_table_and_what_it_is(app_env) -> None:
    at = _reach("b-copd")
    buttons = [b for b in at.get("download_button") if "Excel" in b.proto.label]
    assert buttons, "an Excel download"
    from audit import reach
    from dashboard import reach_data
    from dashboard.reach_data import tables, workbook
    from events import EventStore

    store = EventStore(os.environ["SIPDASH_DATABASE_URL"])
    try:
        rc = reach_data.ReachCounts(
            reach.clinician_counts(store.engine),
            reach.imd_counts(store.engine),
            reach.training_records(store.engine),
        )
    finally:
        store.dispose()
    t = tables(rc, "b-copd", "agenda_setting", "ADP")
    book = pd.read_excel(
        io.BytesIO(
            workbook({"Q1-Q5 gap": t.gaps, "Quintile rates": t.quintiles}, [("Team", "b-copd")])
        ),
        sheet_name=None,
    )
    assert list(book) == ["About", "Q1-Q5 gap", "Quintile rates"]
    assert set(book["Q1-Q5 gap"]["verdict"]) >= {"less often"}


# ------------------------------------------------------------- the team chart and the form


def test_the_team_chart_has_the_share_of_active_clinicians_trained_under_it(app_env) -> None:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("app_pages/team.py").run()
    at.selectbox(key="team").set_value("a-msk").run()
    assert not at.exception
    rows = _chart_rows(at, "active")
    assert rows and {"period", "active", "trained", "share"} <= set(rows[0])
    assert any("active clinicians (≥ 1 consultation) trained in ADP" in c.value for c in at.caption)


@pytest.fixture
def writable(monkeypatch, seeded_db_copy: Path) -> str:
    url = f"sqlite:///{seeded_db_copy}"
    monkeypatch.setenv("SIPDASH_DATABASE_URL", url)
    monkeypatch.delenv("SIPDASH_LOCAL_ROLE", raising=False)
    return url


def test_a_training_recorded_on_the_milestones_page_counts_at_once(writable) -> None:
    from audit import reach
    from events import EventStore

    store = EventStore(writable)
    with store.engine.connect() as conn:
        untrained = (
            conn.exec_driver_sql(
                "SELECT clinician_id FROM rm_clinicians WHERE team_id = 'a-coach' "
                "AND trained_on IS NULL ORDER BY clinician_id"
            )
            .scalars()
            .all()
        )
    assert untrained, "the regressing team has new starters not trained"
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.switch_page("app_pages/milestones.py").run()
    at.selectbox(key="ms_team").set_value("a-coach").run()
    at.radio(key="ms_what").set_value("training").run()
    at.selectbox(key="tr_clinician").set_value(untrained[0])
    at.date_input(key="tr_on").set_value(date(2025, 11, 3))
    at.button(key="tr_submit").click().run()
    assert not at.exception, at.exception
    assert any(
        f"Training of {untrained[0]} in ADP on 2025-11-03 recorded" in s.value for s in at.success
    )
    records = reach.training_records(store.engine)
    assert untrained[0] in set(records["clinician_id"])
    at.selectbox(key="tr_clinician").set_value(untrained[0])
    at.date_input(key="tr_on").set_value(date(2025, 11, 4))
    at.button(key="tr_submit").click().run()
    assert any("a training record is not edited" in e.value for e in at.error)
    store.dispose()


# ------------------------------------------------------------------ issue #18's rough edges


def test_a_link_with_a_team_id_opens_that_team_on_the_reach_page(app_env) -> None:
    at = _reach(reach_team="b-copd")
    assert at.selectbox(key="reach_team").value == "b-copd"
    assert not [w.value for w in at.warning if "not registered" in w.value]
    unknown = _reach(reach_team="no-such-team")
    assert any("not registered" in w.value for w in unknown.warning)


def test_the_before_after_table_shows_team_names_not_ids(app_env) -> None:
    at = _reach("a-coach")
    teams = set(_frame(at, "Before")["Team"])
    assert _name("a-coach") in teams
    assert "a-coach" not in teams


def test_gaps_and_changes_use_a_minus_sign_and_never_minus_zero(app_env) -> None:
    import re

    at = _reach("b-copd")
    (flag,) = [w.value for w in at.warning if "less often" in w.value]
    assert "\u2212" in flag and not re.search(r"(^|[\s(])-\d", flag)
    cells = [*_frame(at, "Verdict")["Q1 − Q5 gap"], *_frame(at, "Before")["Change"]]
    assert not [c for c in cells if re.search(r"(^|[\s(])-\d|[+\u2212]0 points", c)], cells


def test_the_deprivation_verdict_is_for_the_latest_complete_quarter(app_env) -> None:
    at = _reach("b-copd", as_of="2025-05-20")  # 2025-Q2 is still running then
    text = _text(at)
    assert "2025-Q2 is not over yet" in text
    assert "latest complete quarter, 2025-Q1" in text
    flags = [w.value for w in at.warning if "less often" in w.value]
    assert all("2025-Q2" not in f for f in flags)
