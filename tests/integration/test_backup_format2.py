"""Backup format 2 and restore, on both backends, through ``sipdash backup`` / ``restore``.

- A backup taken while another process imports is one snapshot: it restores, to exactly the
  head its header names.
- A format-1 backup (as the first release wrote it) still restores.
- Restore is one transaction: a failure before the mapping is written, or ``kill -9`` anywhere,
  leaves an empty database that a second restore fills.
- The pseudonym-mapping section is sealed by an HMAC bound to the head: removing forgotten
  keys or swapping tokens is refused.
- Restore re-applies every ``PatientForgotten`` in the log, and says so.
- A log that does not verify is not backed up (such a backup could never be restored).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from audit.imports import Importer
from audit.projections import Projector
from dashboard.cli import main
from events import EventStore, NewEvent
from events.pseudonym import PatientRegistry, forgotten_event_id
from events.types import ConsultationHeld, PatientForgotten, TeamRegistered
from tests.helpers.logs import append_in_progress, pg_conninfo

KEY = "backup-format-2-pseudonym-key-0123456789abcdef0123"
ROOT = Path(__file__).resolve().parents[2]
WAIT = 120
HEADER = (
    "consultation_id,team,clinician,patient,occurred_on,contact,"
    "agenda_setting,goal_setting,follow_up"
)


@pytest.fixture(autouse=True)
def _pseudonym_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIPDASH_PSEUDONYM_KEY", KEY)


def _new_db(db_url: str, request: pytest.FixtureRequest, tmp_path: Path, name: str) -> str:
    if db_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / name}"
    return request.getfixturevalue("pg_server").new_database()


def _csv(start: int, n: int) -> bytes:
    rows = [HEADER] + [
        f"c{i},msk1,K{i % 5},LOCAL-{i},2024-0{1 + i % 3}-{1 + i % 28:02d},video,"
        f"{'yes' if i % 2 else 'no'},yes,{'yes' if i % 3 else 'no'}"
        for i in range(start, start + n)
    ]
    return ("\n".join(rows) + "\n").encode()


def _programme(url: str, *, bulk: int = 0) -> EventStore:
    """A team, ``bulk`` plain consultations, then 40 imported (patients in the mapping)."""
    store = EventStore(url)
    Projector(store).ensure_schema()
    registry = PatientRegistry(store.engine, KEY)
    registry.ensure_schema()
    store.append([NewEvent(TeamRegistered(team_id="msk1", name="MSK", site="N", service="MSK"))])
    if bulk:
        store.append_many(
            NewEvent(
                ConsultationHeld(
                    consultation_id=f"bulk{i}",
                    team_id="msk1",
                    clinician_id="K1",
                    patient_ref="p_" + "ab" * 16,
                    occurred_on=date(2024, 1, 1 + i % 28),
                    contact="video",
                )
            )
            for i in range(bulk)
        )
    Importer(store, registry, projector=Projector(store)).import_consultations(_csv(0, 40))
    return store


def _header(path: Path) -> dict:
    with path.open(encoding="utf-8") as fh:
        return json.loads(fh.readline())


def _count(url: str, table: str) -> int:
    """Rows in ``table`` (0 when the table does not exist)."""
    store = EventStore(url)
    try:
        with store.engine.connect() as conn:
            if not inspect(conn).has_table(table):
                return 0
            return int(conn.exec_driver_sql(f"SELECT COUNT(*) FROM {table}").scalar_one())
    finally:
        store.dispose()


def _head(url: str) -> tuple[int, str]:
    store = EventStore(url)
    store.create_schema()
    try:
        head = store.head()
        return head.position, head.hash
    finally:
        store.dispose()


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "SIPDASH_PSEUDONYM_KEY": KEY}


# --------------------------------------------------------------------------- a consistent snapshot

_IMPORTER = """
import sys, time
from pathlib import Path
from audit.imports import Importer
from audit.projections import Projector
from events import EventStore
from events.pseudonym import PatientRegistry
url, stop, started, key, header = sys.argv[1:]
stop, started = Path(stop), Path(started)
store = EventStore(url)
registry = PatientRegistry(store.engine, key)
projector = Projector(store)
i = 100000
while not stop.exists():
    rows = [header] + [
        f"c{j},msk1,K{j % 5},LOCAL-{j},2024-02-{1 + j % 28:02d},video,yes,no,yes"
        for j in range(i, i + 25)
    ]
    Importer(store, registry, projector=projector).import_consultations(
        ("\\n".join(rows) + "\\n").encode()
    )
    started.touch()
    i += 25
