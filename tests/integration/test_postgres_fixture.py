"""Proves the session PostgreSQL server provisioning (tests/conftest.py: pg_server)."""

import pytest
from sqlalchemy import create_engine, text

pytestmark = pytest.mark.postgres


def _roundtrip(url: str, value: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE probe (id serial PRIMARY KEY, v text NOT NULL)"))
            conn.execute(text("INSERT INTO probe (v) VALUES (:v)"), {"v": value})
        with engine.connect() as conn:
            return list(conn.execute(text("SELECT v FROM probe ORDER BY id")).scalars())
    finally:
        engine.dispose()


def test_new_database_is_usable(pg_server):
    url = pg_server.new_database()
    assert url.startswith("postgresql+psycopg://")
    assert _roundtrip(url, "hello") == ["hello"]


def test_databases_are_independent(pg_server):
    a, b = pg_server.new_database(), pg_server.new_database()
    assert a != b
    assert _roundtrip(a, "in a") == ["in a"]
    # b has no probe table yet: creating it succeeds and sees only its own row
    assert _roundtrip(b, "in b") == ["in b"]
    engine = create_engine(a)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM probe")).scalar_one() == 1
            version = conn.execute(text("SHOW server_version_num")).scalar_one()
            assert int(version) >= 130000
    finally:
        engine.dispose()


def test_db_url_is_fresh_per_backend(db_url):
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                n = conn.execute(
                    text(
                        "SELECT count(*) FROM information_schema.tables WHERE table_schema='public'"
                    )
                ).scalar_one()
            else:
                n = conn.execute(text("SELECT count(*) FROM sqlite_master")).scalar_one()
        assert n == 0
    finally:
        engine.dispose()
