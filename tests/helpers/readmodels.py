"""Read-model comparisons shared by the projection, reach and reliability tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from audit import readmodel as rm
from audit.projections import Projector
from events import EventStore, NewEvent
from events.store import parse_ts

T = TypeVar("T")


def snapshot(store: EventStore) -> dict[str, list]:
    """Every read-model table's rows, order-independent (values as text, so both backends
    compare alike)."""
    out = {}
    with store.engine.connect() as conn:
        for table in rm.ALL_TABLES:
            rows = conn.execute(table.select()).fetchall()
            out[table.name] = sorted(tuple(str(v) for v in r) for r in rows)
    return out


def fold_prefix(store: EventStore, cutoff: datetime | None, read: Callable[[EventStore], T]) -> T:
    """What ``read`` gives over read models folded from only the events recorded by ``cutoff``
    (all of them when None): a fresh in-memory SQLite log, one catch-up. The truth an as-of
    read must equal."""
    fresh = EventStore("sqlite://")
    projector = Projector(fresh)
    projector.ensure_schema()
    known = [
        NewEvent(e.event, event_id=e.event_id, recorded_at=parse_ts(e.recorded_at))
        for e in store.read_all(as_of=cutoff)
    ]
    if known:
        fresh.append_many(known, history=True)
    projector.catch_up()
    try:
        return read(fresh)
    finally:
        fresh.dispose()
