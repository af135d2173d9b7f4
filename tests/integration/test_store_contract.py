"""The event store's contract, run unchanged against SQLite and a real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import BaseModel

from events import (
    DuplicateEventConflict,
    EventStore,
    EventValidationError,
    HistoryNotAllowed,
    NewEvent,
    UnknownEventType,
    VersionConflict,
    parse_event,
)
from events.types import CaseNoteReviewed, ConsultationHeld, TeamRegistered

PATIENT = "p_" + "ab" * 16


def team(team_id: str = "msk1", name: str = "MSK pain") -> TeamRegistered:
    return TeamRegistered(team_id=team_id, name=name, site="Northfield", service="MSK pain")


def consultation(cid: str, team_id: str = "msk1") -> ConsultationHeld:
    return ConsultationHeld(
        consultation_id=cid,
        team_id=team_id,
        clinician_id="c1",
        patient_ref=PATIENT,
        occurred_on=date(2024, 3, 1),
        contact="telephone",
    )


@pytest.fixture
def store(db_url: str) -> EventStore:
    s = EventStore(db_url)
    s.create_schema()
    yield s
    s.dispose()


def test_an_append_is_read_back_with_position_version_and_payload(store: EventStore) -> None:
    result = store.append([NewEvent(team())], expected_version=0)
    assert result.appended == 1
    (ev,) = list(store.read_all())
    assert ev.position == 1
    assert ev.stream_id == "team-msk1"
    assert ev.stream_version == 1
    assert ev.type == "TeamRegistered"
    assert ev.event == team()


def test_a_batch_lands_whole_or_not_at_all(store: EventStore) -> None:
    store.append([NewEvent(team())])
    good = NewEvent(consultation("a"))
    clash = NewEvent(team("msk1", "Other name"), event_id=next(store.read_all()).event_id)
    with pytest.raises(DuplicateEventConflict):
        store.append([good, clash])
    assert store.head().position == 1
    assert [e.type for e in store.read_all()] == ["TeamRegistered"]


def test_a_stream_that_moved_on_raises_a_retryable_version_conflict(store: EventStore) -> None:
    store.append([NewEvent(team())], expected_version=0)
    with pytest.raises(VersionConflict) as info:
        store.append([NewEvent(team())], expected_version=0)
    assert info.value.retryable
    assert "expected 0" in str(info.value)
    store.append([NewEvent(team())], expected_version=1)
    assert store.stream_version("team-msk1") == 2


def test_appending_the_same_event_id_with_the_same_content_is_a_no_op(store: EventStore) -> None:
    ev = NewEvent(consultation("a"), event_id="11111111-1111-4111-8111-111111111111")
    store.append([ev])
    again = NewEvent(consultation("a"), event_id=ev.event_id, metadata={"actor": "someone else"})
    result = store.append([again])
    assert (result.appended, result.skipped) == (0, 1)
    assert store.head().position == 1


def test_the_same_event_id_with_other_content_is_refused(store: EventStore) -> None:
    eid = "22222222-2222-4222-8222-222222222222"
    store.append([NewEvent(consultation("a"), event_id=eid)])
    with pytest.raises(DuplicateEventConflict, match="payload"):
        store.append([NewEvent(consultation("a", team_id="copd1"), event_id=eid)])


def test_positions_are_strictly_increasing_without_gaps(store: EventStore) -> None:
    store.append_many(NewEvent(consultation(f"c{i}")) for i in range(250))
    store.append([NewEvent(team())])
    positions = [e.position for e in store.read_all(batch_size=40)]
    assert positions == list(range(1, 252))


def test_read_all_pages_after_a_position_filters_by_type_and_limits(store: EventStore) -> None:
    store.append([NewEvent(team())])
    store.append_many(NewEvent(consultation(f"c{i}")) for i in range(30))
    after = list(store.read_all(after=10, limit=5))
    assert [e.position for e in after] == [11, 12, 13, 14, 15]
    only_teams = list(store.read_all(types=["TeamRegistered"]))
    assert [e.type for e in only_teams] == ["TeamRegistered"]


def test_read_stream_returns_one_stream_in_version_order(store: EventStore) -> None:
    store.append([NewEvent(team())])
    store.append([NewEvent(consultation("a"))])
    store.append([NewEvent(team("msk1", "MSK pain (renamed)"))])
    stream = store.read_stream("team-msk1")
    assert [e.stream_version for e in stream] == [1, 2]
    assert stream[1].payload["name"] == "MSK pain (renamed)"


def test_recorded_at_never_decreases_along_position(store: EventStore) -> None:
    for i in range(20):
        store.append([NewEvent(consultation(f"c{i}"))])
    recorded = [e.recorded_at for e in store.read_all()]
    assert recorded == sorted(recorded)


def test_an_explicit_recorded_at_is_refused_outside_history_loading(store: EventStore) -> None:
    past = datetime(2023, 1, 1, tzinfo=UTC)
    with pytest.raises(HistoryNotAllowed):
        store.append([NewEvent(team(), recorded_at=past)])
    assert store.head().position == 0


def test_history_loads_only_into_an_empty_log(store: EventStore) -> None:
    t0 = datetime(2023, 1, 1, tzinfo=UTC)
    history = [
        NewEvent(consultation(f"c{i}"), recorded_at=t0 + timedelta(days=i)) for i in range(5)
    ]
    store.append_many(history, history=True)
    assert [e.recorded_at[:10] for e in store.read_all()][:2] == ["2023-01-01", "2023-01-02"]
    with pytest.raises(HistoryNotAllowed, match="empty log"):
        store.append_many([NewEvent(team(), recorded_at=t0)], history=True)


def test_as_of_reads_a_prefix_of_the_log(store: EventStore) -> None:
    t0 = datetime(2023, 1, 1, tzinfo=UTC)
    store.append_many(
        [NewEvent(consultation(f"c{i}"), recorded_at=t0 + timedelta(days=i)) for i in range(10)],
        history=True,
    )
    cutoff = t0 + timedelta(days=4)
    known = list(store.read_all(as_of=cutoff))
    assert [e.position for e in known] == [1, 2, 3, 4, 5]
    assert store.head(as_of=cutoff).position == 5


def test_the_head_as_of_a_cutoff_is_the_last_position_then_ties_and_all_included(
    store: EventStore,
) -> None:
    """The as-of head is found on the recorded_at index (ordered by recorded_at, then
    position): events sharing a recorded_at are all known at it, the last of them is the head,
    and a cutoff before every event is the empty log's head."""
    t0 = datetime(2023, 1, 1, tzinfo=UTC)
    days = [0, 1, 1, 1, 2, 3, 3]
    store.append_many(
        [
            NewEvent(consultation(f"c{i}"), recorded_at=t0 + timedelta(days=d))
            for i, d in enumerate(days)
        ],
        history=True,
    )
    assert store.head(as_of=t0 + timedelta(days=1)).position == 4
    assert store.head(as_of=t0 + timedelta(days=1, hours=12)).position == 4
    assert store.head(as_of=t0 + timedelta(days=3)).position == 7
    assert store.head(as_of=t0 + timedelta(days=9)) == store.head()
    empty = store.head(as_of=t0 - timedelta(seconds=1))
    assert (empty.position, empty.recorded_at) == (0, None)


