"""Backup and restore: the whole log as JSON lines, restored only into an empty log.

A restore re-checks every row's hash against the chain before anything is committed, so a
damaged or edited backup is refused whole and the head hash after restore equals the original.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from . import pseudonym
from .store import COLUMNS, GENESIS_HASH, EventStore, StoreError, canonical_json, row_hash

FIELDS = [c.strip() for c in COLUMNS.split(",")]
FORMAT = "sipdash-backup/1"


class BackupError(StoreError):
    """The backup file cannot be restored; the message names the line and what is wrong."""


def _mapping(store: EventStore) -> tuple[list[tuple[str, str]], list[str]]:
    """The pseudonym mapping kept beside the log (keyed hashes and tokens, never identifiers),
    so that a restored database still links re-imports and still refuses forgotten patients."""
    pseudonym.metadata.create_all(store.engine, checkfirst=True)
    with store.engine.connect() as conn:
        tokens = conn.exec_driver_sql(
            "SELECT key_hash, token FROM patient_tokens ORDER BY key_hash"
        ).fetchall()
        forgotten = conn.exec_driver_sql(
            "SELECT key_hash FROM patient_forgotten_keys ORDER BY key_hash"
        ).fetchall()
    return [(k, t) for k, t in tokens], [k for (k,) in forgotten]


def write_backup(
    store: EventStore, out: IO[str], progress: Callable[[int], None] | None = None
) -> int:
    """Write a header line, one JSON object per event, then the pseudonym mapping; returns the
    number of events."""
    head = store.head()
    tokens, forgotten = _mapping(store)
    header = {
        "format": FORMAT,
        "events": head.position,
        "head": head.hash,
        "patient_tokens": len(tokens),
        "forgotten_keys": len(forgotten),
    }
    out.write(canonical_json(header) + "\n")
    n = 0
    for row in store.read_rows(batch_size=20_000):
        out.write(canonical_json(dict(zip(FIELDS, row, strict=True))) + "\n")
        n += 1
        if progress and n % 20_000 == 0:
            progress(20_000)
    for key_hash, token in tokens:
        out.write(
            canonical_json({"kind": "patient_token", "key_hash": key_hash, "token": token}) + "\n"
        )
    for key_hash in forgotten:
        out.write(canonical_json({"kind": "forgotten_key", "key_hash": key_hash}) + "\n")
    return n


_INT_FIELDS = frozenset({"position", "stream_version", "schema_version"})


def _row(obj: object) -> tuple:
    """The row in ``COLUMNS`` order, every field present and of its stored type."""
    if not isinstance(obj, dict):
        raise TypeError("not an object")
    row = tuple(obj[f] for f in FIELDS)
    for name, value in zip(FIELDS, row, strict=True):
        if type(value) is not (int if name in _INT_FIELDS else str):
            raise TypeError(f"{name} has the wrong type")
    return row


def _text_lines(fh: IO[bytes], path: Path) -> Iterator[tuple[int, str]]:
    for lineno, raw in enumerate(fh, start=1):
        try:
            yield lineno, raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BackupError(f"{path}: line {lineno}: not UTF-8 text") from None


def _rows(path: Path, extras: dict[str, list] | None = None) -> Iterator[tuple[int, tuple]]:
    with path.open("rb") as fh:
        lines = _text_lines(fh, path)
        _, header_line = next(lines, (1, ""))
        try:
            header = json.loads(header_line)
        except ValueError:
            raise BackupError(f"{path}: line 1: not a sipdash backup header") from None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise BackupError(f"{path}: line 1: expected format {FORMAT}")
        prev_hash, prev_rec, expected = GENESIS_HASH, "", 1
        for lineno, line in lines:
            try:
                obj = json.loads(line)
            except ValueError:
                raise BackupError(f"{path}: line {lineno}: not a complete event row") from None
            if isinstance(obj, dict) and "kind" in obj:
                _extra(obj, extras, path, lineno)
                continue
            if extras and any(extras.values()):
                raise BackupError(f"{path}: line {lineno}: an event after the pseudonym mapping")
            try:
                row = _row(obj)
            except (ValueError, KeyError, TypeError):
                raise BackupError(f"{path}: line {lineno}: not a complete event row") from None
            pos, eid, sid, ver, typ, sver, occ, rec, payload, meta, digest = row
            if pos != expected:
                raise BackupError(f"{path}: line {lineno}: position {pos}, expected {expected}")
            if rec < prev_rec:
                raise BackupError(f"{path}: line {lineno}: recorded_at goes backwards")
            want = row_hash(prev_hash, eid, sid, ver, typ, sver, occ, rec, payload, meta)
            if want != digest:
                raise BackupError(f"{path}: line {lineno}: content does not match its hash")
            prev_hash, prev_rec, expected = digest, rec, expected + 1
            yield lineno, row
        if header.get("events") != expected - 1 or header.get("head") != prev_hash:
            raise BackupError(
                f"{path}: the backup is incomplete: header promises {header.get('events')} events "
                f"ending at {header.get('head')}, file holds {expected - 1}"
            )
        if extras is not None:
            for kind, key in (
                ("patient_token", "patient_tokens"),
                ("forgotten_key", "forgotten_keys"),
            ):
                if header.get(key, 0) != len(extras[kind]):
                    raise BackupError(
                        f"{path}: the backup is incomplete: header promises {header.get(key, 0)} "
                        f"{key.replace('_', ' ')}, file holds {len(extras[kind])}"
                    )


def _extra(obj: dict, extras: dict[str, list] | None, path: Path, lineno: int) -> None:
    kind = obj.get("kind")
    if extras is None or kind not in ("patient_token", "forgotten_key"):
        raise BackupError(f"{path}: line {lineno}: unknown record kind")
    key_hash, token = obj.get("key_hash"), obj.get("token")
    if not isinstance(key_hash, str) or len(key_hash) != 64:
        raise BackupError(f"{path}: line {lineno}: key_hash is not a 64-character hash")
    if kind == "patient_token":
        if not isinstance(token, str) or not token.startswith("p_"):
            raise BackupError(f"{path}: line {lineno}: token is not a patient token")
        extras[kind].append((key_hash, token))
    else:
        extras[kind].append((key_hash,))


def restore_backup(
    store: EventStore, path: Path, progress: Callable[[int], None] | None = None
) -> int:
    """Load a backup into an empty log in one transaction; returns the number of events."""
    if not store.is_empty():
        raise BackupError("restore only writes into an empty database; this one holds events")
    extras: dict[str, list] = {"patient_token": [], "forgotten_key": []}
    n = store.load_verified_rows((row for _, row in _rows(path, extras)), progress=progress)
    pseudonym.metadata.create_all(store.engine, checkfirst=True)
    ph = "?" if store.sqlite else "%s"
    with store.engine.begin() as conn:
        if extras["patient_token"]:
            conn.exec_driver_sql(
                f"INSERT INTO patient_tokens (key_hash, token) VALUES ({ph}, {ph})",
                extras["patient_token"],
            )
        if extras["forgotten_key"]:
            conn.exec_driver_sql(
                f"INSERT INTO patient_forgotten_keys (key_hash) VALUES ({ph})",
                extras["forgotten_key"],
            )
    return n
