"""The bulk append path (COPY on PostgreSQL, one membership query per batch) keeps every
promise of the store: same rows and head hash as one-by-one appends, keyed rows verify,
re-appends are no-ops, other content is refused, streams continue across batches and calls."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from events import DuplicateEventConflict, EventStore, NewEvent
from events.types import ConsultationHeld, TeamRegistered

LOG_KEY = "k" * 32


def _history(n: int, start: int = 0) -> list[NewEvent]:
    out = []
    for i in range(start, start + n):
        out.append(
            NewEvent(
                ConsultationHeld(
                    consultation_id=f"c{i:06d}",
                    team_id="msk1",
                    clinician_id=f"K{i % 7}",
                    patient_ref=f"p_{i:016x}",
                    occurred_on=date(2024, 1 + i % 12, 1 + i % 28),
                    contact="video",
                ),
                event_id=f"00000000-0000-4000-8000-{i:012d}",
                recorded_at=datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=i),
            )
        )
    return out


def _team_events(n: int) -> list[NewEvent]:
    """``n`` events on ONE stream, so stream versions must continue across batches."""
    return [
        NewEvent(
            TeamRegistered(team_id="msk1", name=f"MSK {i}", site="N", service="M"),
            event_id=f"00000000-0000-4000-9000-{i:012d}",
        )
        for i in range(n)
    ]


def test_a_bulk_history_load_in_batches_gives_the_head_of_one_plain_insert_batch(
    db_url: str, tmp_path
) -> None:
    events = _history(300)
    bulk = EventStore(db_url)
    bulk.create_schema()
    result = bulk.append_many(events, history=True, batch_size=128, metadata={"actor": "t"})
    assert result.appended == 300
    # the same history in one SQLite batch (plain INSERT): the same rows, the same head
    single = EventStore(f"sqlite:///{tmp_path / 'single.db'}")
    single.create_schema()
    single.append_many(events, history=True, batch_size=1_000, metadata={"actor": "t"})
    assert bulk.head().hash == single.head().hash
    assert bulk.verify().ok
    bulk.dispose()
    single.dispose()


def test_a_second_bulk_append_skips_what_is_stored_and_refuses_other_content(
    db_url: str,
) -> None:
    store = EventStore(db_url)
    store.create_schema()
    first = _history(200)
    store.append_many(first, history=True, batch_size=100)
    again = store.append_many([NewEvent(e.event, event_id=e.event_id) for e in first[:150]])
    assert (again.appended, again.skipped) == (0, 150)
    more = _history(120, start=150)  # 50 stored, 70 new
    result = store.append_many(
        [NewEvent(e.event, event_id=e.event_id) for e in more], batch_size=64
    )
    assert (result.appended, result.skipped) == (70, 50)
    changed = NewEvent(
        TeamRegistered(team_id="msk1", name="other", site="N", service="M"),
        event_id=first[10].event_id,
    )
    with pytest.raises(DuplicateEventConflict):
        store.append_many([*_team_events(100), changed], atomic=True)
    assert store.head().position == 270  # atomic: none of the 101 landed
    assert store.verify().ok
    store.dispose()


def test_stream_versions_continue_across_batches_and_calls(db_url: str) -> None:
    store = EventStore(db_url)
    store.create_schema()
    events = _team_events(300)
    store.append_many(events[:130], batch_size=64)
    store.append_many(events[130:], batch_size=100, atomic=True)
    stream = [e for e in store.read_all() if e.stream_id == "team-msk1"]
    assert [e.stream_version for e in stream] == list(range(1, 301))
    assert store.verify().ok
    store.dispose()


def test_keyed_bulk_appends_carry_an_hmac_on_every_row_and_verify(db_url: str) -> None:
    store = EventStore(db_url, log_key=LOG_KEY)
    store.create_schema()
    store.append_many(_history(200), history=True, batch_size=100)
    store.append_many(_team_events(3))  # the small-batch path after the bulk one
    with store.engine.connect() as conn:
        missing = conn.exec_driver_sql("SELECT count(*) FROM events WHERE hmac IS NULL").scalar()
        versions = conn.exec_driver_sql("SELECT DISTINCT hash_version FROM events").fetchall()
    assert missing == 0
    assert versions == [(2,)]
    assert store.verify().ok
    store.dispose()
