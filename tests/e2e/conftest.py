"""End-to-end fixtures: the demo programme seeded once per session into a SQLite file.

``seeded_db`` is read-only (every test that only looks shares it); ``seeded_db_copy`` gives a
test that appends its own copy of the file. ``dashboard_env`` points the Streamlit app (run in
process by AppTest) at a database through ``SIPDASH_DATABASE_URL``, the one variable the app's
composition root reads.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from audit.projections import Projector
from events import EventStore

SEED = 42
DEMO_TEAMS = 8


def _url(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def seeded_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file holding the demo scenario (seed 42), projected and checkpointed."""
    import seed

    path = tmp_path_factory.mktemp("seeded") / "demo.db"
    store = EventStore(_url(path))
    projector = Projector(store)
    projector.ensure_schema()
    seed.run_seed(store, scenario="demo", seed=SEED)
    projector.catch_up()
    # Fold the WAL into the main file so that a plain file copy is a complete database.
    with store.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    store.dispose()
    return path


@pytest.fixture
def seeded_db_copy(seeded_db: Path, tmp_path: Path) -> Path:
    """A private copy of the seeded database, for a test that writes."""
    target = tmp_path / "demo-copy.db"
    shutil.copyfile(seeded_db, target)
    return target


@pytest.fixture
def seeded_url(seeded_db: Path) -> str:
    return _url(seeded_db)


@pytest.fixture
def dashboard_env(monkeypatch: pytest.MonkeyPatch, seeded_url: str) -> str:
    """Point the in-process app at the shared seeded database."""
    monkeypatch.setenv("SIPDASH_DATABASE_URL", seeded_url)
    return seeded_url


@pytest.fixture
def url(monkeypatch: pytest.MonkeyPatch, seeded_db_copy: Path) -> str:
    """The app pointed at a private copy of the seeded database, as the local editor (no
    ``SIPDASH_LOCAL_ROLE`` from the environment running the tests)."""
    url = _url(seeded_db_copy)
    monkeypatch.setenv("SIPDASH_DATABASE_URL", url)
    monkeypatch.delenv("SIPDASH_LOCAL_ROLE", raising=False)
    return url
