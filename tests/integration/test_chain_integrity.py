"""The hash chain's second version, keyed mode and ``verify``, on both backends.

- Ids with control characters are refused (they could blur a field boundary in the hash).
- A log written before hash versions existed is migrated in place: its rows keep their
  version-1 hashes (published heads stay valid), new rows are version 2, and a version-1 row
  after a version-2 row is tampering.
- Keyed mode (``SIPDASH_LOG_KEY``): a forged append with a correctly computed SHA-256 but no
  key is caught; without the key ``verify`` says keyed rows were not checked.
- ``verify --expect-head`` takes a prefix of at least 12 hex digits in any case and says so; a
  malformed hash is a usage error (exit 2), never "tampered".
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from datetime import date
from typing import ClassVar

import psycopg
import pytest
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from dashboard.cli import main
from events import EventStore, NewEvent
from events.chain import row_hash_v2, row_mac
from events.store import InvalidIdentifier, LogKeyRequired, WrongLogKey
from events.types import ConsultationHeld, Event, TeamRegistered

PATIENT = "p_" + "cd" * 16
LOG_KEY = "a-log-key-of-sufficient-length-0123"
TS = "2024-01-0{}T09:00:00.000000Z"


def consultation(i: int) -> ConsultationHeld:
    return ConsultationHeld(
        consultation_id=f"c{i}",
        team_id="msk1",
        clinician_id="k1",
        patient_ref=PATIENT,
        occurred_on=date(2024, 1, 1 + i % 28),
        contact="video",
    )


def _sql(url: str, *statements: str, params: list[tuple] | None = None) -> None:
    """Run statements as someone with full database rights (the append-only guards off)."""
    params = params or [()] * len(statements)
    if url.startswith("sqlite"):
        conn = sqlite3.connect(make_url(url).database)
        conn.execute("DROP TRIGGER IF EXISTS events_no_update")
        conn.execute("DROP TRIGGER IF EXISTS events_no_delete")
        for sql, p in zip(statements, params, strict=True):
            conn.execute(sql.replace("%s", "?"), p)
        conn.commit()
        conn.close()
        return
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as conn:
        has_table = conn.execute("SELECT to_regclass('events') IS NOT NULL").fetchone()[0]
        if has_table:
            conn.execute("ALTER TABLE events DISABLE TRIGGER ALL")
        for sql, p in zip(statements, params, strict=True):
            conn.execute(sql, p)
        if has_table:
            conn.execute("ALTER TABLE events ENABLE TRIGGER ALL")


def _verify(url: str, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["verify", "--db", url, "-q", *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _last(out: str) -> str:
    return out.strip().splitlines()[-1]


# --------------------------------------------------------------------------- control characters


class _LooseIdEvent(Event):
    """An event type whose stream key is a plain ``str`` (as a plug-in type might declare)."""

    type: ClassVar[str] = "TeamRegistered"
    stream_prefix: ClassVar[str] = "team"
    stream_key: ClassVar[str] = "team_id"
    team_id: str
    name: str = "n"
    site: str = "s"
    service: str = "x"


@pytest.mark.parametrize("char", ["\x1f", "\n", "\t", "\x00", "\x85"])
def test_control_characters_in_ids_are_refused_and_nothing_is_appended(
    db_url: str, char: str
) -> None:
    store = EventStore(db_url)
    store.create_schema()
    with pytest.raises(ValidationError, match="control characters"):
        TeamRegistered(team_id=f"msk{char}1", name="MSK", site="N", service="MSK")
    with pytest.raises(ValidationError, match="control characters"):
        ConsultationHeld(
            consultation_id="c1",
            team_id="msk1",
            clinician_id=f"k{char}1",
            patient_ref=PATIENT,
            occurred_on=date(2024, 1, 1),
            contact="video",
        )
    with pytest.raises(InvalidIdentifier, match="event id holds a control character"):
        store.append([NewEvent(consultation(1), event_id=f"e{char}1")])
    with pytest.raises(InvalidIdentifier, match="stream id holds a control character"):
        store.append_many([NewEvent(_LooseIdEvent(team_id=f"a{char}b"))])
    assert store.head().position == 0
    store.dispose()


# --------------------------------------------------------------------------- an old log migrated

_OLD_TABLE = (
    "CREATE TABLE events (position BIGINT PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, "
    "stream_id TEXT NOT NULL, stream_version INTEGER NOT NULL, type TEXT NOT NULL, "
    "schema_version INTEGER NOT NULL, occurred_at TEXT NOT NULL, recorded_at TEXT NOT NULL, "
    "payload TEXT NOT NULL, metadata TEXT NOT NULL, hash TEXT NOT NULL, "
    "CONSTRAINT uq_events_stream_version UNIQUE (stream_id, stream_version))"
)


def _v1(*fields: object) -> str:
    """The first release's row hash, written out here as that release computed it."""
    return hashlib.sha256("\x1f".join(str(f) for f in fields).encode("utf-8")).hexdigest()