"""


def test_a_backup_taken_while_another_process_imports_restores_to_the_head_its_header_names(
    db_url: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _programme(db_url, bulk=30_000).dispose()
    stop, started = tmp_path / "stop", tmp_path / "started"
    writer = subprocess.Popen(
        [sys.executable, "-c", _IMPORTER, db_url, str(stop), str(started), KEY, HEADER],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + WAIT
        while not started.exists():
            assert writer.poll() is None, writer.communicate()
            assert time.monotonic() < deadline, "the importer never started"
            time.sleep(0.05)
        before = _head(db_url)[0]
        path = tmp_path / "during.jsonl"
        assert main(["backup", str(path), "--db", db_url, "-q"]) == 0
        after = _head(db_url)[0]
    finally:
        stop.touch()
        _out, err = writer.communicate(timeout=WAIT)
    assert writer.returncode == 0, err
    assert after > before, "the importer appended while the backup ran"
    said = capsys.readouterr().out.strip()
    header = _header(path)
    assert before <= header["events"] <= after
    target = _new_db(db_url, request, tmp_path, "target.db")
    assert main(["restore", str(path), "--db", target, "-q"]) == 0, capsys.readouterr().err
    assert capsys.readouterr().out.strip().endswith(f"head {header['head']}")
    assert _head(target) == (header["events"], header["head"])
    assert _count(target, "patient_tokens") == header["patient_tokens"]
    assert said.endswith(f"head {header['head']}"), "backup names the head its file holds"


# --------------------------------------------------------------------------- format 1


def _v1(*fields: object) -> str:
    return hashlib.sha256("\x1f".join(str(f) for f in fields).encode("utf-8")).hexdigest()


def _format_1_backup(path: Path) -> tuple[int, str, str]:
    """A backup exactly as the first release wrote it; returns (events, head, a token)."""
    fields = [
        "position",
        "event_id",
        "stream_id",
        "stream_version",
        "type",
        "schema_version",
        "occurred_at",
        "recorded_at",
        "payload",
        "metadata",
        "hash",
    ]
    token = "p_" + "5a" * 16
    events = [
        (
            "TeamRegistered",
            "team-msk1",
            {"name": "MSK", "service": "MSK", "site": "N", "team_id": "msk1"},
        ),
        (
            "ConsultationHeld",
            "consultation-c1",
            {
                "clinician_id": "K1",
                "consultation_id": "c1",
                "contact": "video",
                "occurred_on": "2024-01-05",
                "patient_ref": token,
                "team_id": "msk1",
            },
        ),
        ("AgendaSet", "consultation-c1", {"consultation_id": "c1", "documented_on": "2024-01-05"}),
    ]
    prev, lines = "0" * 64, []
    versions: dict[str, int] = {}
    for position, (typ, stream, payload) in enumerate(events, start=1):
        versions[stream] = versions.get(stream, 0) + 1
        ts = f"2024-01-0{position}T10:00:00.000000Z"
        row = [
            position,
            f"00000000-0000-4000-8000-00000000000{position}",
            stream,
            versions[stream],
            typ,
            1,
            ts,
            ts,
            json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
            '{"actor":"importer"}',
        ]
        prev = _v1(prev, *row[1:])
        lines.append(json.dumps(dict(zip(fields, [*row, prev], strict=True)), sort_keys=True))
    header = {
        "events": 3,
        "forgotten_keys": 1,
        "format": "sipdash-backup/1",
        "head": prev,
        "patient_tokens": 1,
    }
    mapping = [
        {"key_hash": "1" * 64, "kind": "patient_token", "token": token},
        {"key_hash": "2" * 64, "kind": "forgotten_key"},
    ]
    text = "\n".join([json.dumps(header), *lines, *(json.dumps(m) for m in mapping)]) + "\n"
    path.write_text(text, encoding="utf-8")
    return 3, prev, token


def test_a_format_1_backup_still_restores_with_its_version_1_hashes(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "old.jsonl"
    n, head, _token = _format_1_backup(path)
    assert main(["restore", str(path), "--db", db_url, "-q"]) == 0
    out = capsys.readouterr().out
    assert out.strip().endswith(f"ok: {n} events, head {head}"), out
    assert "sipdash-backup/1 backup: its pseudonym mapping carries no HMAC" in out
    assert _head(db_url) == (n, head)
    assert _count(db_url, "patient_tokens") == 1 and _count(db_url, "patient_forgotten_keys") == 1
    store = EventStore(db_url)
    store.append([NewEvent(TeamRegistered(team_id="copd1", name="C", site="N", service="C"))])
    with store.engine.connect() as conn:
        versions = [
            r[0] for r in conn.exec_driver_sql("SELECT hash_version FROM events ORDER BY position")
        ]
    assert versions == [1, 1, 1, 2]
    assert store.verify(expect_head=head).ok
    store.dispose()


# --------------------------------------------------------------------------- all or nothing


@pytest.fixture
def backup(db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, str]:
    store = _programme(db_url)
    head = store.head().hash
    store.dispose()
    path = tmp_path / "log.jsonl"
    assert main(["backup", str(path), "--db", db_url, "-q"]) == 0
    capsys.readouterr()
    return path, head


def _fail_on_mapping_insert(url: str) -> None:
    """The mapping tables exist, and inserting into them fails (a full disk, say)."""
    store = EventStore(url)
    PatientRegistry(store.engine, KEY).ensure_schema()
    store.dispose()
    if url.startswith("sqlite"):
        conn = sqlite3.connect(make_url(url).database)
        conn.execute(
            "CREATE TRIGGER fail_tokens BEFORE INSERT ON patient_tokens "
            "BEGIN SELECT RAISE(ABORT, 'simulated failure writing the mapping'); END"
        )
        conn.commit()
        conn.close()
        return
    with psycopg.connect(pg_conninfo(url), autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION fail_tokens() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION 'simulated failure writing the mapping'; END $$"
        )
        conn.execute(
            "CREATE TRIGGER fail_tokens BEFORE INSERT ON patient_tokens "
            "FOR EACH ROW EXECUTE FUNCTION fail_tokens()"
        )


def test_a_restore_that_fails_writing_the_mapping_leaves_an_empty_database_to_restore_again(
    db_url: str,
    backup: tuple[Path, str],
    request: pytest.FixtureRequest,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path, head = backup
    target = _new_db(db_url, request, tmp_path, "target.db")
    _fail_on_mapping_insert(target)
    assert main(["restore", str(path), "--db", target, "-q"]) == 1
    assert "restore failed, nothing was restored" in capsys.readouterr().err
    assert _head(target)[0] == 0, "events and mapping commit together, or not at all"
    if target.startswith("sqlite"):
        conn = sqlite3.connect(make_url(target).database)
        conn.execute("DROP TRIGGER fail_tokens")
        conn.commit()
        conn.close()
    else:
        with psycopg.connect(pg_conninfo(target), autocommit=True) as conn:
            conn.execute("DROP TRIGGER fail_tokens ON patient_tokens")
    assert main(["restore", str(path), "--db", target, "-q"]) == 0
    assert _head(target)[1] == head
    assert _count(target, "patient_tokens") == 40


def _restore_in_progress(url: str) -> bool:
    """The restore is inside its transaction with rows written (not yet committed)."""
    if url.startswith("sqlite"):
        wal = Path(make_url(url).database + "-wal")
        if not wal.exists() or wal.stat().st_size < 2_000_000:
            return False
    return append_in_progress(url)


def test_a_restore_killed_mid_way_leaves_an_empty_database_that_restores(
    db_url: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = _programme(db_url, bulk=30_000)
    head = source.head()
    source.dispose()
    path = tmp_path / "big.jsonl"
    assert main(["backup", str(path), "--db", db_url, "-q"]) == 0
    target = _new_db(db_url, request, tmp_path, "target.db")
    proc = subprocess.Popen(
        [sys.executable, "-m", "dashboard.cli", "restore", str(path), "--db", target, "-q"],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + WAIT
    while not _restore_in_progress(target):
        assert proc.poll() is None, f"the restore ended before it was killed: {proc.communicate()}"
        assert time.monotonic() < deadline, "the restore never got under way"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=WAIT)
    assert proc.returncode == -9
    time.sleep(0.2)  # PostgreSQL: the server notices the dead client and rolls back
    assert _head(target)[0] == 0
    assert _count(target, "patient_tokens") == 0
    capsys.readouterr()
    assert main(["restore", str(path), "--db", target, "-q"]) == 0
    assert _head(target) == (head.position, head.hash)
    assert _count(target, "patient_tokens") == 40


# --------------------------------------------------------------------------- the mapping's HMAC


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def _set_header(lines: list[str], **changes: int) -> None:
    header = json.loads(lines[0])
    header.update(changes)
    lines[0] = json.dumps(header, sort_keys=True, separators=(",", ":")) + "\n"


def _swap_two_tokens(path: Path) -> None:
    lines = _lines(path)
    at = [i for i, line in enumerate(lines) if '"kind":"patient_token"' in line][:2]
    a, b = (json.loads(lines[i]) for i in at)
    a["token"], b["token"] = b["token"], a["token"]
    lines[at[0]] = json.dumps(a, sort_keys=True, separators=(",", ":")) + "\n"
    lines[at[1]] = json.dumps(b, sort_keys=True, separators=(",", ":")) + "\n"
    path.write_text("".join(lines), encoding="utf-8")


def _remove_the_forgotten_keys(path: Path) -> None:
    lines = [line for line in _lines(path) if '"kind":"forgotten_key"' not in line]
    _set_header(lines, forgotten_keys=0)
    path.write_text("".join(lines), encoding="utf-8")


def _remove_a_token(path: Path) -> None:
    lines = _lines(path)
    at = next(i for i, line in enumerate(lines) if '"kind":"patient_token"' in line)
    del lines[at]
    _set_header(lines, patient_tokens=json.loads(lines[0])["patient_tokens"] - 1)
    path.write_text("".join(lines), encoding="utf-8")


def _drop_the_hmac(path: Path) -> None:
    lines = _lines(path)
    header = json.loads(lines[0])
    del header["mapping_hmac"]
    lines[0] = json.dumps(header) + "\n"
    path.write_text("".join(lines), encoding="utf-8")


MAPPING_DAMAGE = {
    "two tokens swapped": _swap_two_tokens,
    "the forgotten keys removed (header count fixed)": _remove_the_forgotten_keys,
    "a token removed (header count fixed)": _remove_a_token,
    "the HMAC removed from the header": _drop_the_hmac,
}


@pytest.mark.parametrize("damage", list(MAPPING_DAMAGE))
def test_a_tampered_mapping_section_is_refused_and_nothing_is_restored(
    db_url: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    damage: str,
) -> None:
    store = _programme(db_url)
    registry = PatientRegistry(store.engine, KEY)
    registry.forget("LOCAL-3")  # so that the backup holds a forgotten key
    store.dispose()
    path = tmp_path / "log.jsonl"
    assert main(["backup", str(path), "--db", db_url, "-q"]) == 0
    assert _header(path)["forgotten_keys"] == 1
    MAPPING_DAMAGE[damage](path)
    target = _new_db(db_url, request, tmp_path, "target.db")
    capsys.readouterr()
    assert main(["restore", str(path), "--db", target, "-q"]) == 1
    err = capsys.readouterr().err
    assert "pseudonym mapping section does not match its HMAC" in err, err
    assert _head(target)[0] == 0
    assert _count(target, "patient_tokens") == 0


def test_a_backup_restored_under_another_pseudonym_key_is_refused(
    db_url: str,
    backup: tuple[Path, str],
    request: pytest.FixtureRequest,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path, _ = backup
    monkeypatch.setenv("SIPDASH_PSEUDONYM_KEY", "some-other-key-0123456789abcdef0123")
    target = _new_db(db_url, request, tmp_path, "target.db")
    assert main(["restore", str(path), "--db", target, "-q"]) == 1
    assert "SIPDASH_PSEUDONYM_KEY is not the key" in capsys.readouterr().err
    assert _head(target)[0] == 0


# --------------------------------------------------------------------------- erasures re-applied


def test_restore_re_applies_every_patient_forgotten_in_the_log_and_says_so(
    db_url: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A ``forget`` interrupted after recording its event (the mapping not yet erased), then
    backed up: the restored database must not link that patient again."""
    store = _programme(db_url)
    registry = PatientRegistry(store.engine, KEY)
    token = registry.token_of("LOCAL-7")
    assert token is not None
    forgotten = PatientForgotten(subject="patients", patient_ref=token, requested_by="dpo")
    store.append([NewEvent(forgotten, event_id=forgotten_event_id(token))])
    store.dispose()
    path = tmp_path / "log.jsonl"
    assert main(["backup", str(path), "--db", db_url, "-q"]) == 0
    assert token in path.read_text(encoding="utf-8"), "the backup still holds the mapping"
    target = _new_db(db_url, request, tmp_path, "target.db")
    capsys.readouterr()
    assert main(["restore", str(path), "--db", target, "-q"]) == 0
    out = capsys.readouterr().out
    assert "re-applied 1 patient erasures (PatientForgotten) from the log: 1 mappings" in out
    restored = EventStore(target)
    again = PatientRegistry(restored.engine, KEY)
    assert again.token_of("LOCAL-7") is None
    assert again.token_of("LOCAL-8") is not None
    with restored.engine.connect() as conn:
        assert again.forgotten(list(again.hashes_for(["local:LOCAL-7"]).values()), conn)
    restored.dispose()


