"""Backup and restore: a faithful copy restores to the same head; a damaged one restores nothing.

``sipdash backup F`` writes the log as JSON lines; ``sipdash restore F`` loads it into an empty
database (SQLite or PostgreSQL, either way round) and must give the same head hash and the same
read models. Any damage — a changed byte, a missing or extra line, a truncated file, a line that
is not JSON, wrong types — is refused with exit 1, naming the line, and appends nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audit.imports import Importer
from audit.projections import Projector
from audit.service import AuditService
from dashboard.cli import main
from events import EventStore, NewEvent
from events.pseudonym import PatientRegistry
from events.types import TeamRegistered
from tests.helpers.readmodels import snapshot

KEY = "reliability-backup-key-0123456789abcdef0123"
HEADER = (
    "consultation_id,team,clinician,patient,occurred_on,contact,"
    "agenda_setting,goal_setting,follow_up"
)


def _programme(url: str) -> EventStore:
    """A small but varied log: teams, an import (clinicians, consultations, elements), audits."""
    store = EventStore(url)
    Projector(store).ensure_schema()
    registry = PatientRegistry(store.engine, KEY)
    registry.ensure_schema()
    store.append(
        [
            NewEvent(TeamRegistered(team_id=t, name=f"Team {t} — ñ", site="N", service="COPD"))
            for t in ("msk1", "copd1")
        ]
    )
    rows = [HEADER] + [
        f"c{i},{('msk1', 'copd1')[i % 2]},K{i % 5},LOCAL-{i % 40},2024-0{1 + i % 3}-{1 + i % 28:02d},"
        f"video,{'yes' if i % 2 else 'no'},{'yes' if i % 3 else 'no'},yes"
        for i in range(240)
    ]
    Importer(store, registry, projector=Projector(store)).import_consultations(
        ("\n".join(rows) + "\n").encode()
    )
    service = AuditService(store, projector=Projector(store))
    service.run("2024-01", sample_size=10)
    service.run("2024-02", sample_size=10)
    return store


def _empty_db(kind: str, request: pytest.FixtureRequest, tmp_path: Path, name: str) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / name}"
    return request.getfixturevalue("pg_server").new_database()


def _backend(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql"


def _head(url: str):
    store = EventStore(url)
    store.create_schema()
    try:
        return store.head()
    finally:
        store.dispose()


@pytest.fixture
def backup(db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, str]:
    """A backup of a varied log in ``db_url``; returns (file, head hash of the source)."""
    store = _programme(db_url)
    head = store.head().hash
    store.dispose()
    path = tmp_path / "log.backup.jsonl"
    assert main(["backup", str(path), "--db", db_url, "-q"]) == 0
    assert capsys.readouterr().out.strip().endswith(f"head {head}")
    return path, head


def test_a_restore_into_an_empty_database_gives_the_same_head_hash_and_read_models(
    db_url: str,
    backup: tuple[Path, str],
    request: pytest.FixtureRequest,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path, head = backup
    target = _empty_db(_backend(db_url), request, tmp_path, "restored.db")
    assert main(["restore", str(path), "--db", target, "-q"]) == 0
    assert capsys.readouterr().out.strip().endswith(f"head {head}")
    assert _head(target).hash == head
    source, restored = EventStore(db_url), EventStore(target)
    assert snapshot(restored) == snapshot(source), "the restored dashboard shows the same"
    source.dispose()
    restored.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("direction", ["sqlite to postgresql", "postgresql to sqlite"])
def test_a_backup_restores_across_backends_with_the_same_head_hash(
    direction: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    src_kind, dst_kind = direction.split(" to ")
    source = _empty_db(src_kind, request, tmp_path, "source.db")
    target = _empty_db(dst_kind, request, tmp_path, "target.db")
    head = _programme(source).head().hash
    path = tmp_path / "cross.jsonl"
    assert main(["backup", str(path), "--db", source, "-q"]) == 0
    assert main(["restore", str(path), "--db", target, "-q"]) == 0
    assert capsys.readouterr().out.strip().endswith(f"head {head}")
    assert _head(target).hash == head
    assert main(["verify", "--db", target, "-q"]) == 0


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def _line_of(data: bytes | bytearray, offset: int) -> int:
    """The 1-based line number of a byte offset."""
    return data[:offset].count(b"\n") + 1


def _write(path: Path, lines: list[str]) -> None:
    path.write_text("".join(lines), encoding="utf-8")


# Each spoiler damages the file and returns what the refusal must mention.


def _change_a_payload_byte(path: Path) -> str:
    lines = _lines(path)
    at = next(i for i, line in enumerate(lines) if '\\"contact\\":\\"video\\"' in line)
    lines[at] = lines[at].replace("video", "vidoe", 1)
    _write(path, lines)
    return f"line {at + 1}: content does not match its hash"


def _flip_a_raw_byte(path: Path) -> str:
    data = bytearray(path.read_bytes())
    at = data.index(b"consultation_id", len(data) // 2)
    data[at] ^= 0x01  # 'c' -> 'b' inside a payload on a line in the middle
    path.write_bytes(bytes(data))
    return f"line {_line_of(data, at)}: "


def _drop_line(path: Path) -> str:
    lines = _lines(path)
    del lines[6]
    _write(path, lines)
    return "line 7: position 7, expected 6"


def _duplicate_line(path: Path) -> str:
    lines = _lines(path)
    lines.insert(7, lines[6])
    _write(path, lines)
    return "line 8: position 6, expected 7"


def _truncate_mid_line(path: Path) -> str:
    data = path.read_bytes()
    cut = data.index(b"\n", len(data) // 2) + 20
    path.write_bytes(data[:cut])
    return f"line {_line_of(data, cut)}: not a complete event row"


def _truncate_at_a_line(path: Path) -> str:
    lines = _lines(path)
    _write(path, lines[: len(lines) // 2])
    return "the backup is incomplete"


def _garbage_line(path: Path) -> str:
    lines = _lines(path)
    lines[4] = "this is not JSON\n"
    _write(path, lines)
    return "line 5: not a complete event row"


def _wrong_types(path: Path) -> str:
    lines = _lines(path)
    row = json.loads(lines[3])
    row["stream_version"] = "one"
    row["recorded_at"] = 12
    lines[3] = json.dumps(row) + "\n"
    _write(path, lines)
    return "line 4: "


def _not_utf8(path: Path) -> str:
    data = bytearray(path.read_bytes())
    at = data.index(b"\n", len(data) // 3) + 10
    data[at] = 0xFF
    path.write_bytes(bytes(data))
    return f"line {_line_of(data, at)}: "


def _header_only(path: Path) -> str:
    _write(path, _lines(path)[:1])
    return "the backup is incomplete"


def _empty(path: Path) -> str:
    path.write_bytes(b"")
    return "line 1: "


def _not_a_backup(path: Path) -> str:
    path.write_text("consultation_id,team\nc1,msk1\n", encoding="utf-8")
    return "line 1: "


DAMAGE = {
    "a changed byte in a payload": _change_a_payload_byte,
    "a flipped byte somewhere in the middle": _flip_a_raw_byte,
    "a missing line": _drop_line,
    "a duplicated line": _duplicate_line,
    "a file truncated mid-line": _truncate_mid_line,
    "a file truncated at a line end": _truncate_at_a_line,
    "a line that is not JSON": _garbage_line,
    "a line with wrong types": _wrong_types,
    "a byte that is not UTF-8": _not_utf8,
    "a header and no events": _header_only,
    "an empty file": _empty,
    "a CSV file instead of a backup": _not_a_backup,
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_backup_is_refused_naming_the_line_and_nothing_is_restored(
    db_url: str,
    backup: tuple[Path, str],
    request: pytest.FixtureRequest,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    damage: str,
) -> None:
    path, _ = backup
    where = DAMAGE[damage](path)
    target = _empty_db(_backend(db_url), request, tmp_path, "target.db")
    capsys.readouterr()
    assert main(["restore", str(path), "--db", target, "-q"]) == 1
    captured = capsys.readouterr()
    assert "restore refused" in captured.err and where in captured.err, captured.err
    assert "Traceback" not in captured.err + captured.out
    assert _head(target).position == 0, "a refused restore appends nothing"


def test_a_restore_into_a_database_that_holds_events_is_refused(
    db_url: str, backup: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = backup
    before = _head(db_url)
    capsys.readouterr()
    assert main(["restore", str(path), "--db", db_url, "-q"]) == 1
    assert "empty database" in capsys.readouterr().err
    assert _head(db_url) == before
