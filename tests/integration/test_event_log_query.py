"""The event log page's filter as one query (audit.queries.event_log_matches) on both backends:
the same events as filtering every event by hand, a bounded window, literal stream prefixes."""

from __future__ import annotations

import pytest

import seed
from audit import queries
from audit.projections import Projector
from events import EventStore


@pytest.fixture
def store(db_url: str):
    s = EventStore(db_url)
    Projector(s).ensure_schema()
    seed.run_seed(s, scenario="large", seed=11, teams=3, months=4, consultations=300)
    Projector(s).catch_up()
    yield s
    s.dispose()


def _team_by_hand(store: EventStore, ev) -> str | None:
    """The team as the page used to find it: payload, then the stream's own team."""
    if ev.payload.get("team_id"):
        return str(ev.payload["team_id"])
    kind, _, rest = ev.stream_id.partition("-")
    with store.engine.connect() as conn:
        if kind == "team":
            return rest
        if kind == "consultation":
            row = conn.exec_driver_sql(
                "SELECT team_id FROM rm_case_notes WHERE consultation_id = "
                + ("?" if store.engine.dialect.name == "sqlite" else "%s"),
                (rest,),
            ).fetchone()
            return row[0] if row else None
        if kind == "audit":
            row = conn.exec_driver_sql(
                "SELECT team_id FROM rm_audit_rounds WHERE round_id = "
                + ("?" if store.engine.dialect.name == "sqlite" else "%s"),
                (rest,),
            ).fetchone()
            return row[0] if row else None
    return None


def test_every_event_gets_the_team_found_by_hand(store) -> None:
    head = store.head().position
    found = dict(queries.event_log_matches(store.engine, after=0, scan_to=head, limit=head))
    events = list(store.read_all())
    assert len(found) == len(events)
    wrong = [
        (e.position, e.stream_id, found[e.position], _team_by_hand(store, e))
        for e in events
        if found[e.position] != _team_by_hand(store, e)
    ]
    assert not wrong, wrong[:5]


def test_a_team_filter_returns_that_teams_events_in_order_within_the_window(store) -> None:
    head = store.head().position
    teams = {
        t for _, t in queries.event_log_matches(store.engine, after=0, scan_to=head, limit=head)
    }
    team = sorted(t for t in teams if t)[1]
    got = queries.event_log_matches(
        store.engine, after=10, scan_to=head - 5, limit=50, team_id=team
    )
    assert got and all(t == team for _, t in got)
    positions = [p for p, _ in got]
    assert positions == sorted(positions) and positions[0] > 10 and positions[-1] <= head - 5
    assert len(got) == 50


def test_stream_prefix_is_literal_and_dates_filter_on_the_day_it_happened(store) -> None:
    head = store.head().position
    m = queries.event_log_matches
    assert m(store.engine, after=0, scan_to=head, limit=10, stream_prefix="consultation_") == []
    assert m(store.engine, after=0, scan_to=head, limit=10, stream_prefix="%") == []
    some = m(store.engine, after=0, scan_to=head, limit=10, stream_prefix="consultation-")
    assert len(some) == 10
    events = {e.position: e for e in store.read_all()}
    day = sorted({e.occurred_at[:10] for e in events.values()})[len(events) // 1000 + 3]
    hits = m(store.engine, after=0, scan_to=head, limit=head, date_from=day, date_to=day)
    assert hits and {events[p].occurred_at[:10] for p, _ in hits} == {day}
    assert len(hits) == sum(1 for e in events.values() if e.occurred_at[:10] == day)
