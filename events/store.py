"""The append-only event store over SQLModel (SQLite by default, PostgreSQL by URL).

Promises (each proved by a test in ``tests/integration/test_store_contract.py``):

* an append is one atomic batch: every event of the call lands, or none;
* ``position`` is global, strictly increasing and gap-free, and on PostgreSQL becomes visible
  in commit order: appends take one transaction-scoped lock, so a reader that has seen
  position P never later finds an event below P;
* ``event_id`` is unique: the same id with the same content is a no-op, other content an error;
* ``(stream_id, stream_version)`` is unique: optimistic concurrency via ``expected_version``;
* ``recorded_at`` never decreases along ``position``, so "as of T" is always a prefix;
* every row carries a SHA-256 over its canonical content and the previous row's hash, in the
  encoding its ``hash_version`` names (``events.chain``; new rows: version 2), and in keyed
  mode an HMAC of that hash;
* there is no update or delete path (and the database refuses them by trigger).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

from . import chain
from .chain import GENESIS_HASH, ChainChecker, ChainError, canonical_json, has_control_characters
from .db import driver_cursor, is_sqlite, make_engine, normalise_url, schema_transaction
from .ids import new_event_id
from .sql import (
    Lock,
    any_of,
    any_of_value,
    locked_write,
    mark,
    marks,
    raw_executemany,
    raw_fetchall,
    sql,
)
from .types import Event, parse_event
from .upcast import upcast

TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
#: PostgreSQL appends of at least this many rows go through COPY (smaller: INSERT)
_COPY_FROM = 64
#: an append's duplicate and version checks list at most this many ids (and streams) as
#: placeholders; longer lists go as one parameter each (events.sql.any_of)
_LISTED = 64


class StoredEvent(SQLModel, table=True):
    """Storage detail: one row of the log. Code outside ``events/`` never sees this class."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("stream_id", "stream_version", name="uq_events_stream_version"),
        Index("ix_events_type_position", "type", "position"),
        Index("ix_events_recorded_at", "recorded_at"),
    )

    position: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    event_id: str = Field(sa_column=Column(Text, nullable=False, unique=True))
    stream_id: str = Field(sa_column=Column(Text, nullable=False))
    stream_version: int = Field(sa_column=Column(Integer, nullable=False))
    type: str = Field(sa_column=Column(Text, nullable=False))
    schema_version: int = Field(sa_column=Column(Integer, nullable=False))
    occurred_at: str = Field(sa_column=Column(Text, nullable=False))
    recorded_at: str = Field(sa_column=Column(Text, nullable=False))
    payload: str = Field(sa_column=Column(Text, nullable=False))
    meta: str = Field(sa_column=Column("metadata", Text, nullable=False))
    hash: str = Field(sa_column=Column(Text, nullable=False))
    # which row-hash encoding (events.chain); rows written before it existed are version 1
    hash_version: int = Field(sa_column=Column(Integer, nullable=False, server_default=text("1")))
    # keyed mode: the HMAC of ``hash`` under SIPDASH_LOG_KEY, from the first keyed row on
    hmac: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


#: The row as readers see it (``read_rows``): the event and its hash.
COLUMNS = (
    "position, event_id, stream_id, stream_version, type, schema_version, "
    "occurred_at, recorded_at, payload, metadata, hash"
)
#: The row as the chain sees it: ``COLUMNS`` plus the hash encoding and the keyed HMAC.
CHAIN_COLUMNS = COLUMNS + ", hash_version, hmac"
_COLUMN_NAMES = tuple(COLUMNS.split(", "))
_CHAIN_COLUMN_NAMES = tuple(CHAIN_COLUMNS.split(", "))
_CHAIN_EXTRA = ("hash_version", "hmac")

# --- errors ----------------------------------------------------------------------------------


class StoreError(Exception):
    """Base of every error the store raises on purpose."""


class VersionConflict(StoreError):
    """The stream moved on since the caller read it. Safe to retry after re-reading."""

    retryable = True

    def __init__(self, stream_id: str, expected: int, actual: int) -> None:
        super().__init__(
            f"stream {stream_id} is at version {actual}, expected {expected}: "
            "someone else changed it; reload and try again"
        )
        self.stream_id, self.expected, self.actual = stream_id, expected, actual


