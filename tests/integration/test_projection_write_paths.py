"""The projector's write paths of issue #19 (round 3) give the read models of folding event by
event, on SQLite and PostgreSQL (``db_url``).

What changed underneath: a note created by a batch enters the census and reach aggregates once,
from its final creation-time counts (its same-instant elements no longer pass through the
census bookkeeping one by one); SQLite rolls the finest census rows up into the two daily reach
grains and derives every coarser table from those; PostgreSQL sums each key before expanding
it per measure, writes the daily tables' new days by plain ``INSERT`` (only a day the table
already holds is upserted), stages many reviews or surveys with ``COPY``, and writes teams and
clinicians in one statement per batch instead of one per row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event

from audit.projections import Projector
from audit.queries import census_counts
from events import EventStore, NewEvent
from events.store import parse_ts
from events.types import (
    AuditRoundOpened,
    ClinicianRegistered,
    ConsultationHeld,
    PatientSurveyReturned,
    TeamRegistered,
)
from tests.helpers.readmodels import snapshot
from tests.helpers.reference import note_states
from tests.integration.test_projection_fast_path import ELEMENT_EVENTS, mixed_log

T0 = datetime(2024, 5, 1, 9, tzinfo=UTC)
NAMES = [e for _, e in ELEMENT_EVENTS]


def reference_reach(store: EventStore) -> tuple[dict, dict]:
    """Per (team, month, clinician) and per (team, month, IMD quintile): each measure's
    numerator, notes, each measure's denominator — folded event by event in plain Python from
    the log (no projector)."""
    out: tuple[dict, dict] = (defaultdict(lambda: [0] * 9), defaultdict(lambda: [0] * 9))
    for held, note in note_states(store, ELEMENT_EVENTS):
        states = [note[e] for e in NAMES]
        yes = [s == "yes" for s in states] + [all(s == "yes" for s in states)]
        na = [s == "na" for s in states] + ["na" in states]
        month = (held["team_id"], held["occurred_on"][:7])
        strata = ((*month, held["clinician_id"]), (*month, held.get("imd_quintile") or 0))
        for table, key in zip(out, strata, strict=True):
            row = table[key]
            for i in range(4):
                row[i] += int(yes[i])
                row[5 + i] += int(not na[i])
            row[4] += 1
    return {k: tuple(v) for k, v in out[0].items()}, {k: tuple(v) for k, v in out[1].items()}


def _reach_rows(store: EventStore, table: str, stratum: str, daily: bool) -> dict:
    """A reach table's rows per (team, month, stratum), the daily table's days summed."""
    columns = [*NAMES, "all_three", "notes", *(f"den_{m}" for m in (*NAMES, "all_three"))]
    out: dict = defaultdict(lambda: [0] * 9)
    with store.engine.connect() as conn:
        for row in conn.exec_driver_sql(
            f"SELECT team_id, period, {stratum}, {', '.join(columns)} FROM {table}"
        ):
            acc = out[tuple(row[:3])]
            for i, v in enumerate(row[3:]):
                acc[i] += int(v)
    return {k: tuple(v) for k, v in out.items() if any(v)}


@pytest.fixture
def store(db_url: str, case_note_reviewed_v1: type) -> EventStore:
    s = EventStore(db_url)
    Projector(s).ensure_schema()
    s.append_many(mixed_log(case_note_reviewed_v1, notes=240), history=True)
    yield s
    s.dispose()


@pytest.mark.parametrize("batch", [1, 5, 50_000])
def test_every_reach_table_and_its_daily_twin_equal_folding_the_log_event_by_event(
    store: EventStore, batch: int
) -> None:
    Projector(store).catch_up(batch_size=batch)
    by_clinician, by_imd = reference_reach(store)
    for table, stratum, expected in (
        ("rm_reach_clinician", "clinician_id", by_clinician),
        ("rm_reach_imd", "imd_quintile", by_imd),
    ):
        assert _reach_rows(store, table, stratum, daily=False) == expected, table
        assert _reach_rows(store, f"{table}_daily", stratum, daily=True) == expected, table
    # the census (read from the IMD reach tables, summed over quintiles) is the reference's,
    # and its daily reading (every day before the cutoff's, plus the cutoff's own day) sums to
    # the same as the running totals
    census = _census_of(by_imd)
    with store.engine.connect() as conn:
        newest = conn.exec_driver_sql("SELECT MAX(recorded_at) FROM events").scalar_one()
    assert _counts(census_counts(store.engine)) == census
    assert _counts(census_counts(store.engine, as_of=parse_ts(newest))) == census
    assert _counts(census_counts(store.engine, as_of=T0 + timedelta(days=3650))) == census


def _census_of(by_imd: dict) -> dict:
    """The reference census: per (team, month, measure), the IMD reach sums over quintiles."""
    out: dict = defaultdict(lambda: [0, 0])
    for (team, period, _quintile), sums in by_imd.items():
        for i, measure in enumerate((*NAMES, "all_three")):
            out[(team, period, measure)][0] += sums[i]
            out[(team, period, measure)][1] += sums[5 + i]
    return {k: tuple(v) for k, v in out.items()}


def _counts(rows: Sequence) -> dict:
    got = {(r[0], r[1], r[2]): (int(r[3]), int(r[4])) for r in rows}
    assert len(got) == len(rows), "one row per team, month and measure"
    return got


def _many_reviews_and_surveys(case_note_reviewed_v1: type) -> list[NewEvent]:
    """One team, 90 notes reviewed in one round — a review of the first note recorded twice
    by the same reviewer with different answers — and 90 surveys, the first one's id
    returned twice: more rows than PostgreSQL writes one statement each."""
    out = [
        NewEvent(TeamRegistered(team_id="t1", name="T", site="S", service="MSK"), recorded_at=T0),
        NewEvent(
            ClinicianRegistered(clinician_id="k1", team_id="t1", role="physio"), recorded_at=T0
        ),
    ]
    ids = [f"c{i:03d}" for i in range(90)]
    out += [
        NewEvent(
            ConsultationHeld(
                consultation_id=c,
                team_id="t1",
                clinician_id="k1",
                patient_ref=f"p_{i:032x}",
                occurred_on=T0.date(),
                contact="telephone",
            ),
            recorded_at=T0 + timedelta(minutes=i),
        )
        for i, c in enumerate(ids)
    ]
    later = T0 + timedelta(days=3)
    out.append(
        NewEvent(
            AuditRoundOpened(
                round_id="r1",
                team_id="t1",
                period="2024-05",
                method="sample",
                sample_size=90,
                sampling_seed="s",
                sampled=tuple(ids),
            ),
            recorded_at=later,
        )
    )
    for i, c in enumerate([*ids, ids[0]]):
        first = i < len(ids)
        out.append(
            NewEvent(
                case_note_reviewed_v1(
                    round_id="r1",
                    consultation_id=c,
                    reviewer_id="aud",
                    agenda_setting=first,
                    goal_setting=True,
                    follow_up=first,
                ),
                recorded_at=later + timedelta(seconds=i),
            )
        )
    for n, i in enumerate([*range(90), 0]):
        out.append(
            NewEvent(
                PatientSurveyReturned(
                    team_id="t1",
                    survey_id=f"s{i:03d}",
                    returned_on=T0.date(),
                    agenda_setting="yes" if n < 90 else "no",
                    goal_setting="yes",
                    follow_up="not_sure",
                    confidence=i % 5 + 1,
                ),
                recorded_at=later + timedelta(hours=1, seconds=n),
            )
        )
    return out


def test_many_reviews_and_surveys_in_one_batch_keep_the_first_recorded_of_a_duplicate(
    db_url: str, case_note_reviewed_v1: type
) -> None:
    store = EventStore(db_url)
    try:
        projector = Projector(store)
        projector.ensure_schema()
        store.append_many(_many_reviews_and_surveys(case_note_reviewed_v1), history=True)
        while projector.catch_up(batch_size=1, max_batches=1):
            pass
        one_by_one = snapshot(store)
        projector.rebuild()  # one batch: the staged path on PostgreSQL
        assert snapshot(store) == one_by_one
        with store.engine.connect() as conn:
            reviews = conn.exec_driver_sql("SELECT COUNT(*) FROM rm_reviews").scalar_one()
            first = conn.exec_driver_sql(
                "SELECT agenda_setting, follow_up FROM rm_reviews WHERE consultation_id = 'c000'"
            ).one()
            surveys = conn.exec_driver_sql("SELECT COUNT(*) FROM rm_surveys").scalar_one()
            kept = conn.exec_driver_sql(
                "SELECT agenda_setting FROM rm_surveys WHERE survey_id = 's000'"
            ).scalar_one()
        assert (reviews, tuple(first), surveys, kept) == (90, ("yes", "yes"), 90, "yes")
    finally:
        store.dispose()


def _registrations(teams: int, clinicians: int) -> list[NewEvent]:
    out = [
        NewEvent(
            TeamRegistered(team_id=f"t{t}", name=f"T{t}", site="S", service="MSK"),
            recorded_at=T0,
        )
        for t in range(teams)
    ]
    out += [
        NewEvent(
            ClinicianRegistered(clinician_id=f"k{c}", team_id=f"t{c % teams}", role="physio"),
            recorded_at=T0,
        )
        for c in range(clinicians)
    ]
    out += [  # a team registered again (renamed): the later registration wins
        NewEvent(
            TeamRegistered(team_id="t0", name="renamed", site="S", service="MSK"),
            recorded_at=T0 + timedelta(minutes=1),
        )
    ]
    return out


def _statements_of_one_catch_up(store: EventStore) -> int:
    seen = []

    def count(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    event.listen(store.engine, "before_cursor_execute", count)
    try:
        Projector(store).catch_up()
    finally:
        event.remove(store.engine, "before_cursor_execute", count)
    return len(seen)


def test_a_batch_writes_teams_and_clinicians_in_one_statement_whatever_their_number(
    db_url: str, tmp_path, request: pytest.FixtureRequest
) -> None:
    counts = []
    for teams, clinicians in ((2, 3), (9, 60)):
        if not counts:
            url = db_url
        elif db_url.startswith("sqlite"):
            url = f"sqlite:///{tmp_path / 'second.db'}"
        else:
            url = request.getfixturevalue("pg_server").new_database()
        store = EventStore(url)
        try:
            Projector(store).ensure_schema()
            store.append_many(_registrations(teams, clinicians), history=True)
            counts.append(_statements_of_one_catch_up(store))
            with store.engine.connect() as conn:
                name = conn.exec_driver_sql(
                    "SELECT name FROM rm_teams WHERE team_id = 't0'"
                ).scalar_one()
                n = conn.exec_driver_sql("SELECT COUNT(*) FROM rm_clinicians").scalar_one()
            assert (name, n) == ("renamed", clinicians)
        finally:
            store.dispose()
    assert counts[0] == counts[1]
