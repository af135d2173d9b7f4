"""What issue #12's speed-ups (old 75f4e0d vs new) must not change, on real databases.

* An append reads its duplicates and stream versions in one statement: short batches list
  their ids as placeholders, long ones pass each list as one parameter; both answer alike.
* The bulk path formats each moment once; an equal instant in another zone is the same text.
* The team chart is memoised on exactly what it read: shown again it is not drawn again, and
  after an event that changes it, it is drawn again and equals a fresh drawing.
* The overview read from plain tuples is the overview of a fresh memo, and the audit counts
  leave a not-applicable enabler out of its denominator (and out of ``all_three``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pandas as pd
import pytest

import seed
from audit import measures, views
from audit.projections import Projector
from events import EventStore, NewEvent
from events.elements import ALL, ELEMENTS
from events.store import DuplicateEventConflict, InvalidIdentifier, VersionConflict
from events.types import MEASURES, MilestoneLogged, TargetSet


def _note(i: int, team: str = "team01", title: str | None = None) -> MilestoneLogged:
    return MilestoneLogged(
        team_id=team, on=date(2024, 6, 1), kind="note", title=title or f"note {i}"
    )


@pytest.mark.parametrize("size", [1, 64, 65, 300])
def test_a_repeated_batch_is_skipped_and_versions_continue_whatever_its_size(
    db_url: str, size: int
) -> None:
    """1 and 64 ids go as placeholders, 65 and 300 as one parameter per list."""
    store = EventStore(db_url)
    store.create_schema()
    store.append([NewEvent(_note(-1))])
    batch = [NewEvent(_note(i), event_id=f"ev-{size}-{i}") for i in range(size)]
    first = store.append(batch)
    again = store.append(batch)
    assert (first.appended, first.skipped) == (size, 0)
    assert (again.appended, again.skipped) == (0, size)
    assert store.stream_version(_note(0).stream_id) == size + 1
    changed = [*batch[:-1], NewEvent(_note(0, title="other"), event_id=batch[-1].event_id)]
    with pytest.raises(DuplicateEventConflict, match="different payload"):
        store.append(changed)
    assert store.head().position == size + 1
    assert store.verify().ok
    store.dispose()


def test_an_expected_version_with_no_events_is_still_checked(db_url: str) -> None:
    store = EventStore(db_url)
    store.create_schema()
    store.append([NewEvent(_note(0))])
    stream = _note(0).stream_id
    with pytest.raises(VersionConflict, match="at version 1, expected 3"):
        store.append([], expected_version={stream: 3})
    assert store.append([], expected_version={stream: 1}).appended == 0
    store.dispose()


def test_history_stamps_equal_instants_in_any_zone_as_the_same_utc_text(tmp_path) -> None:
    store = EventStore(f"sqlite:///{tmp_path / 'h.db'}")
    store.create_schema()
    at = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
    plus_two = at.astimezone(timezone(timedelta(hours=2)))
    events = [
        NewEvent(_note(0), occurred_at=at, recorded_at=at),
        NewEvent(_note(1), occurred_at=plus_two, recorded_at=at),
        NewEvent(_note(2), occurred_at=at, recorded_at=plus_two),
        NewEvent(_note(3), occurred_at=date(2024, 3, 1), recorded_at=at),
        NewEvent(_note(4), occurred_at=at.replace(tzinfo=None), recorded_at=at),
    ]
    store.append_many(events, history=True)
    rows = [(e.occurred_at, e.recorded_at) for e in store.read_all()]
    stamp = "2024-03-01T09:30:00.000000Z"
    assert rows == [
        (stamp, stamp),
        (stamp, stamp),
        (stamp, stamp),
        ("2024-03-01T00:00:00.000000Z", stamp),
        (stamp, stamp),
    ]
    assert store.verify().ok
    store.dispose()


def _seeded(tmp_path, teams: int = 3) -> EventStore:
    store = EventStore(f"sqlite:///{tmp_path / 'pages.db'}")
    Projector(store).ensure_schema()
    seed.run_seed(store, scenario="large", seed=11, teams=teams, months=14, consultations=600)
    Projector(store).catch_up()
    return store


def test_a_team_chart_shown_again_is_not_drawn_again_and_is_redrawn_after_its_event(
    tmp_path, monkeypatch
) -> None:
    store = _seeded(tmp_path)
    team = str(views.overview(store.engine)["team_id"].iloc[0])
    views._TEAM_CHARTS.clear()
    drawn: list[str] = []
    real = views.judge_team

    def counted(*args, **kwargs):
        drawn.append(kwargs.get("team_id", ""))
        return real(*args, **kwargs)

    monkeypatch.setattr(views, "judge_team", counted)
    first = views.team_chart(store.engine, team, ALL)
    again = views.team_chart(store.engine, team, ALL)
    assert first is not None and again is first
    assert drawn == [team]  # shown again: nothing judged or drawn again
    store.append(
        [
            NewEvent(
                TargetSet(team_id=team, measure=ALL, target=0.99, from_period="2000-01", reason="x")
            )
        ]
    )
    Projector(store).catch_up()
    after = views.team_chart(store.engine, team, ALL)
    assert drawn == [team, team]  # its event changed what it reads: drawn again
    assert after is not None and after.target == 0.99 and first.target != 0.99
    views._TEAM_CHARTS.clear()
    fresh = views.team_chart(store.engine, team, ALL)
    assert fresh is not None
    pd.testing.assert_frame_equal(after.table, fresh.table)
    pd.testing.assert_frame_equal(after.frame, fresh.frame)
    store.dispose()


def test_the_overview_from_plain_tuples_matches_a_fresh_memo_for_every_pair(tmp_path) -> None:
    store = _seeded(tmp_path)
    views._JUDGED.clear()
    first = views.overview(store.engine)
    memoised = views.overview(store.engine)
    pd.testing.assert_frame_equal(first, memoised)
    assert len(first) == 3 * len(MEASURES)
    latest = views.audit_measures(store.engine)
    for row in first.itertuples():
        series = latest[
            (latest["team"] == row.team_id)
            & (latest["measure"] == row.measure)
            & (latest["denominator"] > 0)
        ]
        final = series[~series["provisional"]]
        assert row.sparkline == [float(x) for x in final["proportion"].tail(12)]
        assert row.latest_period in set(series["period"])
    store.dispose()


def test_audit_counts_leave_a_not_applicable_enabler_out_of_its_denominator() -> None:
    names = list(ELEMENTS.names)
    yes = dict.fromkeys(names, "yes")
    reviews = pd.DataFrame(
        [
            {"team": "t2", "period": "2024-02", **yes},
            {"team": "t1", "period": "2024-01", **yes},
            {"team": "t1", "period": "2024-01", **yes, names[0]: "not_applicable"},
            {"team": "t1", "period": "2024-01", **yes, names[1]: "no"},
        ]
    )
    counts = measures._counts(reviews, "period")
    got = {(r.team, r.period, r.measure): (r.numerator, r.denominator) for r in counts.itertuples()}
    assert list(counts["team"]) == sorted(counts["team"])  # sorted by team, period, measure
    assert got["t1", "2024-01", ALL] == (1, 2)  # the not-applicable note is out of all_three
    assert got["t1", "2024-01", names[0]] == (2, 2)  # and out of that enabler's denominator
    assert got["t1", "2024-01", names[1]] == (2, 3)  # a "no" stays in the denominator
    assert got["t2", "2024-02", ALL] == (1, 1)
    assert counts["numerator"].dtype == "int64" and counts["denominator"].dtype == "int64"
    assert measures._counts(reviews.iloc[:0], "period").empty


@pytest.mark.parametrize("char", ["\x1f", "\x85", "\n"])
def test_a_control_character_in_one_id_of_a_bulk_batch_is_still_refused(
    tmp_path, char: str
) -> None:
    """The one ``isprintable`` over both ids only picks the rows for the exact test: a
    control character is refused and named, nothing of the batch lands (a stream id's: the
    event types refuse it first; ``test_chain_integrity`` checks the store's own test)."""
    store = EventStore(f"sqlite:///{tmp_path / 'c.db'}")
    store.create_schema()
    good = [NewEvent(_note(i)) for i in range(100)]
    with pytest.raises(InvalidIdentifier, match="event id holds a control character"):
        store.append_many([*good, NewEvent(_note(100), event_id=f"e{char}1")])
    assert store.head().position == 0
    # not printable, but no control character: accepted as before
    store.append([NewEvent(_note(0), event_id="e\u00a01\u2028x")])
    assert store.head().position == 1 and store.verify().ok
    store.dispose()
