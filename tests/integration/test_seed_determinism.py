"""``sipdash seed``: the same seed writes the same log (same head hash) into an empty database."""

from __future__ import annotations

import json
import sqlite3

import pytest

import seed
from events import EventStore


def _fresh(path) -> EventStore:
    store = EventStore(f"sqlite:///{path}")
    store.create_schema()
    return store


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """The demo with seed 42, written into a fresh SQLite file."""
    path = tmp_path_factory.mktemp("seed") / "first.db"
    store = _fresh(path)
    ticks: list[int] = []
    result = seed.run_seed(store, "demo", seed=42, progress=ticks.append)
    yield store, result, path, ticks
    store.dispose()


def test_seeding_writes_a_verifiable_log_and_reports_progress(seeded):
    store, result, _path, ticks = seeded
    check = store.verify()
    assert check.ok, check.line()
    assert check.count == result.appended == result.head.position
    assert result.skipped == 0
    assert check.head_hash == result.head.hash
    assert sum(ticks) == result.appended


def test_same_seed_gives_the_same_head_hash(seeded, tmp_path):
    store, result, _path, _ticks = seeded
    again = _fresh(tmp_path / "second.db")
    try:
        second = seed.run_seed(again, "demo", seed=42)
        assert second.appended == result.appended
        check = again.verify()
        assert check.ok
        assert check.head_hash == result.head.hash == store.head().hash
    finally:
        again.dispose()


def test_a_different_seed_gives_a_different_head(seeded, tmp_path):
    _store, result, _path, _ticks = seeded
    other = _fresh(tmp_path / "other.db")
    try:
        third = seed.run_seed(other, "demo", seed=43)
        check = other.verify()
        assert check.ok
        assert check.head_hash != result.head.hash
        assert third.head.hash == check.head_hash
    finally:
        other.dispose()


def test_seeding_a_non_empty_database_is_refused_and_appends_nothing(seeded):
    store, result, _path, _ticks = seeded
    with pytest.raises(seed.SeedRefused) as refused:
        seed.run_seed(store, "demo", seed=42)
    assert str(refused.value) == (
        f"the database already holds {result.appended} events; "
        "sipdash seed only writes into an empty database"
    )
    assert store.head() == result.head


def test_every_row_is_marked_synthetic_and_recorded_on_the_simulated_clock(seeded):
    _store, result, path, _ticks = seeded
    conn = sqlite3.connect(path)
    try:
        metas = {m for (m,) in conn.execute("SELECT DISTINCT metadata FROM events")}
        first, last = conn.execute(
            "SELECT MIN(recorded_at), MAX(recorded_at) FROM events"
        ).fetchone()
    finally:
        conn.close()
    assert [json.loads(m) for m in metas] == [
        {"actor": "sipdash-seed", "source": "seed:demo:42", "synthetic": True}
    ]
    assert first.startswith("2023-01-01T") and last.startswith("2026-01-")
    assert result.head.recorded_at == last
