"""Culture shift over time on the seeded demo: the curve's last month is the overview headline,
`sipdash audit headline` follows its contract (as-of → the same bytes after later events), and
the overview shows the curve, what changed since the last review and each team's direction."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from audit import views
from audit.changes import changed_since
from audit.curve import culture_curve
from audit.projections import Projector
from dashboard.cli import main
from events import EventStore, NewEvent
from events.types import MEASURES, TargetSet

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
AS_OF = "2025-06-30"


def test_the_curves_last_month_equals_the_overview_headline(seeded_url: str) -> None:
    store = EventStore(seeded_url)
    try:
        for as_of in (None, datetime(2025, 6, 30, 23, 59, 59, tzinfo=UTC)):
            curve = culture_curve(store.engine, as_of=as_of)
            last = curve[curve["period"] == curve["period"].max()].set_index("measure")
            heads = views.headlines(views.overview(store.engine, as_of=as_of))
            for h in heads:
                assert (last.loc[h.measure, "teams_norm"], last.loc[h.measure, "teams_total"]) == (
                    h.norm,
                    h.teams,
                ), (as_of, h.measure)
            # the curve grows over the programme: some month before the last counts fewer
            assert curve["teams_norm"].min() < curve["teams_norm"].max()
    finally:
        store.dispose()


def _headline(url: str, capsys, *args: str) -> str:
    assert main(["audit", "headline", "--db", url, *args]) == 0
    return capsys.readouterr().out


def test_audit_headline_json_follows_the_contract(seeded_url: str, capsys) -> None:
    records = json.loads(_headline(seeded_url, capsys, "--format", "json"))
    assert records and all(
        set(r) == {"period", "measure", "teams_norm", "teams_total"} for r in records
    )
    assert records == sorted(records, key=lambda r: (r["period"], r["measure"]))
    assert {r["measure"] for r in records} == set(MEASURES)
    assert all(0 <= r["teams_norm"] <= r["teams_total"] for r in records)
    csv = _headline(seeded_url, capsys, "--format", "csv")
    assert csv.splitlines()[0] == "period,measure,teams_norm,teams_total"
    assert len(csv.splitlines()) == len(records) + 1
    assert "teams_norm" in _headline(seeded_url, capsys)


def test_audit_headline_as_of_gives_the_same_bytes_after_later_events(
    seeded_db_copy: Path, capsys
) -> None:
    url = f"sqlite:///{seeded_db_copy}"
    before = _headline(url, capsys, "--format", "json", "--as-of", AS_OF)
    latest_before = _headline(url, capsys, "--format", "json")
    # a later, stricter target for every team from the first audited month: it moves today's
    # curve but must not move the curve as it was known on AS_OF
    store = EventStore(url)
    teams = [e.payload["team_id"] for e in store.read_all(types=["TeamRegistered"])]
    store.append(
        [
            NewEvent(
                TargetSet(
                    team_id=t, measure=m, target=0.99, from_period="2023-01", reason="stricter"
                )
            )
            for t in teams
            for m in MEASURES
        ]
    )
    Projector(store).catch_up()
    store.dispose()
    assert _headline(url, capsys, "--format", "json") != latest_before
    after = _headline(url, capsys, "--format", "json", "--as-of", AS_OF)
    assert after.encode() == before.encode()


def test_changed_since_an_as_of_date_is_reproducible(seeded_url: str) -> None:
    store = EventStore(seeded_url)
    try:
        since = datetime(2025, 3, 31, 23, 59, 59, tzinfo=UTC)
        now = datetime(2025, 9, 30, 23, 59, 59, tzinfo=UTC)
        first = changed_since(store.engine, since, as_of=now)
        again = changed_since(store.engine, since, as_of=now)
        assert not first.empty
        assert first.equals(again)
        before = views.overview(store.engine, as_of=since).set_index(["team_id", "measure"])
        after = views.overview(store.engine, as_of=now).set_index(["team_id", "measure"])
        for r in first.itertuples():
            if (r.team_id, r.measure) in before.index:
                assert before.loc[(r.team_id, r.measure), r.field] == r.then
            assert after.loc[(r.team_id, r.measure), r.field] == r.now
        # and a team-measure not listed did not change
        listed = {(r.team_id, r.measure, r.field) for r in first.itertuples()}
        for key in after.index.intersection(before.index):
            for field in ("variation", "assurance", "is_norm"):
                if (*key, field) not in listed:
                    assert before.loc[key, field] == after.loc[key, field]
    finally:
        store.dispose()


@pytest.fixture
def app_env(dashboard_env: str) -> str:
    return dashboard_env


def test_the_overview_shows_the_curve_what_changed_and_each_teams_direction(app_env) -> None:
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    assert not at.exception, at.exception
    subheaders = [s.value for s in at.subheader]
    assert "Culture shift over time" in subheaders
    assert "What changed since the last review" in subheaders
    spec = json.loads(at.get("vega_lite_chart")[0].proto.spec)
    assert "Agenda setting" in json.dumps(spec)  # a panel per enabler
    assert any("changed since" in c.value for c in at.caption)
    grid = next(d.value for d in at.dataframe if "Since last review" in d.value.columns)
    assert set(grid["Since last review"]) <= {"↗ Better", "↘ Worse", "→ Same", "● New"}
    assert grid["Since last review"].ne("→ Same").any()
