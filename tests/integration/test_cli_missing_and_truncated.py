"""No false comfort from a wrong database, and no silent read models over a truncated log.

- A database that does not exist (a mistyped SQLite path; on PostgreSQL a database without
  sipdash tables) is an error naming it for every command but seed, import, restore and
  serve, and nothing is created.
- When the projector's checkpoint is above the log's head (newest events cut off), it refuses
  to fold, says why and what to run; the CLI exits 1 (the dashboard: tests/e2e/test_dashboard_chain.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect

from audit.projections import Projector, ReadModelsAhead
from dashboard.cli import main
from events import EventStore, NewEvent
from events.types import TeamRegistered
from tests.helpers.logs import folded_log, truncate

PATIENT = "p_" + "ef" * 16


def _tables(url: str) -> list[str]:
    store = EventStore(url)
    try:
        return inspect(store.engine).get_table_names()
    finally:
        store.dispose()


COMMANDS = {
    "verify": ["verify"],
    "verify --expect-head": ["verify", "--expect-head", "ab" * 8],
    "rebuild": ["rebuild"],
    "backup": ["backup", "{tmp}/out.jsonl"],
    "audit report": ["audit", "report", "--format", "json"],
    "audit run": ["audit", "run", "--period", "2024-01"],
    "report": ["report", "--out", "{tmp}/pack.html"],
    "forget": ["forget", "LOCAL-1", "--by", "dpo"],
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_mistyped_sqlite_path_is_an_error_naming_it_and_creates_no_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    path = tmp_path / "sipdahs.db"  # a typo for sipdash.db
    args = [a.replace("{tmp}", str(tmp_path)) for a in COMMANDS[command]]
    assert main([*args, "--db", f"sqlite:///{path}", "-q"]) == 1
    captured = capsys.readouterr()
    assert f"database file {path} does not exist" in captured.err, captured.err
    assert "ok:" not in captured.out and "Traceback" not in captured.err
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "nothing was created"


def test_a_postgresql_database_without_sipdash_tables_is_an_error_and_stays_empty(
    pg_server, capsys: pytest.CaptureFixture[str]
) -> None:
    url = pg_server.new_database()
    for command in ("verify", "rebuild"):
        assert main([command, "--db", url, "-q"]) == 1
        err = capsys.readouterr().err
        assert "holds no sipdash tables" in err and "sipdash seed" in err, err
        assert "password" not in err.lower()
    assert _tables(url) == []


def test_a_server_that_cannot_be_reached_is_an_error_naming_the_url(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = "postgresql://sipdash:secret@127.0.0.1:1/nowhere"
    assert main(["verify", "--db", url, "-q"]) == 1
    err = capsys.readouterr().err
    assert "cannot open postgresql+psycopg://sipdash:***@127.0.0.1:1/nowhere" in err, err
    assert "secret" not in err


def test_import_still_fills_a_database_that_does_not_exist_yet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIPDASH_PSEUDONYM_KEY", "missing-db-test-key-0123456789abcdef0123")
    csv = tmp_path / "c.csv"
    csv.write_text(
        "consultation_id,team,clinician,patient,occurred_on,contact,agenda_setting,"
        "goal_setting,follow_up\nc1,msk1,K1,LOCAL-1,2024-01-05,video,yes,no,yes\n",
        encoding="utf-8",
    )
    url = f"sqlite:///{tmp_path / 'new.db'}"
    assert main(["import", "consultations", str(csv), "--register-teams", "--db", url, "-q"]) == 0
    capsys.readouterr()
    assert main(["verify", "--db", url, "-q"]) == 0
    assert capsys.readouterr().out.startswith("ok: ")


def test_serve_on_a_database_that_does_not_exist_says_how_to_fill_it(tmp_path: Path) -> None:
    """``serve`` is exempt (the dashboard starts empty), but it says what to run."""
    root = Path(__file__).resolve().parents[2]
    path = tmp_path / "new.db"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dashboard.cli",
            "serve",
            "--db",
            f"sqlite:///{path}",
            "--port",
            "0",
            "-q",
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(root)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: the Streamlit child goes with it
    )
    try:
        line = proc.stderr.readline()
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=60)
    assert f"database file {path} does not exist" in line, line
    assert "sipdash seed" in line and "sipdash import" in line and "sipdash restore" in line


# --------------------------------------------------------------------------- a truncated log


def test_the_projector_refuses_to_fold_when_its_checkpoint_is_above_the_head(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    store, published = folded_log(db_url, PATIENT)
    truncate(db_url, keep=41)
    projector = Projector(store)
    with pytest.raises(ReadModelsAhead, match="built from 61 events but the log now holds only 41"):
        projector.catch_up()
    # new appends do not hide it either, while the log is still shorter than the read models
    store.append([NewEvent(TeamRegistered(team_id="copd1", name="C", site="N", service="C"))])
    with pytest.raises(ReadModelsAhead):
        projector.catch_up()
    store.dispose()

    capsys.readouterr()
    assert main(["audit", "report", "--format", "json", "--db", db_url, "-q"]) == 1
    err = capsys.readouterr().err
    assert "sipdash verify --expect-head" in err and "sipdash rebuild" in err, err
    assert main(["verify", "--db", db_url, "-q", "--expect-head", published[:16]]) == 1
    assert "no longer on the chain" in capsys.readouterr().out
    assert main(["rebuild", "--db", db_url, "-q"]) == 0
    assert main(["audit", "report", "--format", "json", "--db", db_url, "-q"]) == 0
