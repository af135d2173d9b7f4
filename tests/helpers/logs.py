"""Small event logs and raw database access shared by the integrity, truncation, crash and
backup tests (and the soak bench)."""

from __future__ import annotations

import sqlite3
from datetime import date

import psycopg
from sqlalchemy.engine import make_url

from audit.projections import Projector
from events import EventStore, NewEvent
from events.sql import Lock
from events.types import MEASURES, AgendaSet, ConsultationHeld, TargetSet, TeamRegistered


def pg_conninfo(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL as a psycopg connection string (password kept)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def consultation(i: int, patient: str, clinician: str = "k1") -> ConsultationHeld:
    """Consultation ``c{i}`` of team msk1, on a day of January 2024."""
    return ConsultationHeld(
        consultation_id=f"c{i}",
        team_id="msk1",
        clinician_id=clinician,
        patient_ref=patient,
        occurred_on=date(2024, 1, 1 + i % 28),
        contact="video",
    )


def folded_log(url: str, patient: str, n: int = 30) -> tuple[EventStore, str]:
    """Team msk1 and ``n`` consultations with agenda setting documented, one append each,
    folded; returns the store and the head hash."""
    store = EventStore(url)
    projector = Projector(store)
    projector.ensure_schema()
    store.append([NewEvent(TeamRegistered(team_id="msk1", name="MSK", site="N", service="MSK"))])
    for i in range(n):
        held = consultation(i, patient, clinician="K1")
        done = AgendaSet(consultation_id=held.consultation_id, documented_on=held.occurred_on)
        store.append([NewEvent(held), NewEvent(done)])
    projector.catch_up()
    return store, store.head().hash


def truncate(url: str, keep: int) -> None:
    """Cut the newest events off, as someone with full database rights could."""
    statement = f"DELETE FROM events WHERE position > {keep}"
    if url.startswith("sqlite"):
        conn = sqlite3.connect(make_url(url).database)
        conn.execute("DROP TRIGGER IF EXISTS events_no_delete")
        conn.execute(statement)
        conn.commit()
        conn.close()
        return
    with psycopg.connect(pg_conninfo(url)) as conn:
        conn.execute("ALTER TABLE events DISABLE TRIGGER ALL")
        conn.execute(statement)
        conn.execute("ALTER TABLE events ENABLE TRIGGER ALL")


def append_in_progress(url: str) -> bool:
    """Is some process inside an append (or restore) transaction right now, holding the
    append lock? SQLite: the file's writer lock is taken; PostgreSQL: the advisory lock."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(make_url(url).database, timeout=0, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError:  # "database is locked": a writer holds it
            return True
        finally:
            conn.close()
    with psycopg.connect(pg_conninfo(url), autocommit=True) as conn:
        return bool(
            conn.execute(
                "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s "
                "AND granted",
                (int(Lock.APPEND),),
            ).fetchone()[0]
        )


def head_position(url: str) -> int:
    """The log's head position, read through a store opened and closed for it."""
    store = EventStore(url)
    try:
        return store.head().position
    finally:
        store.dispose()


def one_team(url: str) -> str:
    """A new log at ``url`` holding team msk1 only (what an import needs first); the URL."""
    store = EventStore(url)
    store.create_schema()
    store.append(
        [NewEvent(TeamRegistered(team_id="msk1", name="MSK", site="North", service="MSK pain"))]
    )
    store.dispose()
    return url


def set_targets(store: EventStore, teams: list[str] | None = None, target: float = 0.99) -> None:
    """Append a target for every measure of ``teams`` (default: every registered team), from
    long before any data: the tests' way of changing a decision that every view reads."""
    if teams is None:
        teams = [e.payload["team_id"] for e in store.read_all(types=["TeamRegistered"])]
    store.append(
        [
            NewEvent(
                TargetSet(team_id=t, measure=m, target=target, from_period="2000-01", reason="x")
            )
            for t in teams
            for m in MEASURES
        ]
    )
