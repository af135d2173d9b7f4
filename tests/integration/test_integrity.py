"""Tampering with the stored log is detected by ``sipdash verify``."""

from __future__ import annotations

import sqlite3

import pytest

from dashboard.cli import main
from events import EventStore, NewEvent
from tests.helpers.logs import consultation

PATIENT = "p_" + "cd" * 16


def _seed(url: str, n: int = 20) -> EventStore:
    store = EventStore(url)
    store.create_schema()
    store.append_many(NewEvent(consultation(i, PATIENT)) for i in range(n))
    return store


def _by_hand(path: str, *statements: str) -> None:
    """Edit the SQLite file as an attacker would: drop the guards, then change rows."""
    conn = sqlite3.connect(path)
    conn.execute("DROP TRIGGER IF EXISTS events_no_update")
    conn.execute("DROP TRIGGER IF EXISTS events_no_delete")
    for sql in statements:
        conn.execute(sql)
    conn.commit()
    conn.close()


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "log.db"
    return str(path), f"sqlite:///{path}"


def test_verify_detects_a_payload_changed_by_hand_in_the_sqlite_file(db, capsys) -> None:
    path, url = db
    _seed(url).dispose()
    _by_hand(
        path,
        "UPDATE events SET payload = replace(payload, 'video', 'telephone') WHERE position = 7",
    )
    assert main(["verify", "--db", url]) == 1
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("tampered: position 7:")


def test_verify_detects_a_deleted_row(db, capsys) -> None:
    path, url = db
    _seed(url).dispose()
    _by_hand(path, "DELETE FROM events WHERE position = 5")
    assert main(["--db", url, "verify"]) == 1
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("tampered: position 5:")


def test_verify_detects_reordered_rows(db, capsys) -> None:
    path, url = db
    _seed(url).dispose()
    _by_hand(
        path,
        "UPDATE events SET position = -1 WHERE position = 3",
        "UPDATE events SET position = 3 WHERE position = 4",
        "UPDATE events SET position = 4 WHERE position = -1",
    )
    assert main(["verify", "--db", url]) == 1
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("tampered: position 3:")


def test_removing_the_newest_rows_is_caught_by_the_expected_head(db, capsys) -> None:
    path, url = db
    store = _seed(url)
    published = store.head().hash
    store.dispose()
    _by_hand(path, "DELETE FROM events WHERE position > 15")
    assert main(["verify", "--db", url]) == 0  # a chain alone cannot see its tail cut off
    assert main(["verify", "--db", url, "--expect-head", published]) == 1
    assert "no longer on the chain" in capsys.readouterr().out


def test_verify_prints_ok_with_the_count_and_head(db, capsys) -> None:
    _, url = db
    store = _seed(url, 12)
    assert main(["verify", "--db", url]) == 0
    assert (
        capsys.readouterr().out.strip().splitlines()[-1]
        == f"ok: 12 events, head {store.head().hash}"
    )
