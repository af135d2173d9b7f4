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


# --- the second source: patient surveys ---------------------------------------------------------

RISING = {"improver", "fast_improver", "slow_improver"}


@pytest.fixture(scope="module")
def surveys_story(seeded_db):
    from audit.measures import audit_measures
    from audit.surveys import survey_measures
    from audit.triangulation import triangulation

    store = EventStore(f"sqlite:///{seeded_db}")
    out = (
        triangulation(store.engine),
        audit_measures(store.engine),
        survey_measures(store.engine),
    )
    store.dispose()
    plan = seed.build_plan("demo", seed=42)
    specs = {t["id"]: t for t in seed.load_params()["scenario"]["demo"]["team"]}
    return (*out, plan, specs)


def test_the_tick_box_team_is_flagged_as_documenting_more_than_patients_report(
    surveys_story,
) -> None:
    table, _, _, _, specs = surveys_story
    tick_box = [team for team, spec in specs.items() if spec.get("survey") == "tick_box"]
    assert len(tick_box) == 1
    mine = table[table["team"] == tick_box[0]]
    assert mine["quarter"].unique().tolist() == ["2025-Q3"]  # December's surveys are provisional
    assert mine["flagged"].all() and len(mine) == 4
    assert (mine["diff_low"] > 0.1).all()


def test_the_rising_teams_are_not_flagged(surveys_story) -> None:
    table, _, _, plan, specs = surveys_story
    rising = {
        tp.team_id
        for tp in plan.teams
        if tp.archetype in RISING and specs[tp.team_id].get("survey") != "tick_box"
    }
    assert len(rising) == 5
    theirs = table[table["team"].isin(rising)]
    assert len(theirs) == 5 * 4 and not theirs["flagged"].any()
    assert set(table.loc[table["flagged"], "team"]) <= {
        t for t, s in specs.items() if s.get("survey") == "tick_box"
    }


def test_patient_reported_rates_rise_after_the_case_note_rates(surveys_story) -> None:
    _, notes, surveys, plan, specs = surveys_story
    rising = [
        tp
        for tp in plan.teams
        if tp.archetype in RISING and specs[tp.team_id].get("survey") != "tick_box"
    ]

    def progress(df):
        """Pooled over the rising teams' enablers, months counted from each team's SIP start:
        0 = the rate before the SIP, 1 = the rate a year or more after it."""
        df = df[df["measure"].isin(ENABLERS)]
        month_of = {plan.calendar.period(m): m for m in range(plan.calendar.months)}
        sums: dict[int, list[int]] = {}
        for tp in rising:
            mine = df[df["team"] == tp.team_id].groupby("period")[["numerator", "denominator"]]
            for period, row in mine.sum().iterrows():
                k = month_of[period] - tp.sip_start
                acc = sums.setdefault(k, [0, 0])
                acc[0] += int(row["numerator"])
                acc[1] += int(row["denominator"])
        rate = {k: n / d for k, (n, d) in sums.items()}
        before = sum(v for k, v in rate.items() if k < 0) / sum(1 for k in rate if k < 0)
        after = sum(rate[k] for k in range(12, 19)) / 7
        return {k: (v - before) / (after - before) for k, v in rate.items()}

    notes_p, surveys_p = progress(notes), progress(surveys)
    assert all(surveys_p[k] < notes_p[k] for k in range(2, 8)), "patients lag the notes"

    def halfway(p):
        return min(k for k, v in p.items() if k >= 0 and v >= 0.5)

    assert halfway(surveys_p) >= halfway(notes_p) + 2
    assert surveys_p[14] > 0.8, "and then catch up"


def test_every_team_month_has_fifteen_to_thirty_survey_returns(surveys_story) -> None:
    _, _, surveys, _, _ = surveys_story
    per_month = surveys.groupby(["team", "period"])["denominator"].max()
    assert len(per_month) == 8 * 36
    assert per_month.between(10, 30).all() and 18 <= per_month.mean() <= 26
    assert surveys.loc[surveys["period"] == "2025-12", "provisional"].all()
    assert not surveys.loc[surveys["period"] < "2025-12", "provisional"].any()


def test_the_triangulation_pools_exactly_the_quarterly_audit_and_survey_counts(seeded_db) -> None:
    from audit.measures import audit_measures
    from audit.surveys import survey_measures
    from audit.triangulation import compare, latest_complete_quarter, triangulation

    store = EventStore(f"sqlite:///{seeded_db}")
    try:
        table = triangulation(store.engine)
        quarter = latest_complete_quarter(store.engine)
        again = compare(
            audit_measures(store.engine, quarterly=True),
            survey_measures(store.engine, quarterly=True),
            quarter,
        )
    finally:
        store.dispose()
    assert quarter == "2025-Q3" and len(table) == 8 * 4
    assert table.drop(columns="team_name").equals(again)
