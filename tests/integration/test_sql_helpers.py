"""events.sql: the one way to speak SQL, on a real SQLite file and a real PostgreSQL server."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from sqlalchemy import Engine, Integer, text

from events.db import make_engine
from events.sql import (
    Lock,
    bind_limit,
    locked_write,
    mark,
    marks,
    raw_executemany,
    raw_fetchall,
    select_in,
    sql,
)


@pytest.fixture
def engine(db_url: str) -> Engine:
    eng = make_engine(db_url)
    with eng.begin() as conn:
        conn.execute(text("CREATE TABLE things (id TEXT PRIMARY KEY, n INTEGER NOT NULL)"))
    yield eng
    eng.dispose()


def _fill(engine: Engine, count: int) -> list[str]:
    ids = [f"id-{i:05d}" for i in range(count)]
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO things (id, n) VALUES (:id, :n)"),
            [{"id": i, "n": k} for k, i in enumerate(ids)],
        )
    return ids


@pytest.mark.parametrize("count", [0, 1, 5_000])
def test_an_expanding_in_list_finds_exactly_the_ids_given(engine: Engine, count: int) -> None:
    ids = _fill(engine, 6_000)[:count]
    with engine.connect() as conn:
        rows = select_in(conn, "SELECT id FROM things WHERE id IN :ids", "ids", ids)
        plain = conn.execute(
            sql("SELECT COUNT(*) FROM things WHERE id IN :ids", expanding=("ids",)), {"ids": ids}
        ).scalar_one()
    assert sorted(r[0] for r in rows) == ids
    assert plain == count


@pytest.mark.parametrize("numbers", [[], [3, 4]])
def test_an_integer_in_list_may_be_empty_on_every_backend(engine: Engine, numbers) -> None:
    _fill(engine, 10)
    with engine.connect() as conn:
        got = (
            conn.execute(
                sql("SELECT n FROM things WHERE n IN :ns ORDER BY n", expanding={"ns": Integer}),
                {"ns": numbers},
            )
            .scalars()
            .all()
        )
        empty_text = conn.execute(
            sql("SELECT id FROM things WHERE id IN :ids", expanding=("ids",)), {"ids": []}
        ).all()
    assert got == numbers
    assert empty_text == []


def test_select_in_repeats_the_other_binds_and_ignores_duplicate_ids(engine: Engine) -> None:
    ids = _fill(engine, 20)
    with engine.connect() as conn:
        rows = select_in(
            conn,
            "SELECT id FROM things WHERE id IN :ids AND n >= :least",
            "ids",
            [*ids, *ids],
            least=10,
        )
    assert sorted(r[0] for r in rows) == ids[10:]


def test_an_in_list_longer_than_sqlites_bind_limit_is_split_not_refused(tmp_path) -> None:
    """SQLite builds differ (999 before 3.32): a list past the limit is a real failure."""
    engine = make_engine(f"sqlite:///{tmp_path / 'limit.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE things (id TEXT PRIMARY KEY, n INTEGER NOT NULL)"))
    ids = _fill(engine, 5_000)
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)
        assert bind_limit(conn) == 999
        with pytest.raises(Exception, match="too many SQL variables"):
            conn.execute(
                sql("SELECT id FROM things WHERE id IN :ids", expanding=("ids",)), {"ids": ids}
            ).fetchall()
        conn.rollback()
        rows = select_in(conn, "SELECT id FROM things WHERE id IN :ids", "ids", ids)
    assert sorted(r[0] for r in rows) == ids
    engine.dispose()


@pytest.mark.postgres
def test_an_in_list_longer_than_the_postgresql_wire_limit_is_split(pg_server) -> None:
    engine = make_engine(pg_server.new_database())
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE things (id TEXT PRIMARY KEY, n INTEGER NOT NULL)"))
    ids = _fill(engine, 70_000)
    with engine.connect() as conn:
        rows = select_in(conn, "SELECT id FROM things WHERE id IN :ids", "ids", ids)
    assert len(rows) == 70_000
    engine.dispose()


def test_locked_write_serialises_two_read_then_write_transactions(engine: Engine) -> None:
    """Each writer reads the counter, waits, writes it plus one: without the lock held from
    the first statement one increment is lost (or SQLite refuses the stale upgrade)."""
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO things (id, n) VALUES ('counter', 0)"))
    spans: list[tuple[float, float]] = []
    errors: list[BaseException] = []
    entered = threading.Barrier(2)

    def writer() -> None:
        try:
            entered.wait()
            with locked_write(engine, Lock.APPEND) as conn:
                start = time.monotonic()
                n = conn.execute(text("SELECT n FROM things WHERE id = 'counter'")).scalar_one()
                time.sleep(0.3)
                conn.execute(text("UPDATE things SET n = :n WHERE id = 'counter'"), {"n": n + 1})
                spans.append((start, time.monotonic()))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM things WHERE id = 'counter'")).scalar_one() == 2
    first, second = sorted(spans)
    assert second[0] >= first[1] - 0.01  # the second began only after the first committed


def test_locked_write_rolls_back_and_releases_the_lock_on_an_error(engine: Engine) -> None:
    with pytest.raises(RuntimeError), locked_write(engine, Lock.PROJECTION) as conn:
        conn.execute(text("INSERT INTO things (id, n) VALUES ('lost', 1)"))
        raise RuntimeError("boom")
    with locked_write(engine, Lock.PROJECTION) as conn:  # would wait forever if still held
        assert conn.execute(text("SELECT COUNT(*) FROM things")).scalar_one() == 0


def test_raw_executemany_inserts_plain_tuples_with_integer_constants(engine: Engine) -> None:
    with engine.begin() as conn:
        raw_executemany(conn, "things", ["id"], [("a",), ("b",)], constants={"n": 7})
        raw_executemany(conn, "things", ["id", "n"], [])
        got = raw_fetchall(
            conn, f"SELECT id, n FROM things WHERE n = {mark(conn)} ORDER BY id", (7,)
        )
    assert [tuple(r) for r in got] == [("a", 7), ("b", 7)]


def test_marks_follow_the_driver_paramstyle(engine: Engine) -> None:
    expected = "?" if engine.dialect.name == "sqlite" else "%s"
    assert mark(engine) == expected
    assert marks(engine, 3) == ", ".join([expected] * 3)
