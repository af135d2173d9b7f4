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


# --- who the shift reaches (issue #18) ---------------------------------------------------------


@pytest.fixture(scope="module")
def reach_story(seeded_db):
    from audit import queries, reach

    store = EventStore(f"sqlite:///{seeded_db}")
    rates = reach.quintile_rates(reach.imd_counts(store.engine), "agenda_setting")
    gaps = reach.quintile_gap(rates)
    counts = reach.clinician_counts(store.engine)
    training = reach.training_records(store.engine)
    ideas = queries.team_facts(store.engine, types=("MilestoneLogged",))
    store.dispose()
    return gaps, counts, training, ideas[ideas["kind"] == "change_idea"]


def _flagged(gaps, team: str) -> list[str]:
    mine = gaps[gaps["team"] == team]
    return mine[mine["verdict"] == "less often"]["period"].tolist()


def test_one_teams_deprivation_gap_closes_after_a_change_idea_logged_as_a_milestone(
    reach_story,
) -> None:
    from audit.measures import to_quarter

    gaps, _counts, _training, ideas = reach_story
    closing = []
    for team in sorted(set(gaps["team"]) - {"All teams"}):
        flagged = _flagged(gaps, team)
        quarters = sorted(gaps[gaps["team"] == team]["period"])
        if not flagged or flagged[-1] == quarters[-1]:
            continue  # never flagged, or still flagged now
        for idea in ideas[ideas["team_id"] == team].itertuples():
            landed = to_quarter(idea.on[:7])
            after = [q for q in quarters if q > landed]
            if flagged[-1] <= landed and len(after) >= 2:  # flagged up to the idea, not since
                closing.append((team, idea.title))
    assert closing, "a team whose Q1-Q5 gap closes after a change idea"
    assert any("deprived" in title for _team, title in closing)


def test_another_teams_deprivation_gap_persists_to_the_latest_quarters(reach_story) -> None:
    gaps = reach_story[0]
    persistent = [
        team
        for team in set(gaps["team"]) - {"All teams"}
        if (quarters := sorted(gaps[gaps["team"] == team]["period"]))
        and set(quarters[-4:]) <= set(_flagged(gaps, team))
    ]
    assert len(persistent) == 1


def test_trained_clinicians_document_more_after_their_training_than_before(reach_story) -> None:
    from audit import reach

    _gaps, counts, training, _ideas = reach_story
    summary = reach.before_after_summary(reach.before_after(counts, training, "agenda_setting"))
    mine = summary[(summary["team"] == "All teams") & (summary["group"] == "trained")]
    before = mine[mine["window"] == "before"].iloc[0]
    after = mine[mine["window"] == "after"].iloc[0]
    assert after["ci_low"] > before["ci_high"], "the rise is clear of the intervals"
    assert before["trained_clinicians"] >= 40
