"""The census is the IMD reach tables summed over quintiles (issues #12 and #19, round 4).

rm_census and rm_census_daily held exactly rm_reach_imd and rm_reach_imd_daily summed over
``imd_quintile``, written a second time by every batch. They are gone: ``census_counts`` sums
the reach rows (one scan, one row per measure), read models laid out by an earlier version lose
the two tables when they are re-laid out, and the SQLite roll-up that feeds the reach tables
stays exact whatever order its notes' days come in. Real SQLite files and PostgreSQL
(``db_url``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import inspect

from audit import readmodel as rm
from audit.fold_sql import add_census
from audit.measures import census_measures
from audit.projections import Projector
from audit.queries import census_counts
from events import EventStore, NewEvent
from events.db import tables_missing
from events.types import AgendaSet, ConsultationHeld, ElementRetracted, TeamRegistered
from tests.helpers.readmodels import fold_prefix

T0 = datetime(2024, 3, 4, 9, tzinfo=UTC)


def _held(i: int, team: str, clinician: str, quintile: int | None, at: datetime) -> NewEvent:
    extra = {"imd_quintile": quintile} if quintile is not None else {}
    return NewEvent(
        ConsultationHeld(
            consultation_id=f"c{i}",
            team_id=team,
            clinician_id=clinician,
            patient_ref=f"p_{i:032x}",
            occurred_on=at.date(),
            contact="video",
            **extra,
        ),
        recorded_at=at,
    )


def _log() -> list[NewEvent]:
    """Two teams, notes in every quintile (and none given), an element on most, a retraction
    on a later day: census rows that only add up right across quintiles and days."""
    out = [
        NewEvent(TeamRegistered(team_id=t, name=t, site="S", service="MSK"), recorded_at=T0)
        for t in ("t1", "t2")
    ]
    for i in range(36):
        at = T0 + timedelta(hours=i * 7)
        team = "t1" if i % 3 else "t2"
        out.append(_held(i, team, f"k{i % 4}", (i % 6) or None, at))
        if i % 5:
            out.append(
                NewEvent(
                    AgendaSet(consultation_id=f"c{i}", documented_on=at.date()),
                    recorded_at=at + timedelta(minutes=1),
                )
            )
    out.append(
        NewEvent(
            ElementRetracted(consultation_id="c1", element="agenda_setting"),
            recorded_at=T0 + timedelta(days=12),
        )
    )
    return out


def test_the_census_is_the_imd_reach_summed_over_quintiles_with_no_table_of_its_own(
    db_url: str,
) -> None:
    store = EventStore(db_url)
    try:
        Projector(store).ensure_schema()
        store.append_many(_log(), history=True)
        Projector(store).catch_up(batch_size=7)
        names = set(inspect(store.engine).get_table_names())
        assert not names & {"rm_census", "rm_census_daily"}
        with store.engine.connect() as conn:
            imd = conn.exec_driver_sql(
                "SELECT team_id, period, SUM(agenda_setting), SUM(den_agenda_setting), "
                "SUM(notes) FROM rm_reach_imd GROUP BY team_id, period"
            ).fetchall()
        counts = {(r[0], r[1], r[2]): (int(r[3]), int(r[4])) for r in census_counts(store.engine)}
        for team, period, numerator, denominator, notes in imd:
            assert counts[(team, period, "agenda_setting")] == (numerator, denominator)
            assert denominator == notes  # nothing recorded as not applicable here
        assert sum(n for *_, n in imd) == 36
        # as of every day of the log, the same as folding only what was known then
        for day in range(0, 14, 2):
            cutoff = T0 + timedelta(days=day, hours=5)
            got = census_measures(store.engine, as_of=cutoff)
            want = fold_prefix(store, cutoff, lambda s: census_measures(s.engine))
            assert got.to_dict("records") == want.to_dict("records"), cutoff
    finally:
        store.dispose()


def test_read_models_laid_out_by_an_earlier_version_lose_their_census_tables(
    db_url: str,
) -> None:
    store = EventStore(db_url)
    try:
        projector = Projector(store)
        projector.ensure_schema()
        store.append_many(_log(), history=True)
        with store.engine.begin() as conn:  # what version 7 left behind
            conn.exec_driver_sql(
                "CREATE TABLE rm_census (team_id VARCHAR(120), period VARCHAR(7), "
                "measure VARCHAR(20), numerator INTEGER, denominator INTEGER)"
            )
            conn.exec_driver_sql("CREATE TABLE rm_census_daily (day VARCHAR(10))")
            conn.exec_driver_sql("UPDATE rm_meta SET value = 7 WHERE name = 'version'")
        Projector(store).ensure_schema()
        names = set(inspect(store.engine).get_table_names())
        assert not names & set(rm.RETIRED), names
        assert not tables_missing(store.engine, rm.read_models().table_names)
        with store.engine.connect() as conn:
            version = conn.exec_driver_sql(
                "SELECT value FROM rm_meta WHERE name = 'version'"
            ).scalar_one()
        assert int(version) == rm.VERSION
        Projector(store).catch_up()
        assert {r[2] for r in census_counts(store.engine)} == set(
            rm.read_models().registry.measures
        )
    finally:
        store.dispose()


def test_the_sqlite_roll_up_stays_exact_when_a_day_comes_back_after_a_later_one(
    tmp_path: Path,
) -> None:
    """Recorded days never decrease along the log, so a key's newest day row is its last; a
    batch that broke that (notes out of day order, a change for an earlier day) must still
    sum exactly: the day gets a second row and the upsert adds the two."""
    store = EventStore(f"sqlite:///{tmp_path / 'events.db'}")
    try:
        projector = Projector(store)
        projector.ensure_schema()
        lay = projector.layout
        width = len(lay.columns)

        def note(day: str, quintile: int, agenda: int) -> list:
            row: list = [0] * width
            row[lay.recorded] = f"{day}T09:00:00.000000Z"
            row[lay.team], row[lay.period] = "t1", "2024-03"
            row[lay.clinician], row[lay.imd] = "k1", quintile
            row[lay.init] = agenda  # agenda setting documented at creation
            return row

        created = [
            note("2024-03-04", 1, 1),
            note("2024-03-05", 1, 0),
            note("2024-03-04", 1, 1),  # back to an earlier day
            note("2024-03-05", 2, 1),
        ]
        sums = [0] * lay.sums
        sums[0] = -1  # a retraction recorded on the 4th
        changes = {("2024-03-04", "t1", "2024-03", "k1", 1): sums}
        with projector._locked() as conn:
            add_census(conn, True, created, changes, lay.note_census, lay.measures)
            add_census(conn, True, created[:1], {}, lay.note_census, lay.measures)
        with store.engine.connect() as conn:
            daily = conn.exec_driver_sql(
                "SELECT day, imd_quintile, agenda_setting, notes, den_agenda_setting "
                "FROM rm_reach_imd_daily ORDER BY day, imd_quintile"
            ).fetchall()
            now = conn.exec_driver_sql(
                "SELECT clinician_id, agenda_setting, notes, den_all_three FROM rm_reach_clinician"
            ).fetchall()
        assert [tuple(r) for r in daily] == [
            ("2024-03-04", 1, 2, 3, 3),
            ("2024-03-05", 1, 0, 1, 1),
            ("2024-03-05", 2, 1, 1, 1),
        ]
        assert [tuple(r) for r in now] == [("k1", 3, 5, 5)]
    finally:
        store.dispose()
