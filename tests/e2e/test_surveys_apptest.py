"""The second source in the dashboard (AppTest on the seeded demo): the team page's
Case notes | Patient surveys | Both views, the overview's triangulation table, the import page,
and the "reseed to see surveys" notice on a demo seeded before surveys existed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import seed
from audit.projections import Projector
from audit.triangulation import FLAG_TEXT
from events import EventStore

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")


def _team_page(**query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    for key, value in query.items():
        at.query_params[key] = value
    at.switch_page("app_pages/team.py").run()
    assert not at.exception, at.exception
    return at


def _datasets(at: AppTest, index: int = 0) -> list[dict]:
    proto = at.get("vega_lite_chart")[index].proto
    spec = json.loads(proto.spec)
    rows: list[dict] = []
    for data in spec.get("datasets", {}).values():
        rows.extend(data)
    for ds in proto.datasets:
        import pyarrow as pa

        rows.extend(pa.ipc.open_stream(ds.data.data).read_all().to_pandas().to_dict("records"))
    return rows


def test_the_team_page_offers_case_notes_patient_surveys_and_both(dashboard_env) -> None:
    at = _team_page()
    source = at.radio(key="source")
    assert source.options == ["Case notes", "Patient surveys", "Both"]
    assert source.value == "case_notes"


def test_both_draws_the_two_rates_with_their_intervals_on_one_time_axis(dashboard_env) -> None:
    at = _team_page()
    at.selectbox(key="team").set_value("b-copd").run()
    at.radio(key="source").set_value("both").run()
    assert not at.exception, at.exception
    assert at.subheader[0].value.endswith("agenda setting, case notes and patients")
    spec = json.loads(at.get("vega_lite_chart")[0].proto.spec)
    marks = [layer["mark"]["type"] for layer in spec["layer"]]
    assert "area" in marks and "line" in marks and "point" in marks
    assert spec["layer"][0]["encoding"]["x"]["field"] == "date"  # one time axis for both
    rows = [r for r in _datasets(at) if r.get("proportion") is not None and "source" in r]
    sources = {r["source"] for r in rows}
    assert sources == {"Case notes (audit sample)", "Patients report (surveys)"}
    for r in rows:
        assert r["ci_low"] <= r["proportion"] <= r["ci_high"]
    provisional = {r["source"] for r in rows if r["provisional"]}
    assert provisional == {"Patients report (surveys)"}  # December's surveys are still coming
    icons = at.dataframe[0].value
    assert list(icons["Source"]) == ["Case notes (audit sample)", "Patients report (surveys)"]
    assert {"Variation", "Assurance"} <= set(icons.columns)
    assert any("No flag" in s.value for s in at.success)
    assert any("prompt, not a verdict" in c.value for c in at.caption)


def test_both_flags_the_tick_box_team_as_a_prompt_not_a_verdict(dashboard_env) -> None:
    at = _team_page()
    at.selectbox(key="team").set_value("b-diab").run()
    at.selectbox(key="measure").set_value("goal_setting").run()
    at.radio(key="source").set_value("both").run()
    assert not at.exception, at.exception
    warning = " ".join(w.value for w in at.warning)
    assert FLAG_TEXT in warning and "2025-Q3" in warning and "Newcombe" in warning
    assert any("prompt, not a verdict" in c.value for c in at.caption)


def test_patient_surveys_view_is_a_p_chart_of_final_months_with_the_month_table(
    dashboard_env,
) -> None:
    at = _team_page()
    at.selectbox(key="team").set_value("a-msk").run()
    at.radio(key="source").set_value("surveys").run()
    assert not at.exception, at.exception
    assert "as patients report it" in at.subheader[0].value
    assert any("We talked about what mattered most to me" in c.value for c in at.caption)
    points = [r for r in _datasets(at) if "point_label" in r]
    assert len(points) == 35 and "2025-12" not in {r["period"] for r in points}
    months = at.dataframe[0].value
    assert len(months) == 36 and months["Status"].iloc[-1] == "provisional"
    assert (months["Answering (n)"] <= 30).all()


def test_the_source_lives_in_the_url(dashboard_env) -> None:
    at = _team_page(source="Both")
    assert at.radio(key="source").value == "both"
    assert "case notes and patients" in at.subheader[0].value


def test_the_overview_lists_the_flagged_team_only(dashboard_env) -> None:
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    assert not at.exception, at.exception
    assert any(s.value == "Case notes and patient surveys" for s in at.subheader)
    flags = next(d.value for d in at.dataframe if "Screening flag" in d.value.columns)
    assert len(flags) >= 3 and flags["Team"].nunique() == 1
    assert all(FLAG_TEXT in f for f in flags["Screening flag"])
    assert any("prompt, not a verdict" in c.value for c in at.caption)


@pytest.fixture(scope="module")
def seeded_before_surveys(tmp_path_factory) -> str:
    """A demo database as seeded before sipdash had surveys: the same events, none of them
    a survey."""
    path = tmp_path_factory.mktemp("old-demo") / "old.db"
    store = EventStore(f"sqlite:///{path}")
    Projector(store).ensure_schema()
    old = (e for e in seed.generate("demo", 42) if e.event.type != "PatientSurveyReturned")
    store.append_many(old, history=True, metadata=seed.seed_metadata("demo", 42))
    Projector(store).catch_up()
    store.dispose()
    return f"sqlite:///{path}"


def test_a_demo_seeded_before_surveys_says_reseed_to_see_surveys(
    monkeypatch, seeded_before_surveys
) -> None:
    monkeypatch.setenv("SIPDASH_DATABASE_URL", seeded_before_surveys)
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    assert not at.exception, at.exception
    assert any("reseed to see surveys" in i.value for i in at.info)
    at.switch_page("app_pages/team.py").run()
    at.radio(key="source").set_value("both").run()
    assert not at.exception, at.exception
    assert any("reseed to see surveys" in i.value for i in at.info)


def test_surveys_import_through_the_import_page(monkeypatch, seeded_db_copy) -> None:
    url = f"sqlite:///{seeded_db_copy}"
    monkeypatch.setenv("SIPDASH_DATABASE_URL", url)
    monkeypatch.delenv("SIPDASH_LOCAL_ROLE", raising=False)
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.switch_page("app_pages/imports.py").run()
    at.radio(key="im_kind").set_value("surveys").run()
    assert any("survey_id,team,returned_on" in c.value for c in at.caption)
    bad = b"survey_id,team,returned_on,agenda_setting,goal_setting,follow_up\n" + (
        b"x-1,a-msk,2025-12-01,yes,943 476 5919,no\n"
    )
    at.file_uploader(key="im_file_surveys").upload("s.csv", bad, "text/csv").run()
    assert "(hidden)" in set(at.dataframe[0].value["goal_setting"])
    at.button(key="im_go").click().run()
    assert not at.exception, at.exception
    problems = next(d.value for d in at.dataframe if "Problem" in d.value.columns)
    assert "row 2, column goal_setting" in problems["Problem"].iloc[0]
    assert "943 476 5919" not in " ".join(problems["Problem"])
    good = b"survey_id,team,returned_on,agenda_setting,goal_setting,follow_up,confidence\n" + (
        b"x-1,a-msk,2025-12-01,yes,not sure,doesnt_apply,8\n"
    )
    at.file_uploader(key="im_file_surveys").upload("s2.csv", good, "text/csv").run()
    at.button(key="im_go").click().run()
    assert not at.exception, at.exception
    assert any("1 event appended" in s.value for s in at.success)


def test_the_survey_report_of_a_demo_seeded_before_surveys_says_reseed(
    seeded_before_surveys, capsys
) -> None:
    from dashboard.cli import main

    args = ["audit", "report", "--source", "surveys", "--format", "json"]
    assert main([*args, "--db", seeded_before_surveys]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out) == [] and "reseed to see surveys" in out.err