def test_a_bad_field_is_refused_with_its_name_before_anything_is_written(
    store: EventStore,
) -> None:
    with pytest.raises(EventValidationError, match="contact"):
        parse_event("ConsultationHeld", consultation("a").payload() | {"contact": "pigeon"})
    with pytest.raises(UnknownEventType):
        parse_event("ConsultationTeleported", {})
    assert store.head().position == 0


def test_an_old_schema_version_is_upcast_to_the_current_shape_on_read(
    store: EventStore, case_note_reviewed_v1: type
) -> None:
    CaseNoteReviewedV1 = case_note_reviewed_v1  # noqa: N806 - a class
    old = CaseNoteReviewedV1(
        round_id="r1",
        consultation_id="a",
        reviewer_id="auto",
        agenda_setting=True,
        goal_setting=False,
        follow_up=True,
    )
    store.append([NewEvent(old)])
    (ev,) = list(store.read_all())
    assert ev.schema_version == 1
    assert isinstance(ev.event, CaseNoteReviewed)
    assert (ev.event.agenda_setting, ev.event.goal_setting) == ("yes", "no")
    assert isinstance(old, BaseModel)


def test_verify_passes_on_an_untouched_log_and_reports_the_head(store: EventStore) -> None:
    store.append_many(NewEvent(consultation(f"c{i}")) for i in range(50))
    result = store.verify()
    assert result.ok
    assert result.line() == f"ok: 50 events, head {store.head().hash}"


def test_verify_with_an_expected_head_still_on_the_chain_passes(store: EventStore) -> None:
    store.append_many(NewEvent(consultation(f"c{i}")) for i in range(5))
    published = store.head().hash
    store.append([NewEvent(team())])
    assert store.verify(expect_head=published).ok
    bogus = "f" * 64
    result = store.verify(expect_head=bogus)
    assert not result.ok
    assert "no longer on the chain" in result.line()


def test_the_database_refuses_updates_and_deletes_of_events(store: EventStore) -> None:
    store.append([NewEvent(team())])
    with store.engine.connect() as conn, pytest.raises(Exception, match="append-only"):
        conn.exec_driver_sql("UPDATE events SET payload = '{}'")
    with store.engine.connect() as conn, pytest.raises(Exception, match="append-only"):
        conn.exec_driver_sql("DELETE FROM events")
    assert store.verify().ok