def _old_log(url: str, n: int = 6) -> list[str]:
    """A log as the first release left it: the old table, ``n`` version-1 rows; returns hashes."""
    prev, rows, hashes = "0" * 64, [], []
    for i in range(1, n + 1):
        payload = json.dumps(
            {"name": f"Team {i}", "service": "COPD", "site": "N", "team_id": f"t{i}"},
            sort_keys=True,
            separators=(",", ":"),
        )
        fields = (
            f"old-{i}",
            f"team-t{i}",
            1,
            "TeamRegistered",
            1,
            TS.format(i),
            TS.format(i),
            payload,
            "{}",
        )
        prev = _v1(prev, *fields)
        rows.append((i, *fields, prev))
        hashes.append(prev)
    insert = (
        "INSERT INTO events (position, event_id, stream_id, stream_version, type, schema_version, "
        "occurred_at, recorded_at, payload, metadata, hash) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
    )
    _sql(url, _OLD_TABLE, *[insert] * n, params=[(), *rows])
    return hashes


def _column(url: str, name: str) -> list:
    store = EventStore(url)
    with store.engine.connect() as conn:
        values = [
            r[0] for r in conn.exec_driver_sql(f"SELECT {name} FROM events ORDER BY position")
        ]
    store.dispose()
    return values