class DuplicateEventConflict(StoreError):
    """An event id that is already stored with different content."""

    def __init__(self, event_id: str, what: str) -> None:
        super().__init__(f"event {event_id} is already stored with a different {what}")
        self.event_id = event_id


class HistoryNotAllowed(StoreError):
    """An explicit ``recorded_at`` outside loading history into an empty log."""


class InvalidIdentifier(StoreError):
    """An event id or stream id holding a control character (it could blur a field boundary
    in the row hash, and no one can read it)."""


class LogKeyRequired(StoreError):
    """The log is keyed (``SIPDASH_LOG_KEY``): an append without the key is refused, since
    its rows would carry no HMAC and ``verify`` would rightly call them forged."""


class WrongLogKey(StoreError):
    """The given log key is not the one the log's newest row was keyed with."""


# --- value types -----------------------------------------------------------------------------


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_ts(value: datetime | date) -> str:
    """Fixed-width ISO 8601 UTC text, so text order is time order on every backend."""
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    elif value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    # isoformat is strftime(TS_FORMAT) for years 1000-9999 at a third of the cost (the bulk
    # path formats two timestamps per event); "+00:00" becomes "Z"
    return value.isoformat(timespec="microseconds")[:-6] + "Z"


def parse_ts(value: str) -> datetime:
    return datetime.strptime(value, TS_FORMAT).replace(tzinfo=UTC)


#: The row hash of the current encoding (version 2), same arguments as ever; see events.chain.
row_hash = chain.row_hash_v2
HASH_VERSION = chain.CURRENT_HASH_VERSION


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append: the fact plus when it happened and who says so."""

    event: Event
    occurred_at: datetime | date | None = None
    event_id: str = field(default_factory=new_event_id)
    recorded_at: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """An event as stored, with the payload brought to its type's current shape."""

    position: int
    event_id: str
    stream_id: str
    stream_version: int
    type: str
    schema_version: int
    occurred_at: str
    recorded_at: str
    payload: dict[str, Any]
    metadata: dict[str, Any]
    hash: str

    @property
    def event(self) -> Event:
        return parse_event(self.type, self.payload)


@dataclass(frozen=True, slots=True)
class Head:
    position: int
    hash: str
    recorded_at: str | None


@dataclass(frozen=True, slots=True)
class AppendResult:
    appended: int
    skipped: int
    head: Head


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    count: int
    head_hash: str
    position: int | None = None
    problem: str | None = None
    #: what else a successful check found (a prefix matched, keyed rows checked or not)
    notes: tuple[str, ...] = ()

    def line(self) -> str:
        if self.ok:
            return f"ok: {self.count} events, head {self.head_hash}"
        return f"tampered: position {self.position}: {self.problem}"


@dataclass(slots=True)
class _Prepared:
    event_id: str
    stream_id: str
    type: str
    schema_version: int
    occurred_at: str
    recorded_at: str | None
    payload_json: str
    metadata_json: str


def _prepare(
    new: NewEvent,
    default_metadata: dict[str, Any] | None,
    default_json: str | None = None,
    stamps: dict[Any, str] | None = None,
) -> _Prepared:
    """``default_json``: ``default_metadata`` already encoded, for the events that add nothing
    to it (a seed or an import encodes it once, not once per event). ``stamps``: the bulk
    path's memo of formatted timestamps (about half of a seed's events share their moment
    with another; ``recorded_at`` is nearly always ``occurred_at`` when history is loaded)."""
    ev = new.event
    if not isinstance(ev, Event):
        raise TypeError(f"expected an Event, got {type(ev).__name__}")
    if default_json is not None and not new.metadata:
        metadata_json = default_json
    else:
        metadata_json = canonical_json({**(default_metadata or {}), **new.metadata})
    occurred = new.occurred_at if new.occurred_at is not None else ev.natural_time() or utc_now()
    event_id, stream_id = str(new.event_id), ev.stream_id
    # isprintable first (one call over both ids): a tenth of the exact test's cost, and true
    # for nearly every id; only an id it rejects (a no-break space, say) takes the exact test
    if not (event_id + stream_id).isprintable() and (
        has_control_characters(event_id) or has_control_characters(stream_id)
    ):
        what = "event id" if has_control_characters(event_id) else "stream id"
        raise InvalidIdentifier(
            f"{ev.type}: the {what} holds a control character (tab, newline, \\x1f …); "
            "ids must be printable text"
        )
    if stamps is None:
        occurred_at = format_ts(occurred)
    else:
        known = stamps.get(occurred)
        if known is None:
            known = stamps[occurred] = format_ts(occurred)
        occurred_at = known
    rec = new.recorded_at
    if rec is None:
        recorded_at = None
    elif rec == occurred and type(rec) is type(occurred):  # the same instant: the same text
        recorded_at = occurred_at
    else:
        recorded_at = format_ts(rec)
    return _Prepared(
        event_id=event_id,
        stream_id=stream_id,
        type=ev.type,
        schema_version=ev.schema_version,
        occurred_at=occurred_at,
        recorded_at=recorded_at,
        payload_json=canonical_json(ev.payload()),
        metadata_json=metadata_json,
    )


