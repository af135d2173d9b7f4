"""Not-applicable elements (ADR 0007) leave each measure's denominator in the reach aggregates
exactly as in the census: now, as of any moment, and whether folded in small batches or at once.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest

from audit import reach
from audit.measures import census_measures
from audit.projections import Projector
from events import EventStore, NewEvent
from events.types import (
    AgendaSet,
    ElementNotApplicable,
    ElementRetracted,
    FollowUpArranged,
    GoalAgreed,
)
from tests.helpers.clinic_log import Later, clinic_log

T0 = datetime(2024, 1, 1, 9, tzinfo=UTC)
CLINICIANS = {"copd1": ["k1", "k2"], "msk1": ["m1", "m2"]}
ELEMENTS = ("agenda_setting", "goal_setting", "follow_up")
SETS = {"agenda_setting": AgendaSet, "goal_setting": GoalAgreed, "follow_up": FollowUpArranged}


def programme(seed: int = 3, consultations: int = 120) -> list[NewEvent]:
    """Two teams over several months; elements yes, no or not applicable, some na recorded
    days later, some na later replaced by "yes" or retracted, one na before its consultation."""

    def early(i: int, cid: str, day: date) -> ElementNotApplicable | None:
        # not applicable recorded before the consultation reaches the log
        return (
            ElementNotApplicable(consultation_id=cid, element="follow_up") if i % 30 == 4 else None
        )

    def elements(rng: random.Random, cid: str, day: date, clock: datetime) -> list[Later]:
        out: list[Later] = []
        for element in ELEMENTS:
            roll = rng.random()
            when = clock + timedelta(days=rng.randint(1, 5)) if rng.random() < 0.3 else clock
            if roll < 0.4:
                out.append((when, SETS[element](consultation_id=cid, documented_on=day)))
            elif roll < 0.7:
                out.append((when, ElementNotApplicable(consultation_id=cid, element=element)))
                after = when + timedelta(days=2)
                if rng.random() < 0.15:  # na, later documented after all
                    out.append((after, SETS[element](consultation_id=cid, documented_on=day)))
                elif rng.random() < 0.15:  # na, later withdrawn: counts as "no" again
                    out.append((after, ElementRetracted(consultation_id=cid, element=element)))
        return out

    return clinic_log(
        random.Random(seed),
        start=T0,
        clinicians=CLINICIANS,
        consultations=consultations,
        step=lambda rng: timedelta(hours=rng.randint(6, 40)),
        quintiles=[1, 5, None],
        early=early,
        elements=elements,
    )


@pytest.fixture
def store(db_url: str):
    s = EventStore(db_url)
    Projector(s).ensure_schema()
    yield s
    s.dispose()


def _reach_denominators(counts) -> dict[tuple, tuple[int, int]]:
    """(team, period, measure) → (numerator, denominator) summed over the strata."""
    out = {}
    per = counts.groupby(["team", "period"]).sum(numeric_only=True)
    for (team, period), row in per.iterrows():
        for m in (*ELEMENTS, "all_three"):
            out[(team, period, m)] = (int(row[m]), int(row[f"den_{m}"]))
    return out


def _census(store: EventStore, as_of: datetime | None) -> dict[tuple, tuple[int, int]]:
    df = census_measures(store.engine, as_of=as_of)
    return {
        (r.team, r.period, r.measure): (int(r.numerator), int(r.denominator))
        for r in df.itertuples(index=False)
    }


def _nonzero(d: dict[tuple, tuple[int, int]]) -> dict[tuple, tuple[int, int]]:
    return {k: v for k, v in d.items() if v[1] > 0}


def test_reach_aggregates_give_each_measure_the_census_denominator_with_na_left_out(
    store,
) -> None:
    store.append_many(programme(), history=True)
    projector = Projector(store)
    while projector.catch_up(batch_size=17, max_batches=1):
        pass
    census = _census(store, None)
    notes = reach.clinician_counts(store.engine)
    # the fixture does exercise na: some measure's denominator is below the note count
    per_team_month = notes.groupby(["team", "period"])["notes"].sum()
    assert any(census[(t, p, "follow_up")][1] < n for (t, p), n in per_team_month.items()), (
        "fixture has no not-applicable follow-up"
    )
    for counts in (notes, reach.imd_counts(store.engine)):
        assert _nonzero(_reach_denominators(counts)) == census


def test_reach_denominators_as_of_any_moment_equal_the_census_as_of_then(store) -> None:
    store.append_many(programme(seed=8, consultations=80), history=True)
    projector = Projector(store)
    while projector.catch_up(batch_size=13, max_batches=1):
        pass
    stamps = sorted({e.recorded_at for e in store.read_all()})
    cutoffs = []
    for i in range(0, len(stamps), max(1, len(stamps) // 8)):
        exact = datetime.fromisoformat(stamps[i].replace("Z", "+00:00"))
        cutoffs += [exact, exact - timedelta(microseconds=1)]
    for cutoff in cutoffs:
        census = _census(store, cutoff)
        for counts in (
            reach.clinician_counts(store.engine, as_of=cutoff),
            reach.imd_counts(store.engine, as_of=cutoff),
        ):
            assert _nonzero(_reach_denominators(counts)) == census, cutoff


def test_reach_after_small_batches_equals_a_rebuild_with_na(store) -> None:
    store.append_many(programme(seed=11, consultations=90), history=True)
    projector = Projector(store)
    while projector.catch_up(batch_size=7, max_batches=1):
        pass
    incremental = (
        reach.clinician_counts(store.engine).to_dict("records"),
        reach.imd_counts(store.engine).to_dict("records"),
    )
    projector.rebuild()
    rebuilt = (
        reach.clinician_counts(store.engine).to_dict("records"),
        reach.imd_counts(store.engine).to_dict("records"),
    )
    assert incremental == rebuilt


def test_the_lenses_rates_use_the_measure_denominator_not_the_note_count(store) -> None:
    store.append_many(programme(), history=True)
    Projector(store).catch_up()
    census = _census(store, None)
    rates = reach.quintile_rates(reach.imd_counts(store.engine), "follow_up", quarterly=False)
    for team in CLINICIANS:
        per_month = rates[(rates["team"] == team)].groupby("period")["denominator"].sum()
        for period, den in per_month.items():
            assert den == census[(team, period, "follow_up")][1], (team, period)
    counts = reach.clinician_counts(store.engine)
    groups = reach.trained_vs_untrained(counts, reach.training_records(store.engine), "follow_up")
    mine = groups[groups["team"] == reach.ALL_TEAMS]
    expected = counts.groupby("period")["den_follow_up"].sum()
    for period, rows in mine.groupby("period"):
        if len(rows) == 2:  # nobody in their training month: both groups make up the month
            assert rows["denominator"].sum() == expected[period], period