# --------------------------------------------------------------------------- a broken log


def test_a_log_that_does_not_verify_is_not_backed_up(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = _programme(db_url)
    at = next(row[0] for row in store.read_rows() if '"contact":"video"' in row[8])
    store.dispose()
    statement = (
        f"UPDATE events SET payload = replace(payload, 'video', 'phone') WHERE position = {at}"
    )
    if db_url.startswith("sqlite"):
        conn = sqlite3.connect(make_url(db_url).database)
        conn.execute("DROP TRIGGER events_no_update")
        conn.execute(statement)
        conn.commit()
        conn.close()
    else:
        with psycopg.connect(pg_conninfo(db_url), autocommit=True) as conn:
            conn.execute("ALTER TABLE events DISABLE TRIGGER ALL")
            conn.execute(statement)
    path = tmp_path / "broken.jsonl"
    assert main(["backup", str(path), "--db", db_url, "-q"]) == 1
    err = capsys.readouterr().err
    assert f"does not verify at position {at}: content does not match its hash" in err, err
    assert not path.exists() and not list(tmp_path.glob("*.partial"))


def test_a_keyed_log_restores_with_its_hmacs_and_verifies_with_the_key(
    db_url: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log_key = "backup-log-key-of-sufficient-length"
    _programme(db_url).dispose()
    keyed = EventStore(db_url, log_key=log_key)
    keyed.append([NewEvent(TeamRegistered(team_id="copd1", name="C", site="N", service="C"))])
    head = keyed.head()
    keyed.dispose()
    monkeypatch.setenv("SIPDASH_LOG_KEY", log_key)
    path = tmp_path / "keyed.jsonl"
    assert main(["backup", str(path), "--db", db_url, "-q"]) == 0
    target = _new_db(db_url, request, tmp_path, "target.db")
    capsys.readouterr()
    assert main(["restore", str(path), "--db", target, "-q"]) == 0
    out = capsys.readouterr().out
    assert f"positions {head.position}-{head.position} carry HMACs, all checked" in out, out
    assert _head(target) == (head.position, head.hash)
    # the restored log is still keyed: an append without the key is refused
    monkeypatch.delenv("SIPDASH_LOG_KEY")
    assert main(["forget", "LOCAL-1", "--by", "dpo", "--db", target, "-q"]) == 1
    assert "appending needs the log key" in capsys.readouterr().err
