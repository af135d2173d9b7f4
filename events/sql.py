"""One way to speak SQL in ``events/`` and ``audit/`` (issue #12, ADR 0006).

Why this module exists: sipdash runs on SQLite and PostgreSQL, whose drivers spell a bound
parameter differently (``?`` and ``%s``). Code that hand-built SQL for the driver switched on
the dialect at every call site, chunked every ``IN`` list by hand and took "the write lock" in
four slightly different ways. Here is the one way instead:

* **Ordinary SQL** is SQLAlchemy :func:`text` with named binds (``:team_id``), so one string
  runs on both backends and SQLAlchemy renders the driver's placeholders. ``IN`` lists are
  expanding binds (:func:`in_list`, or ``sql(..., expanding=("ids",))``): one bind that takes a
  list. :func:`select_in` is the ONE place that splits a list too long for the backend's bind
  limit (SQLite builds differ: 999, 32,766 or 250,000; PostgreSQL's wire protocol: 65,535).
  Bulk paths whose lists have no bound bind the whole list as one parameter (:func:`any_of`).
* **Writes that must not interleave** go through :func:`locked_write`: one transaction that
  holds the write lock from its first statement (SQLite: ``BEGIN IMMEDIATE``, the database's
  single writer lock; PostgreSQL: a transaction-scoped advisory lock named by :class:`Lock`).
* **The measured hot paths** (bulk append and restore in ``events/store.py``, the projector's
  catch-up read ``EventStore.rows_after`` and its inserts in ``audit/projections.py``) keep raw
  DBAPI cursors — SQLAlchemy's per-row parameter and result processing costs a third or more
  there. :func:`mark` / :func:`marks` are the single place that knows the driver's
  paramstyle; nothing else writes ``?`` or ``%s``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from enum import IntEnum
from functools import lru_cache
from typing import Any, TypeAlias

from sqlalchemy import Connection, Engine, String, bindparam, text
from sqlalchemy.engine import Row
from sqlalchemy.sql.elements import BindParameter, TextClause
from sqlalchemy.types import TypeEngine

#: A result row of any width (SQLAlchemy types a row by the tuple of its columns).
AnyRow: TypeAlias = Row[*tuple[Any, ...]]

#: PostgreSQL's wire protocol counts bound parameters in 16 bits.
PG_BIND_LIMIT = 65_535
#: SQLite's compiled-in default before 3.32 (the smallest limit a build may have).
SQLITE_SAFE_BIND_LIMIT = 999


class Lock(IntEnum):
    """The write locks, by what they serialise. On PostgreSQL each is its own advisory lock
    (these are the keys, unchanged from earlier versions so that old and new processes still
    exclude each other); SQLite has one writer lock for the whole file, so any of them takes it.
    """

    SCHEMA = 0x5_1B_DA_53  # creating or re-laying tables
    APPEND = 0x5_1B_DA_54  # appending to (or restoring) the event log: positions in commit order
    PROJECTION = 0x5_1B_DA_55  # folding events into the read models
    PSEUDONYMS = 0x5_1B_DA_56  # reading-then-writing the patient token mapping


# --- text() with named and expanding binds ---------------------------------------------------


def in_list(
    name: str, type_: TypeEngine[Any] | type[TypeEngine[Any]] = String
) -> BindParameter[Any]:
    """An expanding bind: ``WHERE id IN :ids`` takes a list. The element type matters for an
    empty list only: PostgreSQL compares the column with a typed empty set, and an untyped one
    (SQLAlchemy's default: INTEGER) fails on a text column. Text unless said otherwise."""
    return bindparam(name, expanding=True, type_=type_)


def sql(
    statement: str,
    *,
    expanding: Iterable[str] | Mapping[str, TypeEngine[Any] | type[TypeEngine[Any]]] = (),
) -> TextClause:
    """``text(statement)`` with the named binds in ``expanding`` taking lists (``IN :ids``):
    names (text elements) or a mapping from name to element type (``{"positions": Integer}``).

    Write ``IN :ids`` without parentheses: SQLAlchemy renders them with the list."""
    clause = text(statement)
    types = dict(expanding) if isinstance(expanding, Mapping) else dict.fromkeys(expanding, String)
    return clause.bindparams(*(in_list(n, t) for n, t in types.items())) if types else clause


def bind_limit(conn: Connection) -> int:
    """How many parameters one statement on ``conn`` may bind."""
    if conn.dialect.name == "sqlite":
        raw = driver_connection(conn)
        try:
            return int(raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
        except (AttributeError, sqlite3.Error):  # pragma: no cover - Python < 3.11
            return SQLITE_SAFE_BIND_LIMIT
    return PG_BIND_LIMIT


def select_in(
    conn: Connection,
    statement: str | TextClause,
    name: str,
    values: Iterable[Any],
    *,
    type_: TypeEngine[Any] | type[TypeEngine[Any]] = String,
    **params: Any,
) -> list[AnyRow]:
    """Rows of ``statement`` whose expanding bind ``name`` (``IN :name``) takes ``values``,
    split into as few statements as the backend's bind limit allows (usually one). Values are
    de-duplicated; the other binds in ``params`` are repeated in each statement. The one place
    that chunks an ``IN`` list: a caller never needs to know SQLite's limit."""
    clause = sql(statement, expanding={name: type_}) if isinstance(statement, str) else statement
    unique = list(dict.fromkeys(values))
    if not unique:
        return []
    size = max(1, bind_limit(conn) - len(params))
    out: list[AnyRow] = []
    for i in range(0, len(unique), size):
        out.extend(conn.execute(clause, {**params, name: unique[i : i + size]}).fetchall())
    return out


def any_of(conn: Connection, name: str | None = None) -> str:
    """A membership test against a whole list bound as ONE parameter ``:name`` (pass
    :func:`any_of_value`): ``= ANY(:name)`` over an array on PostgreSQL, ``IN (SELECT value
    FROM json_each(:name))`` on SQLite. For the bulk paths whose lists have no bound (the
    append's duplicate and version checks over a 100,000-event batch): one statement, no bind
    limit, no per-element placeholders to render. Bounded lists use ``IN :name`` (above).
    Without ``name``: the driver's positional placeholder (:func:`mark`), for raw DBAPI SQL on
    a measured hot path."""
    bind = f":{name}" if name is not None else mark(conn)
    if conn.dialect.name == "sqlite":
        return f"IN (SELECT value FROM json_each({bind}))"
    return f"= ANY({bind})"


def any_of_value(conn: Connection, values: Iterable[Any]) -> Any:
    """The one parameter of :func:`any_of`: a JSON array (SQLite) or a list (an array)."""
    if conn.dialect.name == "sqlite":
        return json.dumps(list(values))
    return list(values)


# --- the one locked write --------------------------------------------------------------------


def take_lock(conn: Connection, lock: Lock) -> None:
    """Inside a transaction already begun: on PostgreSQL wait for ``lock`` (released at commit
    or rollback). SQLite: nothing — a :func:`locked_write` already holds its writer lock."""
    if conn.dialect.name != "sqlite":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": int(lock)})


@contextmanager
def locked_write(engine: Engine, lock: Lock, *, durable: bool = True) -> Iterator[Connection]:
    """One write transaction that holds ``lock`` from its first statement to its commit.

    SQLite: ``BEGIN IMMEDIATE`` (``events.db.make_engine`` lets us choose the BEGIN), so the
    transaction owns the file's single writer lock before it reads anything; a read-then-write
    transaction begun DEFERRED would fail on its stale snapshot when another writer got in
    first. PostgreSQL: ``pg_advisory_xact_lock(lock)``, so writers of the same kind queue in
    order while readers and other kinds of writer proceed. Commits on a normal exit, rolls
    back (releasing the lock) on an exception.

    ``durable=False`` is for writes derived from the log (the projector's read models): the
    commit does not wait for fsync (SQLite: ``synchronous=NORMAL`` in WAL mode for this
    transaction, FULL again before the connection goes back to the pool and can carry an
    append; PostgreSQL: ``SET LOCAL synchronous_commit = off``). A power cut can lose the last
    few such commits, never half of one, and they are re-derived from the log."""
    with engine.connect() as conn:
        sqlite = engine.dialect.name == "sqlite"
        raw = driver_connection(conn) if sqlite and not durable else None
        if sqlite:
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        if raw is not None:  # outside any transaction: SQLite refuses it inside one
            raw.execute("PRAGMA synchronous=NORMAL")
        try:
            with conn.begin():
                take_lock(conn, lock)
                if not durable and not sqlite:
                    conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
                yield conn
        finally:
            if raw is not None:
                raw.execute("PRAGMA synchronous=FULL")


# --- raw DBAPI for the measured hot paths only -----------------------------------------------


#: PEP 249 positional paramstyles of the drivers sipdash runs on (sqlite3, psycopg).
_MARK_OF_PARAMSTYLE = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def _paramstyle(bind: Engine | Connection) -> str:
    return str(bind.dialect.dbapi.paramstyle) if bind.dialect.dbapi else "qmark"


def mark(bind: Engine | Connection) -> str:
    """The driver's positional placeholder: ``?`` (sqlite3) or ``%s`` (psycopg). Only for raw
    DBAPI SQL on a hot path; everything else uses :func:`sql` with named binds."""
    return _MARK_OF_PARAMSTYLE[_paramstyle(bind)]


def marks(bind: Engine | Connection, n: int) -> str:
    """``n`` placeholders joined by commas, for a raw ``VALUES (...)`` or ``IN (...)``."""
    return ", ".join([mark(bind)] * n)


@lru_cache(maxsize=256)
def _insert_sql(
    placeholder: str, table: str, columns: tuple[str, ...], constants: tuple[tuple[str, int], ...]
) -> str:
    names = ", ".join((*columns, *(c for c, _ in constants)))
    values = ", ".join((*([placeholder] * len(columns)), *(str(int(v)) for _, v in constants)))
    return f"INSERT INTO {table} ({names}) VALUES ({values})"


def insert_sql(
    bind: Engine | Connection,
    table: str,
    columns: Sequence[str],
    constants: Mapping[str, int] | None = None,
) -> str:
    """The raw ``INSERT`` that :func:`raw_executemany` runs. ``constants`` are integer columns
    written as literals, so a bulk path binds no more parameters per row than it must."""
    return _insert_sql(mark(bind), table, tuple(columns), tuple(sorted((constants or {}).items())))


def driver_connection(conn: Connection) -> Any:
    """The driver's own connection under ``conn`` (sqlite3 or psycopg), for the raw paths.
    SQLAlchemy types it as optional: it is None only once the connection is closed."""
    raw = conn.connection.driver_connection
    if raw is None:
        raise RuntimeError("the database connection is closed")
    return raw


def raw_executemany(
    conn: Connection,
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    constants: Mapping[str, int] | None = None,
) -> None:
    """Insert ``rows`` (tuples in ``columns`` order) through the DBAPI cursor of ``conn``,
    inside its current transaction: plain tuples, none of SQLAlchemy's per-row processing.
    Only the bulk append and the projector use it (they were measured; see
    docs/performance.md). ``table`` and ``columns`` are code, never input."""
    if not rows:
        return
    statement = insert_sql(conn, table, columns, constants)
    cur = driver_connection(conn).cursor()
    try:
        cur.executemany(statement, rows)
    finally:
        cur.close()


def raw_fetchall(conn: Connection, statement: str, params: Sequence[Any] = ()) -> list[tuple]:
    """Plain tuples of a raw statement written with :func:`marks`, through the DBAPI cursor
    of ``conn`` (the projector's catch-up read: millions of rows)."""
    cur = driver_connection(conn).cursor()
    try:
        cur.execute(statement, tuple(params))
        return cur.fetchall()
    finally:
        cur.close()
