"""Backup and restore: the whole log as JSON lines, restored only into an empty log.

Format 2 (written now; format 1 is still read):

* line 1, the header: format, event count, head hash, mapping counts, and ``mapping_hmac``;
* one line per event (every stored column, ``hash_version`` and keyed ``hmac`` included);
* the pseudonym mapping (keyed hashes and tokens, never identifiers).

The writer reads everything in ONE snapshot (see ``EventStore.snapshot``), so the header, the
rows and the mapping describe one moment even while other processes append; it walks the chain
as it writes, so a log that does not verify is not backed up. The mapping section is covered by
an HMAC under the pseudonym key bound to the head: removing forgotten keys or swapping tokens
is refused on restore. A restore re-checks every row with the same chain checker as ``verify``
and loads events and mapping in ONE transaction (killed anywhere: an empty database or a
complete one); it then re-applies every ``PatientForgotten`` in the log to the mapping.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from . import pseudonym
from .chain import ChainChecker, ChainError, canonical_json
from .sql import sql
from .store import CHAIN_COLUMNS, COLUMNS, EventStore, StoreError

FIELDS_1 = [c.strip() for c in COLUMNS.split(",")]
FIELDS = [c.strip() for c in CHAIN_COLUMNS.split(",")]
FORMAT_1 = "sipdash-backup/1"
FORMAT = "sipdash-backup/2"
_BATCH = 20_000


class BackupError(StoreError):
    """The backup file cannot be written or restored; the message names the line and what."""


@dataclass(frozen=True)
class BackupWritten:
    events: int
    head: str


@dataclass
class RestoreResult:
    events: int
    head: str
    format: str
    patient_tokens: int = 0
    forgotten_keys: int = 0
    #: ``PatientForgotten`` events in the log whose mapping the backup still held (erased now)
    erasures_reapplied: int = 0
    #: ``PatientForgotten`` events in the log, all re-applied
    forgotten_events: int = 0
    notes: list[str] = field(default_factory=list)


def mapping_mac(
    key: str, head: str, tokens: list[tuple[str, str]], forgotten: list[tuple[str]]
) -> str:
    """HMAC-SHA256 under the pseudonym key over the head and every mapping record, in file
    order: a mapping cannot be edited, shortened or moved to another backup's head without
    the key."""
    mac = hmac.new(key.encode("utf-8"), digestmod=hashlib.sha256)
    mac.update(f"{FORMAT} mapping\n{head}\n".encode())
    for key_hash, token in tokens:
        mac.update((canonical_json(["patient_token", key_hash, token]) + "\n").encode())
    for (key_hash,) in forgotten:
        mac.update((canonical_json(["forgotten_key", key_hash]) + "\n").encode())
    return mac.hexdigest()


def _mapping_in(conn) -> tuple[list[tuple[str, str]], list[tuple[str]]]:
    tokens = conn.exec_driver_sql(
        "SELECT key_hash, token FROM patient_tokens ORDER BY key_hash"
    ).fetchall()
    forgotten = conn.exec_driver_sql(
        "SELECT key_hash FROM patient_forgotten_keys ORDER BY key_hash"
    ).fetchall()
    return [(k, t) for k, t in tokens], [(k,) for (k,) in forgotten]


def write_backup(
    store: EventStore,
    out: IO[str],
    progress: Callable[[int], None] | None = None,
    *,
    pseudonym_key: str | None = None,
) -> BackupWritten:
    """Write the header, one JSON object per event, then the pseudonym mapping, all from one
    snapshot. Raises :class:`BackupError` when the log does not verify (such a backup could
    never be restored)."""
    if pseudonym_key is None:
        pseudonym_key, _ = pseudonym.resolve_key()
    pseudonym.metadata.create_all(store.engine, checkfirst=True)
    checker = ChainChecker(key=store.log_key)
    with store.snapshot() as conn:
        head = store._head_in(conn)
        tokens, forgotten = _mapping_in(conn)
        header = {
            "format": FORMAT,
            "events": head.position,
            "head": head.hash,
            "patient_tokens": len(tokens),
            "forgotten_keys": len(forgotten),
            "mapping_hmac": mapping_mac(pseudonym_key, head.hash, tokens, forgotten),
        }
        out.write(canonical_json(header) + "\n")
        try:
            for row in store.chain_rows(conn):
                checker.check(row)
                out.write(canonical_json(dict(zip(FIELDS, row, strict=True))) + "\n")
                if progress and checker.count % _BATCH == 0:
                    progress(_BATCH)
        except ChainError as exc:
            raise BackupError(
                f"the log does not verify at position {exc.position}: {exc.problem}; "
                "no backup written (run `sipdash verify`)"
            ) from None
    if checker.count != head.position or checker.prev_hash != head.hash:
        raise BackupError(  # cannot happen inside one snapshot; checked all the same
            f"the snapshot changed while it was read ({checker.count} rows, head {head.position})"
        )
    for key_hash, token in tokens:
        out.write(
            canonical_json({"kind": "patient_token", "key_hash": key_hash, "token": token}) + "\n"
        )
    for (key_hash,) in forgotten:
        out.write(canonical_json({"kind": "forgotten_key", "key_hash": key_hash}) + "\n")
    return BackupWritten(checker.count, head.hash)


_INT_FIELDS = frozenset({"position", "stream_version", "schema_version", "hash_version"})


def _row(obj: object, fields: list[str]) -> tuple:
    """The row in ``CHAIN_COLUMNS`` order, every field present and of its stored type (a
    format-1 row gets ``hash_version`` 1 and no HMAC: format 1 predates both)."""
    if not isinstance(obj, dict):
        raise TypeError("not an object")
    if set(obj) != set(fields):
        raise KeyError("unexpected or missing fields")
    row = tuple(obj[f] for f in fields)
    for name, value in zip(fields, row, strict=True):
        if name == "hmac":
            if value is not None and type(value) is not str:
                raise TypeError("hmac has the wrong type")
        elif type(value) is not (int if name in _INT_FIELDS else str):
            raise TypeError(f"{name} has the wrong type")
    return row if fields is FIELDS else (*row, 1, None)


def _text_lines(fh: IO[bytes], path: Path) -> Iterator[tuple[int, str]]:
    for lineno, raw in enumerate(fh, start=1):
        try:
            yield lineno, raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BackupError(f"{path}: line {lineno}: not UTF-8 text") from None


class _Reader:
    """Reads and checks a backup file line by line; rows are yielded as they pass."""

    def __init__(self, path: Path, checker: ChainChecker) -> None:
        self.path = path
        self.checker = checker
        self.header: dict = {}
        self.format = ""
        self.tokens: list[tuple[str, str]] = []
        self.forgotten: list[tuple[str]] = []

    def rows(self) -> Iterator[tuple]:
        path = self.path
        with path.open("rb") as fh:
            lines = _text_lines(fh, path)
            _, header_line = next(lines, (1, ""))
            try:
                header = json.loads(header_line)
            except ValueError:
                raise BackupError(f"{path}: line 1: not a sipdash backup header") from None
            if not isinstance(header, dict) or header.get("format") not in (FORMAT, FORMAT_1):
                raise BackupError(f"{path}: line 1: expected format {FORMAT} (or {FORMAT_1})")
            self.header, self.format = header, header["format"]
            fields = FIELDS if self.format == FORMAT else FIELDS_1
            for lineno, line in lines:
                try:
                    obj = json.loads(line)
                except ValueError:
                    raise BackupError(f"{path}: line {lineno}: not a complete event row") from None
                if isinstance(obj, dict) and "kind" in obj:
                    self._extra(obj, lineno)
                    continue
                if self.tokens or self.forgotten:
                    raise BackupError(
                        f"{path}: line {lineno}: an event after the pseudonym mapping"
                    )
                try:
                    row = _row(obj, fields)
                except (ValueError, KeyError, TypeError):
                    raise BackupError(f"{path}: line {lineno}: not a complete event row") from None
                try:
                    self.checker.check(row)
                except ChainError as exc:
                    raise BackupError(f"{path}: line {lineno}: {exc.problem}") from None
                yield row
        self._complete()

    def _complete(self) -> None:
        path, header, checker = self.path, self.header, self.checker
        if header.get("events") != checker.count or header.get("head") != checker.prev_hash:
            raise BackupError(
                f"{path}: the backup is incomplete: header promises {header.get('events')} events "
                f"ending at {header.get('head')}, file holds {checker.count}"
            )
        for found, key in ((self.tokens, "patient_tokens"), (self.forgotten, "forgotten_keys")):
            if header.get(key, 0) != len(found):
                raise BackupError(
                    f"{path}: the backup is incomplete: header promises {header.get(key, 0)} "
                    f"{key.replace('_', ' ')}, file holds {len(found)}"
                )

    def check_mapping(self, key: str) -> None:
        """Format 2: the mapping section must carry the HMAC the header names, under ``key``."""
        want = self.header.get("mapping_hmac")
        got = mapping_mac(key, self.checker.prev_hash, self.tokens, self.forgotten)
        if not isinstance(want, str) or not hmac.compare_digest(want, got):
            raise BackupError(
                f"{self.path}: the pseudonym mapping section does not match its HMAC: it was "
                "altered (records removed, added or swapped), or SIPDASH_PSEUDONYM_KEY is not "
                "the key the backup was written with"
            )

    def _extra(self, obj: dict, lineno: int) -> None:
        path = self.path
        kind = obj.get("kind")
        if kind not in ("patient_token", "forgotten_key"):
            raise BackupError(f"{path}: line {lineno}: unknown record kind")
        key_hash, token = obj.get("key_hash"), obj.get("token")
        if not isinstance(key_hash, str) or len(key_hash) != 64:
            raise BackupError(f"{path}: line {lineno}: key_hash is not a 64-character hash")
        if kind == "patient_token":
            if not isinstance(token, str) or not token.startswith("p_"):
                raise BackupError(f"{path}: line {lineno}: token is not a patient token")
            self.tokens.append((key_hash, token))
        else:
            self.forgotten.append((key_hash,))


def restore_backup(
    store: EventStore,
    path: Path,
    progress: Callable[[int], None] | None = None,
    *,
    pseudonym_key: str | None = None,
) -> RestoreResult:
    """Load a backup into an empty log: events, mapping and the re-applied erasures in ONE
    transaction, so an error or a kill anywhere leaves the database as empty as it was."""
    if pseudonym_key is None:
        pseudonym_key, _ = pseudonym.resolve_key()
    if not store.is_empty():
        raise BackupError("restore only writes into an empty database; this one holds events")
    pseudonym.metadata.create_all(store.engine, checkfirst=True)
    reader = _Reader(path, ChainChecker(key=store.log_key))
    with store.begin_write() as conn:
        held = conn.exec_driver_sql(
            "SELECT (SELECT COUNT(*) FROM patient_tokens) + "
            "(SELECT COUNT(*) FROM patient_forgotten_keys)"
        ).scalar_one()
        if held:
            raise BackupError(
                "restore only writes into an empty database; this one holds a pseudonym mapping"
            )
        n = store.load_rows_in(conn, reader.rows(), progress=progress)
        result = RestoreResult(n, reader.checker.prev_hash, reader.format)
        if reader.format == FORMAT:
            reader.check_mapping(pseudonym_key)
        else:
            result.notes.append(
                f"{FORMAT_1} backup: its pseudonym mapping carries no HMAC and was not checked"
            )
        if reader.tokens:
            conn.execute(
                pseudonym.patient_tokens.insert(),
                [{"key_hash": h, "token": t} for h, t in reader.tokens],
            )
        if reader.forgotten:
            conn.execute(
                pseudonym.forgotten_keys.insert(), [{"key_hash": h} for (h,) in reader.forgotten]
            )
        result.patient_tokens, result.forgotten_keys = len(reader.tokens), len(reader.forgotten)
        _reapply_forgotten(conn, result)
    return result


def _reapply_forgotten(conn, result: RestoreResult) -> None:
    """Every ``PatientForgotten`` in the restored log erases the mapping it names (a backup
    taken while a ``forget`` was under way may still hold it) and refuses that patient from now
    on, exactly as ``forget`` left it."""
    refs = [
        json.loads(payload).get("patient_ref")
        for (payload,) in conn.execute(
            sql("SELECT payload FROM events WHERE type = :type ORDER BY position"),
            {"type": "PatientForgotten"},
        )
    ]
    result.forgotten_events = len(refs)
    for ref in refs:
        found = conn.execute(
            sql("SELECT key_hash FROM patient_tokens WHERE token = :token"), {"token": ref}
        ).first()
        if found is None:
            continue
        conn.execute(sql("DELETE FROM patient_tokens WHERE token = :token"), {"token": ref})
        key = {"key_hash": found[0]}
        if not conn.execute(
            sql("SELECT 1 FROM patient_forgotten_keys WHERE key_hash = :key_hash"), key
        ).first():
            conn.execute(pseudonym.forgotten_keys.insert(), key)
        result.erasures_reapplied += 1
