"""The culture-shift curve and `sipdash audit headline` on both backends (SQLite file and
PostgreSQL): the last month is the overview headline, and an as-of request gives the same
bytes after later events."""

from __future__ import annotations

import json

import seed
from audit import views
from audit.curve import culture_curve
from audit.projections import Projector
from dashboard.cli import main
from events import EventStore
from tests.helpers.logs import set_targets


def _seeded(url: str) -> EventStore:
    store = EventStore(url)
    Projector(store).ensure_schema()
    seed.run_seed(store, scenario="large", seed=7, teams=3, months=16, consultations=1_500)
    Projector(store).catch_up()
    return store


def test_the_curve_ends_at_the_headline_and_as_of_is_byte_stable(db_url: str, capsys) -> None:
    store = _seeded(db_url)
    try:
        curve = culture_curve(store.engine)
        last = curve[curve["period"] == curve["period"].max()].set_index("measure")
        for h in views.headlines(views.overview(store.engine)):
            assert (last.loc[h.measure, "teams_norm"], last.loc[h.measure, "teams_total"]) == (
                h.norm,
                h.teams,
            )
        as_of = store.head().recorded_at
        assert (
            main(["audit", "headline", "--db", db_url, "--format", "json", "--as-of", as_of]) == 0
        )
        before = capsys.readouterr().out
        assert [r["period"] for r in json.loads(before)] == sorted(
            r["period"] for r in json.loads(before)
        )
        set_targets(store)
        Projector(store).catch_up()
        assert (
            main(["audit", "headline", "--db", db_url, "--format", "json", "--as-of", as_of]) == 0
        )
        assert capsys.readouterr().out == before
    finally:
        store.dispose()
