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
from events import EventStore, NewEvent
from events.types import MEASURES, TargetSet


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

    teams = [e.payload["team_id"] for e in store.read_all(types=["TeamRegistered"])]
    store.append(
        [
            NewEvent(
                TargetSet(team_id=t, measure=m, target=0.99, from_period="2000-01", reason="x")
            )
            for t in teams
            for m in MEASURES
        ]
    )
    later = data.refresh()
    assert later.position > snap.position
    pd.testing.assert_frame_equal(data.overview(later, as_of), then)  # cached: same view
    assert calls == [as_of, None]
    after = data.overview(later)  # the latest view sees the new targets at once
    assert calls == [as_of, None, None]
    assert (after["target"] == 0.99).all() and not (now["target"] == 0.99).all()
    store.dispose()
