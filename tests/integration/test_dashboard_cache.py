"""The dashboard's cache seam (dashboard/data.py) on a real SQLite file: a view as of a past
moment stays cached after later events (every read is as-of exact, so it is keyed on the head
as it stood then), while the latest view is recomputed at once."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pandas as pd

import seed
from audit import views
from audit.projections import Projector
from events import EventStore
from tests.helpers.logs import set_targets


def test_an_as_of_view_is_not_recomputed_after_a_later_event(tmp_path, monkeypatch) -> None:
    url = f"sqlite:///{tmp_path / 'cache.db'}"
    store = EventStore(url)
    Projector(store).ensure_schema()
    seed.run_seed(store, scenario="large", seed=5, teams=2, months=14, consultations=600)
    Projector(store).catch_up()
    time.sleep(0.01)
    as_of = datetime.now(UTC)
    time.sleep(0.01)
    monkeypatch.setenv("SIPDASH_DATABASE_URL", url)
    from dashboard import data

    calls: list[object] = []
    real = views.overview

    def counted(engine, **kwargs):
        calls.append(kwargs.get("as_of"))
        return real(engine, **kwargs)

    monkeypatch.setattr(views, "overview", counted)
    snap = data.refresh()
    then = data.overview(snap, as_of)
    now = data.overview(snap)
    assert calls == [as_of, None]

    set_targets(store)
    later = data.refresh()
    assert later.position > snap.position
    pd.testing.assert_frame_equal(data.overview(later, as_of), then)  # cached: same view
    assert calls == [as_of, None]
    after = data.overview(later)  # the latest view sees the new targets at once
    assert calls == [as_of, None, None]
    assert (after["target"] == 0.99).all() and not (now["target"] == 0.99).all()
    store.dispose()


def _seeded(tmp_path, teams: int = 3) -> tuple[str, EventStore]:
    url = f"sqlite:///{tmp_path / 'memo.db'}"
    store = EventStore(url)
    Projector(store).ensure_schema()
    seed.run_seed(store, scenario="large", seed=7, teams=teams, months=14, consultations=600)
    Projector(store).catch_up()
    return url, store


def test_after_an_event_for_one_team_the_overview_judges_only_that_team_again(tmp_path) -> None:
    _url, store = _seeded(tmp_path)
    views._JUDGED.clear()
    before = views.overview(store.engine)
    assert len(views._JUDGED) == len(before)  # one judgement per team × measure
    views.overview(store.engine)
    assert len(views._JUDGED) == len(before)  # nothing new to judge: every one reused
    team = str(before["team_id"].iloc[0])
    set_targets(store, [team])
    Projector(store).catch_up()
    views.overview(store.engine)
    touched = int((before["team_id"] == team).sum())
    assert len(views._JUDGED) == len(before) + touched  # only the touched team judged again
    store.dispose()


def test_the_memoised_overview_equals_a_fresh_one_after_a_new_event(tmp_path) -> None:
    """Nothing stale: the memo's overview after an append is the overview computed with an
    empty memo (the new target shows at once for the touched team, and only there)."""
    _url, store = _seeded(tmp_path)
    views._JUDGED.clear()
    before = views.overview(store.engine)
    team = str(before["team_id"].iloc[0])
    set_targets(store, [team])
    Projector(store).catch_up()
    memoised = views.overview(store.engine)
    views._JUDGED.clear()
    fresh = views.overview(store.engine)
    pd.testing.assert_frame_equal(memoised, fresh)
    assert (memoised.loc[memoised["team_id"] == team, "target"] == 0.99).all()
    assert not (memoised.loc[memoised["team_id"] != team, "target"] == 0.99).any()
    store.dispose()


def test_a_changed_table_gets_new_download_bytes_and_an_equal_one_the_cached_bytes() -> None:
    from dashboard import data
    from dashboard.app_pages import _shared

    df = pd.DataFrame({"period": ["2024-01", "2024-02"], "n": [3, 4], "spark": [[0.1], [0.2]]})
    same = df.copy()
    changed = df.assign(n=[3, 5])
    assert data.frames_digest(df) == data.frames_digest(same)
    assert data.frames_digest(df) != data.frames_digest(changed)
    assert data.frames_digest(df) != data.frames_digest(df.rename(columns={"n": "N"}))
    assert _shared._csv_bytes(data.frames_digest(changed), changed) != _shared._csv_bytes(
        data.frames_digest(df), df
    )
    assert b"5" in _shared._csv_bytes(data.frames_digest(changed), changed)


def test_the_review_comparison_is_cached_per_head_and_a_new_event_shows_at_once(
    tmp_path, monkeypatch
) -> None:
    from audit import changes

    url, store = _seeded(tmp_path, teams=2)
    time.sleep(0.01)
    since = datetime.now(UTC)
    time.sleep(0.01)
    monkeypatch.setenv("SIPDASH_DATABASE_URL", url)
    from dashboard import data

    data._review_change.clear()
    calls: list[int] = []
    real = changes.state_changes

    def counted(before, after):
        calls.append(1)
        return real(before, after)

    monkeypatch.setattr(changes, "state_changes", counted)
    snap = data.refresh()
    first, _ = data.review_change(snap, since)
    again, _ = data.review_change(snap, since)
    assert len(calls) == 1  # the page asks twice a run: computed once
    pd.testing.assert_frame_equal(first, again)
    assert first.empty  # nothing changed since a moment after the last event

    set_targets(store)
    later = data.refresh()
    after, _ = data.review_change(later, since)
    assert len(calls) == 2  # a new head: compared again, never the cached answer
    assert not after.empty
    store.dispose()


def test_one_measures_read_per_head_serves_the_grid_the_curve_the_triangulation_and_the_months(
    tmp_path, monkeypatch
) -> None:
    """After a new event the overview used to read and count the first reviews three times
    (grid, culture-shift curve, triangulation); one read per head now serves them all, and
    each equals the view computed on its own."""
    from audit import curve, triangulation

    url, store = _seeded(tmp_path, teams=2)
    monkeypatch.setenv("SIPDASH_DATABASE_URL", url)
    from dashboard import data, survey_data

    calls: list[object] = []
    real = views.programme_measures

    def counted(engine, **kwargs):
        calls.append(kwargs.get("as_of"))
        return real(engine, **kwargs)

    monkeypatch.setattr(views, "programme_measures", counted)
    snap = data.refresh()
    grid = data.overview(snap)
    curve_now, _starts, _waves = data.culture_curve(snap)
    tri = survey_data.triangulation_table(snap)
    months = data.periods(snap)
    assert calls == [None]
    set_targets(store)
    later = data.refresh()
    data.overview(later)
    data.culture_curve(later)
    assert calls == [None, None]  # a new head: read again, once
    then = datetime.fromisoformat(snap.recorded_at)  # an as-of view: one read serves both too
    data.overview(later, then)
    survey_data.triangulation_table(later, then)
    assert calls == [None, None, then]
    monkeypatch.setattr(views, "programme_measures", real)
    engine = store.engine
    elements = data.elements()
    as_of = datetime.fromisoformat(snap.recorded_at)  # the first snapshot's view, as of then
    pd.testing.assert_frame_equal(grid, views.overview(engine, elements=elements, as_of=as_of))
    pd.testing.assert_frame_equal(
        curve_now, curve.culture_curve(engine, elements=elements, as_of=as_of)
    )
    fresh = triangulation.triangulation(engine, elements=elements, as_of=as_of)
    assert not fresh.empty  # the seeded log has surveys: the comparison is really made
    pd.testing.assert_frame_equal(tri, fresh)
    assert months and months == sorted(months)
    store.dispose()


def test_a_new_review_leaves_the_survey_read_cached_and_a_new_survey_shows_at_once(
    tmp_path, monkeypatch
) -> None:
    from audit import queries
    from events import NewEvent
    from events.types import PatientSurveyReturned

    url, store = _seeded(tmp_path, teams=2)
    monkeypatch.setenv("SIPDASH_DATABASE_URL", url)
    from dashboard import data, survey_data

    calls: list[int] = []
    real = queries.survey_answer_counts

    def counted(engine, **kwargs):
        calls.append(1)
        return real(engine, **kwargs)

    monkeypatch.setattr(queries, "survey_answer_counts", counted)
    snap = data.refresh()
    before = survey_data.triangulation_table(snap)
    assert len(calls) == 1 and not before.empty
    set_targets(store)  # an event that is not a survey: the head moves
    later = data.refresh()
    assert later.position > snap.position
    survey_data.triangulation_table(later)
    assert len(calls) == 1  # the survey read was kept: keyed on the newest survey row
    team, quarter = str(before["team"].iloc[0]), str(before["quarter"].iloc[0])
    year, q = int(quarter[:4]), int(quarter[-1])
    day = f"{year:04d}-{3 * q - 1:02d}-15"  # the middle month of that quarter
    store.append(
        [
            NewEvent(
                PatientSurveyReturned(
                    team_id=team,
                    survey_id=f"late-{i}",
                    returned_on=day,
                    agenda_setting="no",
                    goal_setting="no",
                    follow_up="no",
                )
            )
            for i in range(40)
        ]
    )
    newest = data.refresh()
    after = survey_data.triangulation_table(newest)
    assert len(calls) == 2  # a new survey row: read again at once
    row = lambda t: t[(t["team"] == team) & (t["measure"] == "agenda_setting")].iloc[0]  # noqa: E731
    assert row(after)["survey_n"] == row(before)["survey_n"] + 40
    store.dispose()
