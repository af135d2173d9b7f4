"""On the seeded demo, the SPC rules tell the programme's story: teams rise, one stays flat,
one slips back (what `sipdash audit report` and the overview show)."""

from __future__ import annotations

import json

import pytest

import seed
from audit import views
from dashboard.cli import main
from events import EventStore

ENABLERS = ("agenda_setting", "goal_setting", "follow_up")


@pytest.fixture(scope="module")
def story(seeded_db):
    store = EventStore(f"sqlite:///{seeded_db}")
    grid = views.overview(store.engine)
    store.dispose()
    plan = seed.build_plan("demo", seed=42)
    kinds = {tp.team_id: tp.archetype for tp in plan.teams}
    return grid, kinds


def _rows(grid, kinds, archetype):
    return grid[grid["team_id"].map(kinds) == archetype]


def test_improving_teams_show_a_sustained_improvement_signal_in_every_enabler(story) -> None:
    grid, kinds = story
    improvers = grid[grid["team_id"].map(kinds).isin({"improver", "fast_improver"})]
    per_team = improvers[improvers["measure"].isin(ENABLERS)].groupby("team_id")[
        "first_improvement"
    ]
    assert per_team.apply(lambda s: s.notna().all()).sum() >= 3


def test_the_flat_team_shows_no_improvement_signal_and_fails_the_target(story) -> None:
    grid, kinds = story
    flat = _rows(grid, kinds, "no_shift")
    assert flat["first_improvement"].isna().all()
    assert set(flat["variation"]) <= {"common_cause", "concern"}
    assert set(flat["assurance"]) == {"fail"}
    assert not flat["is_norm"].any()


def test_the_regressing_team_improved_and_now_shows_concern(story) -> None:
    grid, kinds = story
    slipping = _rows(grid, kinds, "regresser")
    assert slipping["first_improvement"].notna().sum() >= 3
    assert (slipping["variation"] == "concern").sum() >= 3
    assert grid.iloc[0]["team_id"] == slipping.iloc[0]["team_id"], "concern is listed first"


def test_audit_report_carries_every_team_month_with_twenty_notes(seeded_url, capsys) -> None:
    assert main(["audit", "report", "--format", "json", "--db", seeded_url]) == 0
    records = json.loads(capsys.readouterr().out)
    # b-mood's audit pauses for nine months (2024-06 to 2025-02): a gap, by design
    assert len({(r["team"], r["period"]) for r in records}) == 8 * 36 - 9
    agenda = [r for r in records if r["measure"] == "agenda_setting"]
    assert all(r["denominator"] == 20 and not r["small"] for r in agenda)