# --- the store -------------------------------------------------------------------------------


class EventStore:
    """Append and read the log. Create one per process; it is safe to share across threads."""

    def __init__(
        self, url: str, engine: Engine | None = None, *, log_key: str | None = None
    ) -> None:
        """``log_key``: keyed mode (``events.chain.log_key()`` reads ``SIPDASH_LOG_KEY``);
        every row this store appends then carries an HMAC of its hash."""
        self.url = normalise_url(url)
        self.engine = engine or make_engine(self.url)
        self.sqlite = is_sqlite(self.url)
        self.log_key = chain.log_key(log_key) if log_key else None
        # appends (raw DBAPI: the measured bulk path): hash version 2 as a literal, and the
        # HMAC only in keyed mode, so a row binds no more parameters than before hash versions
        self._append_columns = _COLUMN_NAMES if self.log_key is None else (*_COLUMN_NAMES, "hmac")

    # -- schema --

    def create_schema(self) -> None:
        """Create the events table (idempotent) and the triggers that refuse edits.

        When everything exists this only reads; otherwise it works in one transaction that is
        serialised across processes, so concurrent first runs do not collide."""
        if self._schema_ready():
            return
        with schema_transaction(self.engine) as conn:
            StoredEvent.metadata.tables[StoredEvent.__tablename__].create(conn, checkfirst=True)
            self._add_chain_columns(conn)
            if self.sqlite:
                for op in ("UPDATE", "DELETE"):
                    conn.exec_driver_sql(
                        f"CREATE TRIGGER IF NOT EXISTS events_no_{op.lower()} BEFORE {op} ON events "
                        "BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END"
                    )
            else:
                conn.exec_driver_sql(
                    "CREATE OR REPLACE FUNCTION sipdash_append_only() RETURNS trigger "
                    "LANGUAGE plpgsql AS $$ BEGIN "
                    "RAISE EXCEPTION 'the event log is append-only'; END $$"
                )
                conn.exec_driver_sql(
                    "DO $$ BEGIN "
                    "IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'events_no_edit') THEN "
                    "CREATE TRIGGER events_no_edit BEFORE UPDATE OR DELETE OR TRUNCATE ON events "
                    "FOR EACH STATEMENT EXECUTE FUNCTION sipdash_append_only(); END IF; END $$"
                )

    def _chain_columns_missing(self, conn: Connection) -> list[str]:
        if self.sqlite:
            have = {r[1] for r in conn.exec_driver_sql("PRAGMA table_info(events)")}
        else:
            have = {
                r[0]
                for r in conn.exec_driver_sql(
                    "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass('events') "
                    "AND attnum > 0 AND NOT attisdropped"
                )
            }
        return [c for c in _CHAIN_EXTRA if c not in have]

    def _add_chain_columns(self, conn: Connection) -> None:
        """Migration (inside the serialised schema transaction, so concurrent first runs add
        each column once): a log from before hash versions gets ``hash_version`` = 1 on every
        existing row (their hashes stay as they are) and an empty ``hmac``."""
        for name in self._chain_columns_missing(conn):
            kind = "INTEGER NOT NULL DEFAULT 1" if name == "hash_version" else "TEXT"
            conn.exec_driver_sql(f"ALTER TABLE events ADD COLUMN {name} {kind}")

    def _schema_ready(self) -> bool:
        with self.engine.connect() as conn:
            if self.sqlite:
                found = conn.exec_driver_sql(
                    "SELECT COUNT(*) FROM sqlite_master WHERE (type = 'table' AND name = 'events') "
                    "OR (type = 'trigger' AND name IN ('events_no_update', 'events_no_delete'))"
                ).scalar_one()
                ready = found == 3
            else:
                ready = bool(
                    conn.exec_driver_sql(
                        "SELECT to_regclass('events') IS NOT NULL AND EXISTS "
                        "(SELECT 1 FROM pg_trigger WHERE tgname = 'events_no_edit')"
                    ).scalar_one()
                )
            return ready and not self._chain_columns_missing(conn)

    # -- writing --

    def append(
        self,
        events: Sequence[NewEvent],
        expected_version: int | dict[str, int] | None = None,
        *,
        metadata: dict[str, Any] | None = None,
    ) -> AppendResult:
        """Append ``events`` as one atomic batch.

        ``expected_version`` is the version the stream must be at (0 = a new stream); with a
        batch over several streams pass a ``{stream_id: version}`` dict. Raises
        :class:`VersionConflict` when a stream moved on.
        """
        metadata = self._with_key_mark(metadata)
        prepared = [_prepare(e, metadata) for e in events]
        if isinstance(expected_version, int):
            streams = {p.stream_id for p in prepared}
            if len(streams) > 1:
                raise ValueError("an int expected_version needs a batch on one stream")
            expected_version = dict.fromkeys(streams, expected_version)
        with self._write() as conn:
            return self._append_in(conn, prepared, expected_version, history=False)

    def append_many(
        self,
        events: Iterable[NewEvent],
        *,
        batch_size: int = 20_000,
        atomic: bool = False,
        history: bool = False,
        metadata: dict[str, Any] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> AppendResult:
        """The bulk path (seed, import, restore): many events, few transactions.

        ``atomic=True`` puts everything in one transaction (an import is all-or-nothing);
        otherwise each batch is one transaction, so a crash leaves whole batches only.
        ``history=True`` accepts explicit ``recorded_at`` values, and only into an empty log.
        """
        appended = skipped = 0
        head = self.head()
        if history and head.position:
            raise HistoryNotAllowed(
                "history (explicit recorded_at) can only be loaded into an empty log; "
                f"this one already holds {head.position} events"
            )

        metadata = self._with_key_mark(metadata)
        default_json = canonical_json(metadata or {})

        def batches() -> Iterator[list[_Prepared]]:
            batch: list[_Prepared] = []
            stamps: dict[Any, str] = {}  # per batch, so it stays small
            for e in events:
                batch.append(_prepare(e, metadata, default_json, stamps))
                if len(batch) >= batch_size:
                    yield batch
                    batch = []
                    stamps = {}
            if batch:
                yield batch

        if atomic:
            with self._write() as conn:
                for batch in batches():
                    r = self._append_in(conn, batch, None, history=history)
                    appended, skipped, head = appended + r.appended, skipped + r.skipped, r.head
                    if progress:
                        progress(len(batch))
        else:
            for batch in batches():
                with self._write() as conn:
                    r = self._append_in(conn, batch, None, history=history)
                appended, skipped, head = appended + r.appended, skipped + r.skipped, r.head
                if progress:
                    progress(len(batch))
        return AppendResult(appended, skipped, head)

    @contextmanager
    def begin_write(self) -> Iterator[Connection]:
        """A write transaction holding the append lock, for restore (``load_rows_in``)."""
        with self._write() as conn:
            yield conn

    def _write(self) -> AbstractContextManager[Connection]:
        """A write transaction holding the append lock (``events.sql.locked_write``)."""
        return locked_write(self.engine, Lock.APPEND)

    def _append_in(  # noqa: C901 - the next to split (ADR 0006)
        self,
        conn,
        prepared: list[_Prepared],
        expected: dict[str, int] | None,
        *,
        history: bool,
    ) -> AppendResult:
        head, head_mac, head_keyed = self._head_row(conn)
        empty = head.position == 0
        key = self.log_key
        if key is None and (head_mac is not None or head_keyed):
            raise LogKeyRequired(
                f"this log is keyed ({chain.LOG_KEY_ENV}): appending needs the log key, "
                "otherwise the new rows would carry no HMAC and verify would report them as "
                "forged; set SIPDASH_LOG_KEY"
            )
        if key is not None and head_mac is not None and chain.row_mac(key, head.hash) != head_mac:
            raise WrongLogKey(
                f"{chain.LOG_KEY_ENV} is not the key this log is keyed with (the newest row's "
                "HMAC does not match); nothing was appended"
            )
        # Idempotency: drop events already stored with the same content; refuse different content.
        seen: dict[str, _Prepared] = {}
        fresh: list[_Prepared] = []
        for p in prepared:
            twin = seen.get(p.event_id)
            if twin is not None:
                _same_content_or_raise(p.event_id, twin.stream_id, twin.type, twin.payload_json, p)
                continue
            seen[p.event_id] = p
            fresh.append(p)
        stored, versions = ({}, {}) if empty else self._stored_and_versions(conn, seen, expected)
        if stored:
            kept = []
            for p in fresh:
                s = stored.get(p.event_id)
                if s is None:
                    kept.append(p)
                else:
                    _same_content_or_raise(p.event_id, *s, p)
            fresh = kept
        skipped = len(prepared) - len(fresh)
        for stream_id, want in (expected or {}).items():
            have = versions.get(stream_id, 0)
            if have != want:
                raise VersionConflict(stream_id, want, have)
        if not fresh:
            return AppendResult(0, skipped, head)
        now = format_ts(utc_now())
        prev_hash, prev_rec, position = head.hash, head.recorded_at or "", head.position
        rows: list[tuple[Any, ...]] = []  # CHAIN_COLUMNS order; keyed mode adds the HMAC
        for p in fresh:
            if p.recorded_at is not None:
                if not history:
                    raise HistoryNotAllowed(
                        "an explicit recorded_at is only accepted when loading history "
                        "into an empty log"
                    )
                if p.recorded_at < prev_rec:
                    raise HistoryNotAllowed(
                        f"event {p.event_id}: recorded_at {p.recorded_at} is earlier than "
                        f"the previous event's {prev_rec}; history must be loaded in order"
                    )
                rec = p.recorded_at
            else:
                rec = now if now >= prev_rec else prev_rec
            version = versions.get(p.stream_id, 0) + 1
            versions[p.stream_id] = version
            position += 1
            eid, sid, typ, sver = p.event_id, p.stream_id, p.type, p.schema_version
            occ, payload, meta = p.occurred_at, p.payload_json, p.metadata_json
            # the fields spelled out (not a tuple unpacked twice): this runs once per event
            digest = row_hash(prev_hash, eid, sid, version, typ, sver, occ, rec, payload, meta)
            if key is None:
                rows.append(
                    (position, eid, sid, version, typ, sver, occ, rec, payload, meta, digest)
                )
            else:
                mac = chain.row_mac(key, digest)
                rows.append(
                    (position, eid, sid, version, typ, sver, occ, rec, payload, meta, digest, mac)
                )
            prev_hash, prev_rec = digest, rec
        if self.sqlite or len(rows) < _COPY_FROM:
            raw_executemany(
                conn, "events", self._append_columns, rows, constants={"hash_version": HASH_VERSION}
            )
        else:
            self._copy_rows(conn, rows)
        return AppendResult(len(rows), skipped, Head(position, prev_hash, prev_rec))

    def _copy_rows(self, conn: Connection, rows: list[tuple]) -> None:
        """PostgreSQL: the rows of :meth:`_append_in` through ``COPY … FROM STDIN`` on the
        transaction's own connection (under the append lock), about twice as fast as a
        pipelined ``executemany`` for a bulk batch (``bench/pg_append_bench.py``). Only the
        append path uses it; a failed COPY aborts the transaction like a failed INSERT."""
        columns = ", ".join((*self._append_columns, "hash_version"))
        version = HASH_VERSION
        with driver_cursor(conn) as cur, cur.copy(f"COPY events ({columns}) FROM STDIN") as copy:
            write = copy.write_row
            for row in rows:
                write((*row, version))

    def load_verified_rows(
        self, rows: Iterable[tuple], progress: Callable[[int], None] | None = None
    ) -> int:
        """Insert complete rows (``CHAIN_COLUMNS`` order) whose chain the caller checks, into
        an empty log, in one transaction. Used by restore; the chain is checked again after."""
        with self._write() as conn:
            return self.load_rows_in(conn, rows, progress)

    def load_rows_in(
        self, conn: Connection, rows: Iterable[tuple], progress: Callable[[int], None] | None = None
    ) -> int:
        """:meth:`load_verified_rows` inside the caller's write transaction (``begin_write``),
        so that a restore can commit the pseudonym mapping in the same transaction."""
        if self._head_in(conn).position:
            raise HistoryNotAllowed("rows can only be loaded into an empty log")
        n = 0
        batch: list[tuple] = []
        for row in rows:
            batch.append(tuple(row))
            if len(batch) >= 20_000:
                raw_executemany(conn, "events", _CHAIN_COLUMN_NAMES, batch)
                n += len(batch)
                if progress:
                    progress(len(batch))
                batch = []
        if batch:
            raw_executemany(conn, "events", _CHAIN_COLUMN_NAMES, batch)
            n += len(batch)
            if progress:
                progress(len(batch))
        return n

    def _stored_and_versions(
        self, conn: Connection, seen: dict[str, _Prepared], expected: dict[str, int] | None
    ) -> tuple[dict[str, tuple[str, str, str]], dict[str, int]]:
        """The append's two checks in ONE raw statement (``events.sql.raw_fetchall``): the
        stored ``(stream_id, type, payload)`` of every id in ``seen`` that is already in the
        log (duplicates), and the current version of every stream the batch touches or
        ``expected`` names. Asking for the streams of every id, duplicates included, is a
        superset of what the checks need and changes no answer. A single append paid three
        SQLAlchemy round trips here (head, ids, versions); this is one driver call."""
        ids = list(seen)
        streams = sorted({p.stream_id for p in seen.values()} | set(expected or {}))
        if len(ids) <= _LISTED and len(streams) <= _LISTED:
            # "IN (NULL)" matches nothing: an empty batch with an expected version only
            in_ids, in_streams = (f"IN ({marks(conn, len(v)) or 'NULL'})" for v in (ids, streams))
            params: tuple[Any, ...] = (*ids, *streams)
        else:  # the bulk path: each whole list as one parameter (events.sql.any_of)
            in_ids = in_streams = any_of(conn)
            params = (any_of_value(conn, ids), any_of_value(conn, streams))
        rows = raw_fetchall(
            conn,
            f"SELECT event_id, stream_id, type, payload FROM events WHERE event_id {in_ids} "
            "UNION ALL SELECT NULL, stream_id, CAST(MAX(stream_version) AS TEXT), NULL "
            f"FROM events WHERE stream_id {in_streams} GROUP BY stream_id",
            params,
        )
        stored: dict[str, tuple[str, str, str]] = {}
        versions: dict[str, int] = {}
        for eid, sid, typ, payload in rows:
            if eid is None:
                versions[sid] = int(typ)
            else:
                stored[eid] = (sid, typ, payload)
        return stored, versions

    def _stream_versions(self, conn, streams: Iterable[str]) -> dict[str, int]:
        streams = sorted(streams)
        if not streams:
            return {}
        rows = conn.execute(
            sql(
                "SELECT stream_id, MAX(stream_version) FROM events "
                f"WHERE stream_id {any_of(conn, 'streams')} GROUP BY stream_id"
            ),
            {"streams": any_of_value(conn, streams)},
        )
        return {sid: int(v) for sid, v in rows}

    # -- reading --

    def _with_key_mark(self, metadata: dict[str, Any] | None) -> dict[str, Any] | None:
        """In keyed mode, the metadata every new row carries says so (``chain.KEYED_FIELD``):
        it is hashed into the chain, so the row's HMAC cannot be dropped unnoticed."""
        if self.log_key is None:
            return metadata
        return {**(metadata or {}), chain.KEYED_FIELD: True}

    def _head_row(self, conn) -> tuple[Head, str | None, bool]:
        """The head, its row's HMAC (None: the log is not keyed, or is empty) and whether its
        hashed metadata says it was appended with the log key. Raw DBAPI: every append
        starts here."""
        rows = raw_fetchall(
            conn,
            "SELECT position, hash, recorded_at, hmac, metadata FROM events "
            "ORDER BY position DESC LIMIT 1",
        )
        row = rows[0] if rows else None
        if row is None:
            return Head(0, GENESIS_HASH, None), None, False
        return Head(int(row[0]), row[1], row[2]), row[3], chain.says_keyed(row[4])

    def _head_in(self, conn, as_of: str | None = None) -> Head:
        if as_of is None:
            row = conn.exec_driver_sql(
                "SELECT position, hash, recorded_at FROM events ORDER BY position DESC LIMIT 1"
            ).first()
        else:
            row = conn.execute(
                sql(
                    # recorded_at never decreases along position, so the last by
                    # (recorded_at, position) is the last by position, and it is found on
                    # ix_events_recorded_at (ORDER BY position alone scanned the whole log
                    # backwards when the cutoff is older than every event: 1.4 s at 1M)
                    "SELECT position, hash, recorded_at FROM events WHERE recorded_at <= :as_of "
                    "ORDER BY recorded_at DESC, position DESC LIMIT 1"
                ),
                {"as_of": as_of},
            ).first()
        if row is None:
            return Head(0, GENESIS_HASH, None)
        return Head(int(row[0]), row[1], row[2])

    def head(self, as_of: datetime | None = None) -> Head:
        """The newest event's position and hash (as of a recorded-at cutoff, if given)."""
        with self.engine.connect() as conn:
            return self._head_in(conn, format_ts(as_of) if as_of else None)

    def is_empty(self) -> bool:
        return self.head().position == 0

    def stream_version(self, stream_id: str) -> int:
        with self.engine.connect() as conn:
            return self._stream_versions(conn, [stream_id]).get(stream_id, 0)

    def read_all(
        self,
        after: int = 0,
        limit: int | None = None,
        *,
        types: Sequence[str] | None = None,
        as_of: datetime | None = None,
        batch_size: int = 5_000,
        upcasted: bool = True,
    ) -> Iterator[RecordedEvent]:
        """Events with ``position > after`` in position order, fetched in batches."""
        for row in self.read_rows(after, limit, types=types, as_of=as_of, batch_size=batch_size):
            yield self._decode(row, upcasted)

    def read_rows(
        self,
        after: int = 0,
        limit: int | None = None,
        *,
        types: Sequence[str] | None = None,
        as_of: datetime | None = None,
        batch_size: int = 5_000,
    ) -> Iterator[tuple]:
        """Raw rows (``COLUMNS`` order) for readers that decode only what they need.

        Raw DBAPI (``events.sql.raw_fetchall``): the event log page reads 50 rows a view, and
        SQLAlchemy's statement and ``Row`` layers cost more than the read itself."""
        engine = self.engine
        one = mark(engine)
        where = [f"position > {one}"]
        fixed: list[Any] = []
        if types:
            where.append(f"type IN ({marks(engine, len(types))})")
            fixed.extend(types)
        if as_of is not None:
            where.append(f"recorded_at <= {one}")
            fixed.append(format_ts(as_of))
        statement = (
            f"SELECT {COLUMNS} FROM events WHERE {' AND '.join(where)} ORDER BY position "
            f"LIMIT {one}"
        )
        remaining = limit
        cursor = after
        while remaining is None or remaining > 0:
            n = batch_size if remaining is None else min(batch_size, remaining)
            with engine.connect() as conn:
                rows = raw_fetchall(conn, statement, (cursor, *fixed, n))
            if not rows:
                return
            yield from rows
            cursor = rows[-1][0]
            if remaining is not None:
                remaining -= len(rows)
            if len(rows) < n:
                return

    def rows_after(
        self,
        conn: Connection,
        after: int,
        limit: int,
        metadata_of: Iterable[str] = (),
        payload_not_for: tuple[str, int] | None = None,
    ) -> list[tuple]:
        """For projectors, inside their own transaction: ``(position, type, schema_version,
        payload, metadata, recorded_at)`` for the next ``limit`` events; ``metadata`` only for
        the types in ``metadata_of`` (None for the rest: most folds never read it); ``payload``
        None for the events of ``payload_not_for`` = (type, schema version), which the
        projector folds in SQL from the log itself."""
        types = sorted(metadata_of)
        one = marks(conn, 1)
        meta = (
            f"CASE WHEN type IN ({marks(conn, len(types))}) THEN metadata END" if types else "NULL"
        )
        payload = "payload"
        skipped: tuple = ()
        if payload_not_for is not None:
            payload = (
                f"CASE WHEN type = {one} AND schema_version = {one} THEN NULL ELSE payload END"
            )
            skipped = payload_not_for
        # a projector reads millions of rows: plain tuples (raw DBAPI, events.sql) cost a third
        # of SQLAlchemy's Rows
        return raw_fetchall(
            conn,
            f"SELECT position, type, schema_version, {payload}, {meta}, recorded_at "
            f"FROM events WHERE position > {one} ORDER BY position LIMIT {one}",
            (*skipped, *types, after, limit),
        )

    def payloads_at(self, conn: Connection, positions: Sequence[int]) -> dict[int, str]:
        """The stored payload text of the events at ``positions`` (for a projector that asked
        :meth:`rows_after` to leave some out and then needs them after all)."""
        rows = raw_fetchall(
            conn,
            f"SELECT position, payload FROM events WHERE position {any_of(conn)}",
            (any_of_value(conn, positions),),
        )
        return {int(p): text for p, text in rows}

    def read_stream(self, stream_id: str, as_of: datetime | None = None) -> list[RecordedEvent]:
        statement = f"SELECT {COLUMNS} FROM events WHERE stream_id = :stream_id"
        params: dict[str, Any] = {"stream_id": stream_id}
        if as_of is not None:
            statement += " AND recorded_at <= :as_of"
            params["as_of"] = format_ts(as_of)
        with self.engine.connect() as conn:
            rows = conn.execute(sql(statement + " ORDER BY stream_version"), params).fetchall()
        return [self._decode(r, True) for r in rows]

    @staticmethod
    def _decode(row: tuple, upcasted: bool) -> RecordedEvent:
        payload = json.loads(row[8])
        if upcasted:
            payload = upcast(row[4], int(row[5]), payload)
        return RecordedEvent(
            position=int(row[0]),
            event_id=row[1],
            stream_id=row[2],
            stream_version=int(row[3]),
            type=row[4],
            schema_version=int(row[5]),
            occurred_at=row[6],
            recorded_at=row[7],
            payload=payload,
            metadata=json.loads(row[9]),
            hash=row[10],
        )

    # -- integrity --

    @contextmanager
    def snapshot(self) -> Iterator[Connection]:
        """One read transaction that sees one state of the database throughout, whatever
        other processes append meanwhile (SQLite: one WAL read transaction; PostgreSQL:
        REPEATABLE READ, READ ONLY). Backup and verify read everything through one."""
        with self.engine.connect() as conn:
            if not self.sqlite:
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                if not self.sqlite:
                    conn.exec_driver_sql("SET TRANSACTION READ ONLY")
                yield conn

    def chain_rows(self, conn: Connection, batch_size: int = 20_000) -> Iterator[tuple]:
        """Every row in ``CHAIN_COLUMNS`` order, in position order, read through ``conn``
        (a :meth:`snapshot`)."""
        statement = sql(
            f"SELECT {CHAIN_COLUMNS} FROM events WHERE position > :after ORDER BY position LIMIT :n"
        )
        cursor = 0
        while True:
            rows = conn.execute(statement, {"after": cursor, "n": batch_size}).fetchall()
            yield from rows
            if len(rows) < batch_size:
                return
            cursor = rows[-1][0]

    def verify(
        self,
        expect_head: str | None = None,
        *,
        progress: Callable[[int], None] | None = None,
    ) -> VerifyResult:
        """Recompute the hash chain from the first row; report the first position that is off.

        ``expect_head`` is a head hash published earlier (the full hash or a prefix of at
        least 12 hex digits, any case; ``ValueError`` otherwise): if it is no longer on the
        chain, rows were removed or rewritten behind it. With the store's log key, every keyed
        row's HMAC is checked; without it, keyed rows are reported as not checked.
        """
        checker = ChainChecker(
            key=self.log_key,
            expect_head=chain.parse_expected_head(expect_head) if expect_head else None,
        )
        try:
            with self.snapshot() as conn:
                for row in self.chain_rows(conn):
                    checker.check(row)
                    if progress and checker.count % 20_000 == 0:
                        progress(20_000)
            checker.finish()
        except ChainError as exc:
            return VerifyResult(False, checker.count, checker.prev_hash, exc.position, exc.problem)
        return VerifyResult(True, checker.count, checker.prev_hash, notes=tuple(checker.notes()))

    def dispose(self) -> None:
        self.engine.dispose()


def _same_content_or_raise(event_id: str, stream_id: str, type_name: str, payload: str, p) -> None:
    if stream_id != p.stream_id:
        raise DuplicateEventConflict(event_id, "stream")
    if type_name != p.type:
        raise DuplicateEventConflict(event_id, "type")
    if payload != p.payload_json:
        raise DuplicateEventConflict(event_id, "payload")
