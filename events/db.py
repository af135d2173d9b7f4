"""How an engine is made for a database URL, and how tables are created under a lock.

Which URL to use is decided by :func:`audit.bootstrap.load_settings` (the one composition root,
shared by the CLI and the dashboard: argument, environment, ``secrets.toml``). :func:`resolve_url`
reads only the argument and the environment; it is not the composition root.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from .sql import Lock, driver_connection, locked_write, take_lock

DEFAULT_URL = "sqlite:///sipdash.db"
ENV_VAR = "SIPDASH_DATABASE_URL"


def resolve_url(explicit: str | None = None) -> str:
    """``--db`` if given, else ``SIPDASH_DATABASE_URL``, else ``sqlite:///sipdash.db``."""
    url = explicit or os.environ.get(ENV_VAR) or DEFAULT_URL
    return normalise_url(url)


def normalise_url(url: str) -> str:
    """Read a plain ``postgresql://`` URL as psycopg 3 (``postgresql+psycopg://``)."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    if url.startswith("postgres://"):
        return "postgresql+psycopg://" + url[len("postgres://") :]
    return url


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def display_url(url: str) -> str:
    """The URL as it may be shown in a message: any password hidden."""
    return make_url(normalise_url(url)).render_as_string(hide_password=True)


def sqlite_path(url: str) -> str | None:
    """The file of a SQLite URL (None for an in-memory database)."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return database


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot name a sipdash database, as one sentence, or None: not a URL, a
    backend other than SQLite or PostgreSQL, or a SQLite file whose folder does not exist.
    Opens nothing."""
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(normalise_url(url))
    except ArgumentError:
        return (
            "the database URL is not a URL sipdash can read "
            "(expected sqlite:///FILE.db or postgresql://user@host/db)"
        )
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        return (
            f"{parsed.render_as_string(hide_password=True)}: sipdash keeps its log in SQLite or "
            f"PostgreSQL (sqlite:///FILE.db or postgresql://user@host/db), not {backend!r}"
        )
    path = sqlite_path(str(parsed)) if backend == "sqlite" else None
    if path is not None and not path.startswith("file:"):
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            return f"database file {path}: the folder {folder} does not exist"
    return None


def missing_database(url: str) -> str | None:
    """Why ``url`` holds no sipdash database, or None when it does. Creates nothing: a SQLite
    file that does not exist is not opened (opening would create it), an existing file is
    opened read-only; on PostgreSQL "does not exist" means no sipdash ``events`` table (or a
    server that refuses the connection)."""
    url = normalise_url(url)
    if is_sqlite(url):
        path = sqlite_path(url)
        if path is None:
            return None
        if not os.path.exists(path):
            return f"database file {path} does not exist"
        try:
            db = sqlite3.connect(f"file:{quote(os.path.abspath(path))}?mode=ro", uri=True)
            try:
                found = db.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'events'"
                ).fetchone()
            finally:
                db.close()
        except sqlite3.Error as exc:
            return f"{path} is not a readable SQLite database ({exc})"
        return None if found else f"{path} holds no sipdash event log (no events table)"
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            found = conn.exec_driver_sql("SELECT to_regclass('events') IS NOT NULL").scalar_one()
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        return f"cannot open {display_url(url)}: {reason}"
    finally:
        engine.dispose()
    return None if found else f"{display_url(url)} holds no sipdash tables"


def make_engine(url: str) -> Engine:
    """An engine with the durability settings the log promises.

    SQLite: WAL journal, ``synchronous=FULL`` (an acknowledged append survives power loss),
    and transactions begun by us so that writers can take the lock up front
    (``BEGIN IMMEDIATE``) instead of failing on upgrade.
    """
    url = normalise_url(url)
    if is_sqlite(url):
        engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):  # pragma: no cover - trivial
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn):  # pragma: no cover - trivial
            mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
            conn.exec_driver_sql(f"BEGIN {mode}")

        return engine
    return create_engine(url, pool_pre_ping=True)


@contextmanager
def driver_cursor(conn: Connection) -> Iterator[Any]:
    """The DBAPI cursor of ``conn``'s own connection, inside its current transaction. For the
    bulk paths (projector reads and inserts of millions of rows): plain tuples in and out,
    without SQLAlchemy's per-row result and parameter processing."""
    cur = driver_connection(conn).cursor()
    try:
        yield cur
    finally:
        cur.close()


def tables_missing(engine: Engine | Connection, names: Iterable[str]) -> bool:
    """True when any of the tables does not exist yet (a read; takes no lock)."""
    return not set(names) <= set(inspect(engine).get_table_names())


def lock_schema(conn: Connection) -> None:
    """Inside a transaction on PostgreSQL: wait for any other process changing the schema."""
    take_lock(conn, Lock.SCHEMA)


@contextmanager
def schema_transaction(engine: Engine) -> Iterator[Connection]:
    """One transaction for creating tables, serialised across processes
    (``events.sql.locked_write`` with the schema lock), so that commands started at once on a
    fresh database do not trip over each other's ``CREATE``."""
    with locked_write(engine, Lock.SCHEMA) as conn:
        yield conn
