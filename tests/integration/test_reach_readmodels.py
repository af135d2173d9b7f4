"""The reach aggregates (per team × month × clinician / IMD quintile, and training) are exact:
incremental catch-up equals a rebuild, and as-of equals folding only the log's prefix."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest

from audit import reach
from audit.projections import Projector
from events import EventStore, NewEvent
from events.types import (
    AgendaSet,
    ClinicianTrained,
    ElementRetracted,
    FollowUpArranged,
    GoalAgreed,
)
from tests.helpers.clinic_log import Later, clinic_log
from tests.helpers.readmodels import fold_prefix

T0 = datetime(2024, 1, 1, 9, tzinfo=UTC)
CLINICIANS = {"copd1": ["k1", "k2", "k3"], "msk1": ["m1", "m2"]}


def programme(seed: int = 5, consultations: int = 260) -> list[NewEvent]:
    """Two teams, five clinicians, quintiles (some absent), late elements, retractions, an
    element recorded before its consultation, and training part-way through."""

    def early(i: int, cid: str, day: date) -> AgendaSet | None:
        # documented before the consultation itself reaches the log
        return AgendaSet(consultation_id=cid, documented_on=day) if i % 40 == 7 else None

    def elements(rng: random.Random, cid: str, day: date, clock: datetime) -> list[Later]:
        out: list[Later] = []
        for cls, p in ((AgendaSet, 0.4), (GoalAgreed, 0.5), (FollowUpArranged, 0.7)):
            if rng.random() < p:
                when = clock + timedelta(days=rng.randint(1, 9)) if rng.random() < 0.25 else clock
                out.append((when, cls(consultation_id=cid, documented_on=day)))
        if rng.random() < 0.05:
            retracted = ElementRetracted(consultation_id=cid, element="goal_setting")
            out.append((clock + timedelta(days=2), retracted))
        return out

    return clinic_log(
        random.Random(seed),
        start=T0,
        clinicians=CLINICIANS,
        consultations=consultations,
        step=lambda rng: timedelta(minutes=rng.randint(120, 900)),
        quintiles=[1, 2, 3, 4, 5, None],
        early=early,
        elements=elements,
    )


@pytest.fixture
def store(db_url: str):
    s = EventStore(db_url)
    Projector(s).ensure_schema()
    yield s
    s.dispose()


def _records(df) -> list[dict]:
    return df.to_dict("records")


def _truth(store: EventStore, cutoff: datetime | None):
    """Both aggregates and training from folding only the prefix recorded by ``cutoff``."""
    return fold_prefix(
        store,
        cutoff,
        lambda fresh: (
            _records(reach.clinician_counts(fresh.engine)),
            _records(reach.imd_counts(fresh.engine)),
            _records(reach.training_records(fresh.engine)),
        ),
    )


def test_reach_aggregates_from_tiny_batches_equal_a_fold_of_the_whole_log(store) -> None:
    store.append_many(programme(), history=True)
    projector = Projector(store)
    while projector.catch_up(batch_size=11, max_batches=1):
        pass
    incremental = (
        _records(reach.clinician_counts(store.engine)),
        _records(reach.imd_counts(store.engine)),
        _records(reach.training_records(store.engine)),
    )
    assert incremental == _truth(store, None)
    assert sum(r["notes"] for r in incremental[0]) == 260
    assert {r["imd_quintile"] for r in incremental[1]} == {0, 1, 2, 3, 4, 5}


def test_reach_as_of_is_exact_at_every_cutoff(store) -> None:
    store.append_many(programme(seed=9, consultations=150), history=True)
    projector = Projector(store)
    while projector.catch_up(batch_size=13, max_batches=1):
        pass
    stamps = sorted({e.recorded_at for e in store.read_all()})
    cutoffs = []
    for i in range(0, len(stamps), max(1, len(stamps) // 6)):
        exact = datetime.fromisoformat(stamps[i].replace("Z", "+00:00"))
        cutoffs += [exact, exact - timedelta(microseconds=1)]
    cutoffs.append(datetime.fromisoformat(stamps[-1].replace("Z", "+00:00")) + timedelta(days=2))
    for cutoff in cutoffs:
        actual = (
            _records(reach.clinician_counts(store.engine, as_of=cutoff)),
            _records(reach.imd_counts(store.engine, as_of=cutoff)),
            _records(reach.training_records(store.engine, as_of=cutoff)),
        )
        assert actual == _truth(store, cutoff), cutoff


def test_a_team_filter_reads_only_that_team(store) -> None:
    store.append_many(programme(consultations=60), history=True)
    Projector(store).catch_up()
    cutoff = T0 + timedelta(days=10)
    for as_of in (None, cutoff):
        mine = reach.imd_counts(store.engine, as_of=as_of, team="msk1")
        every = reach.imd_counts(store.engine, as_of=as_of)
        assert _records(mine) == _records(every[every["team"] == "msk1"].reset_index(drop=True))


def test_a_second_training_record_of_the_same_programme_does_not_replace_the_first(store) -> None:
    store.append_many(programme(consultations=10), history=True)
    later = ClinicianTrained(clinician_id="k1", team_id="copd1", on=date(2024, 6, 1))
    store.append([NewEvent(later)])
    Projector(store).catch_up()
    rows = reach.training_records(store.engine)
    assert rows["clinician_id"].tolist() == ["k1"]
    assert rows["trained_on"].iloc[0] < "2024-06-01"


def test_the_pack_tables_give_each_team_and_all_teams_with_their_n(store) -> None:
    store.append_many(programme(consultations=200), history=True)
    Projector(store).catch_up()
    tables = reach.pack_tables(store.engine, measure="agenda_setting")
    assert set(tables) == {"coverage", "before_after", "deprivation"}
    assert set(tables["coverage"]["team"]) == {"copd1", "msk1", reach.ALL_TEAMS}
    assert {"active", "trained", "share"} <= set(tables["coverage"].columns)
    gap = tables["deprivation"]
    assert {"q1_notes", "q5_notes", "verdict", "share_missing"} <= set(gap.columns)
    assert gap.groupby("team").size().eq(1).all(), "the latest quarter only"


def test_the_pack_lines_say_observational_and_give_the_n(store) -> None:
    store.append_many(programme(consultations=200), history=True)
    Projector(store).catch_up()
    lines = reach.pack_lines(reach.pack_tables(store.engine, measure="agenda_setting"))
    assert "not that training caused a change" in lines[0]
    assert "English Indices of Deprivation 2019" in lines[1]
    assert lines[2].startswith("All teams: ") and "active clinicians trained in ADP" in lines[2]
    assert any(("n = " in line or "too few notes" in line) for line in lines[2:])