def test_an_old_log_is_migrated_keeping_its_version_1_hashes_and_new_rows_are_version_2(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    old_hashes = _old_log(db_url)
    published = old_hashes[-1]
    code, out, _ = _verify(db_url, capsys, "--expect-head", published)
    assert (code, _last(out)) == (0, f"ok: 6 events, head {published}"), out
    store = EventStore(db_url)
    store.append_many(NewEvent(consultation(i)) for i in range(4))
    head = store.head().hash
    store.dispose()
    assert _column(db_url, "hash_version") == [1] * 6 + [2] * 4
    assert _column(db_url, "hash")[:6] == old_hashes, "old rows are never re-hashed"
    code, out, _ = _verify(db_url, capsys, "--expect-head", published)
    assert (code, _last(out)) == (0, f"ok: 10 events, head {head}"), out


def test_concurrent_first_runs_on_an_old_log_migrate_it_once(db_url: str) -> None:
    _old_log(db_url)
    errors: list[BaseException] = []

    def first_run() -> None:
        store = EventStore(db_url)
        try:
            store.create_schema()
        except BaseException as exc:
            errors.append(exc)
        finally:
            store.dispose()

    threads = [threading.Thread(target=first_run) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    store = EventStore(db_url)
    assert store.verify().ok
    store.append([NewEvent(consultation(1))])
    assert store.verify().ok
    store.dispose()


def test_a_row_hashed_with_version_1_after_version_2_rows_is_tampering(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Version 1 is ambiguous, so it is only accepted as the log's prefix: a row appended
    with a correct version-1 hash after version-2 rows is refused."""
    _old_log(db_url, n=3)
    store = EventStore(db_url)
    store.create_schema()
    store.append_many(NewEvent(consultation(i)) for i in range(3))
    rows = list(store.read_rows())
    store.dispose()
    last = rows[-1]
    fields = ("forged", "team-x", 1, "TeamRegistered", 1, last[6], last[7], "{}", "{}")
    digest = _v1(last[10], *fields)
    _sql(
        db_url,
        "INSERT INTO events (position, event_id, stream_id, stream_version, type, schema_version, "
        "occurred_at, recorded_at, payload, metadata, hash, hash_version) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 1)",
        params=[(7, *fields, digest)],
    )
    code, out, _ = _verify(db_url, capsys)
    assert code == 1
    assert _last(out).startswith("tampered: position 7: a version-1 row hash after version-2")


# --------------------------------------------------------------------------- keyed mode


def _forge_append(url: str, *, mac: str | None) -> int:
    """Append a row with a correctly computed (version 2) SHA-256, as an attacker with write
    access but without the log key can; returns its position."""
    store = EventStore(url)
    last = list(store.read_rows())[-1]
    store.dispose()
    position = last[0] + 1
    fields = (
        "forged-1",
        "team-forged",
        1,
        "TeamRegistered",
        1,
        last[6],
        last[7],
        '{"name":"F","service":"F","site":"F","team_id":"forged"}',
        "{}",
    )
    digest = row_hash_v2(last[10], *fields)
    _sql(
        url,
        "INSERT INTO events (position, event_id, stream_id, stream_version, type, schema_version, "
        "occurred_at, recorded_at, payload, metadata, hash, hash_version, hmac) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 2, %s)",
        params=[(position, *fields, digest, mac)],
    )
    return position


def _keyed_log(url: str) -> None:
    """Five rows written before the key was set, then five with it."""
    plain = EventStore(url)
    plain.create_schema()
    plain.append_many(NewEvent(consultation(i)) for i in range(5))
    plain.dispose()
    keyed = EventStore(url, log_key=LOG_KEY)
    keyed.append_many(NewEvent(consultation(i)) for i in range(5, 10))
    keyed.dispose()


def test_without_a_log_key_a_forged_append_with_a_recomputed_hash_verifies(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The threat model's limit, stated as a test: an unkeyed chain cannot tell a forged
    append with a correct SHA-256 from a real one (docs/reliability.md)."""
    store = EventStore(db_url)
    store.create_schema()
    store.append_many(NewEvent(consultation(i)) for i in range(5))
    store.dispose()
    _forge_append(db_url, mac=None)
    code, out, _ = _verify(db_url, capsys)
    assert (code, _last(out).split(",")[0]) == (0, "ok: 6 events")


@pytest.mark.parametrize("forged_mac", [None, "0" * 64], ids=["no HMAC", "a made-up HMAC"])
def test_keyed_verify_catches_a_forged_append_with_a_correct_sha256_but_no_key(
    db_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    forged_mac: str | None,
) -> None:
    _keyed_log(db_url)
    monkeypatch.setenv("SIPDASH_LOG_KEY", LOG_KEY)
    code, out, _ = _verify(db_url, capsys)
    assert code == 0, out
    assert "note: positions 1-5 are unkeyed" in out and "6-10 carry HMACs, all checked" in out
    position = _forge_append(db_url, mac=forged_mac)
    code, out, _ = _verify(db_url, capsys)
    assert code == 1
    assert _last(out).startswith(f"tampered: position {position}: "), out
    assert "without the log key" in _last(out)


def test_without_the_key_verify_says_keyed_rows_exist_but_were_not_checked(
    db_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _keyed_log(db_url)
    monkeypatch.delenv("SIPDASH_LOG_KEY", raising=False)
    code, out, _ = _verify(db_url, capsys)
    assert code == 0
    assert "5 keyed rows (from position 6) carry HMACs that were NOT checked" in out
    # a row without any HMAC after keyed rows is caught even without the key
    position = _forge_append(db_url, mac=None)
    code, out, _ = _verify(db_url, capsys)
    assert (code, _last(out).split(":")[:2]) == (1, ["tampered", f" position {position}"])


@pytest.mark.parametrize("with_key", [True, False], ids=["verify with the key", "without"])
def test_stripping_every_hmac_from_a_keyed_log_is_tampering_and_blocks_unkeyed_appends(
    db_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    with_key: bool,
) -> None:
    """Found by probing: the HMAC is not in the row hash, so setting every HMAC to NULL made
    a keyed log look unkeyed: verify said ok, and an append without the key was accepted.
    A keyed row's hashed metadata now says it was keyed."""
    _keyed_log(db_url)
    _sql(db_url, "UPDATE events SET hmac = NULL")
    plain = EventStore(db_url)
    try:
        with pytest.raises(LogKeyRequired, match="SIPDASH_LOG_KEY"):
            plain.append([NewEvent(consultation(20))])
        assert plain.head().position == 10
    finally:
        plain.dispose()
    if with_key:
        monkeypatch.setenv("SIPDASH_LOG_KEY", LOG_KEY)
    else:
        monkeypatch.delenv("SIPDASH_LOG_KEY", raising=False)
    code, out, _ = _verify(db_url, capsys)
    assert code == 1, out
    assert _last(out).startswith("tampered: position 6: ")  # the first row written keyed
    assert "the HMAC was removed" in _last(out)


def test_a_keyed_log_refuses_appends_without_its_key_or_with_another(db_url: str) -> None:
    _keyed_log(db_url)
    plain = EventStore(db_url)
    with pytest.raises(LogKeyRequired, match="SIPDASH_LOG_KEY"):
        plain.append([NewEvent(consultation(20))])
    other = EventStore(db_url, log_key="another-key-of-sufficient-length")
    with pytest.raises(WrongLogKey):
        other.append([NewEvent(consultation(20))])
    assert plain.head().position == 10
    keyed = EventStore(db_url, log_key=LOG_KEY)
    keyed.append([NewEvent(consultation(20))])
    with keyed.engine.connect() as conn:
        digest, mac = conn.exec_driver_sql(
            "SELECT hash, hmac FROM events WHERE position = 11"
        ).one()
    assert mac == row_mac(LOG_KEY, digest)
    assert keyed.verify().ok
    for store in (plain, other, keyed):
        store.dispose()


def test_a_log_key_that_is_too_short_is_refused_by_the_cli(
    db_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _keyed_log(db_url)
    monkeypatch.setenv("SIPDASH_LOG_KEY", "short")
    code, out, err = _verify(db_url, capsys)
    assert code == 1 and "SIPDASH_LOG_KEY is too short" in err and "short" not in out


# --------------------------------------------------------------------------- --expect-head


@pytest.fixture
def published(db_url: str) -> str:
    store = EventStore(db_url)
    store.create_schema()
    store.append_many(NewEvent(consultation(i)) for i in range(8))
    head = store.head().hash
    store.append([NewEvent(consultation(9))])
    store.dispose()
    return head


@pytest.mark.parametrize(
    "given",
    [
        lambda h: h.upper(),
        lambda h: h[:12],
        lambda h: h[:16],
        lambda h: h[:16].upper(),
        lambda h: f"  {h[:20]} ",
    ],
    ids=["full, upper case", "12 digits", "16 (the sidebar)", "16 upper case", "padded"],
)
def test_a_published_head_is_accepted_as_a_prefix_of_12_or_more_in_any_case(
    db_url: str, published: str, capsys: pytest.CaptureFixture[str], given
) -> None:
    text = given(published)
    code, out, _ = _verify(db_url, capsys, "--expect-head", text)
    assert code == 0, out
    assert _last(out).startswith("ok: 9 events, head ")
    digits = len(text.strip())
    if digits < 64:
        assert f"note: --expect-head was a prefix ({digits} of 64 hex digits)" in out
        assert f"matched position 8, hash {published}" in out
    else:
        assert "prefix" not in out


@pytest.mark.parametrize(
    "text", ["abcdef01234", "not-a-hash", "g" * 64, "0x" + "a" * 20, "a" * 65, ""]
)
def test_a_malformed_expected_head_is_a_usage_error_not_tampering(
    db_url: str, published: str, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main(["verify", "--db", db_url, "-q", "--expect-head", text])
    captured = capsys.readouterr()
    assert exit_.value.code == 2
    assert "--expect-head" in captured.err and "usage:" in captured.err
    assert "tampered" not in captured.out + captured.err


def test_a_prefix_that_is_not_on_the_chain_is_tampering(
    db_url: str, published: str, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = ("0" if published[0] != "0" else "1") + published[1:12]
    code, out, _ = _verify(db_url, capsys, "--expect-head", wrong)
    assert code == 1 and "no longer on the chain" in _last(out)
