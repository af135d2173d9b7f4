"""Tampering, on both backends: whoever edits the stored log by hand is caught by ``verify``.

The attacker here has full database rights: on SQLite they drop the append-only triggers, on
PostgreSQL (as the superuser) they ``ALTER TABLE events DISABLE TRIGGER ALL``; then they edit,
delete, reorder, forge, re-chain or truncate rows. ``sipdash verify`` must name the first bad
position (exit 1), and ``--expect-head`` must catch what a chain alone cannot see.
"""

from __future__ import annotations

import json
import sqlite3

import psycopg
import pytest
from sqlalchemy.engine import make_url

from dashboard.cli import main
from events import EventStore, NewEvent
from events.store import row_hash
from tests.helpers.logs import consultation

PATIENT = "p_" + "cd" * 16
N = 20


def _seed(url: str) -> str:
    """Twenty events; returns the head hash as it would be published on a review pack."""
    store = EventStore(url)
    store.create_schema()
    store.append_many(
        (
            NewEvent(
                consultation(i, PATIENT),
                metadata={"actor": "importer"},
            )
            for i in range(N)
        ),
        batch_size=7,
    )
    head = store.head().hash
    store.dispose()
    return head


def _tamper(url: str, *statements: str, params: list[tuple] | None = None) -> None:
    """Edit the stored rows as someone with full database rights would."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(make_url(url).database)
        conn.execute("DROP TRIGGER IF EXISTS events_no_update")
        conn.execute("DROP TRIGGER IF EXISTS events_no_delete")
        for i, sql in enumerate(statements):
            conn.execute(sql.replace("%s", "?"), (params or [()] * len(statements))[i])
        conn.commit()
        conn.close()
        return
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as conn:
        conn.execute("ALTER TABLE events DISABLE TRIGGER ALL")
        for i, sql in enumerate(statements):
            conn.execute(sql, (params or [()] * len(statements))[i])
        conn.execute("ALTER TABLE events ENABLE TRIGGER ALL")


def _verify(url: str, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["verify", "--db", url, "-q", *extra])
    return code, capsys.readouterr().out.strip().splitlines()[-1]


TAMPERING = {
    "a payload edited": (
        ["UPDATE events SET payload = replace(payload, 'video', 'telephone') WHERE position = 7"],
        7,
    ),
    "a payload re-spaced (same JSON, not canonical)": (
        ["UPDATE events SET payload = replace(payload, ',', ', ') WHERE position = 8"],
        8,
    ),
    "the actor in the metadata edited": (
        [
            "UPDATE events SET metadata = replace(metadata, 'importer', 'someone') WHERE position = 9"
        ],
        9,
    ),
    "recorded_at moved": (
        ["UPDATE events SET recorded_at = replace(recorded_at, '.', '9') WHERE position = 10"],
        10,
    ),
    "the stream version edited": (
        ["UPDATE events SET stream_version = 2 WHERE position = 11"],
        11,
    ),
    "a row deleted": (["DELETE FROM events WHERE position = 5"], 5),
    "two rows swapped": (
        [
            "UPDATE events SET position = -1 WHERE position = 3",
            "UPDATE events SET position = 3 WHERE position = 4",
            "UPDATE events SET position = 4 WHERE position = -1",
        ],
        3,
    ),
    "two rows edited: the first is named": (
        [
            "UPDATE events SET payload = replace(payload, 'msk1', 'copd') WHERE position = 15",
            "UPDATE events SET payload = replace(payload, 'msk1', 'copd') WHERE position = 6",
        ],
        6,
    ),
    "a forged row appended with a made-up hash": (
        [
            "INSERT INTO events (position, event_id, stream_id, stream_version, type, "
            "schema_version, occurred_at, recorded_at, payload, metadata, hash) "
            "SELECT position + 1, 'forged', stream_id, 2, type, schema_version, occurred_at, "
            "recorded_at, payload, metadata, hash FROM events WHERE position = 20"
        ],
        21,
    ),
}


@pytest.mark.parametrize("how", list(TAMPERING))
def test_verify_names_the_first_tampered_position(
    db_url: str, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    _seed(db_url)
    statements, first_bad = TAMPERING[how]
    _tamper(db_url, *statements)
    code, line = _verify(db_url, capsys)
    assert code == 1
    assert line.startswith(f"tampered: position {first_bad}: "), line


def test_cutting_off_the_newest_rows_is_caught_only_by_the_expected_head(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    published = _seed(db_url)
    _tamper(db_url, "DELETE FROM events WHERE position > 15")
    code, line = _verify(db_url, capsys)
    assert (code, line.split(",")[0]) == (0, "ok: 15 events"), "a chain alone cannot see its tail"
    code, line = _verify(db_url, capsys, "--expect-head", published)
    assert code == 1
    assert line.startswith("tampered: position 16: ") and "no longer on the chain" in line


def test_a_row_rewritten_and_every_later_hash_recomputed_is_caught_by_the_expected_head(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A careful attacker re-chains the tail after an edit; the chain then verifies, but a
    head published before the edit is no longer on it."""
    published = _seed(db_url)
    store = EventStore(db_url)
    rows = list(store.read_rows())
    store.dispose()
    prev = rows[11][10]  # the hash of position 12, which stays
    updates = []
    for pos, eid, sid, ver, typ, sver, occ, rec, payload, meta, _ in rows[12:]:
        if pos == 13:
            payload = json.dumps(
                {**json.loads(payload), "contact": "telephone"},
                sort_keys=True,
                separators=(",", ":"),
            )
        digest = row_hash(prev, eid, sid, ver, typ, sver, occ, rec, payload, meta)
        updates.append((payload, digest, pos))
        prev = digest
    sql = "UPDATE events SET payload = %s, hash = %s WHERE position = %s"
    _tamper(db_url, *[sql] * len(updates), params=updates)

    code, line = _verify(db_url, capsys)
    assert code == 0, "a fully re-chained log cannot be caught without an outside anchor"
    code, line = _verify(db_url, capsys, "--expect-head", published)
    assert code == 1
    assert "no longer on the chain" in line
    # a head published before the edit point is still on the chain
    store = EventStore(db_url)
    earlier = list(store.read_rows())[11][10]
    store.dispose()
    assert _verify(db_url, capsys, "--expect-head", earlier)[0] == 0


def test_without_disabling_the_guards_the_database_refuses_deletes_and_truncation(
    db_url: str,
) -> None:
    """The guards themselves: without disabling them, an edit is refused by the database."""
    _seed(db_url)
    store = EventStore(db_url)
    with store.engine.connect() as conn, pytest.raises(Exception, match="append-only"):
        conn.exec_driver_sql("DELETE FROM events WHERE position = 1")
    if not db_url.startswith("sqlite"):
        with store.engine.connect() as conn, pytest.raises(Exception, match="append-only"):
            conn.exec_driver_sql("TRUNCATE events")
    assert store.verify().ok
    store.dispose()
