"""`sipdash verify --read-models`: the read models every figure is read from, checked against
a fresh fold of the log. The chain cannot see an edited read-model row (found by probing: a
review flipped in rm_reviews changed a team's figure from 6/20 to 20/20 while `verify` said
ok); this check does, on either backend, and says what to run."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.cli import main
from events import EventStore
from tests.helpers.csv_log import imported_notes


@pytest.fixture
def audited(db_url: str, tmp_path: Path) -> str:
    """A log with one team, twelve notes in 2025-01 and a census round of them."""
    imported_notes(db_url, tmp_path, agenda=lambda i: "yes" if i % 3 else "no")
    assert main(["audit", "run", "--period", "2025-01", "--census", "--db", db_url, "-q"]) == 0
    return db_url


def _edit(url: str, statement: str) -> None:
    store = EventStore(url)
    try:
        with store.engine.begin() as conn:
            assert conn.exec_driver_sql(statement).rowcount > 0
    finally:
        store.dispose()


def test_untouched_read_models_equal_a_fresh_fold(
    audited: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", "--read-models", "--db", audited, "-q"]) == 0
    out = capsys.readouterr().out
    assert "read models: ok, all" in out and "equal a fresh fold of the log" in out


@pytest.mark.parametrize(
    ("table", "statement"),
    [
        ("rm_reviews", "UPDATE rm_reviews SET agenda_setting = 'yes' WHERE agenda_setting = 'no'"),
        ("rm_case_notes", "DELETE FROM rm_case_notes WHERE consultation_id = 'c-3'"),
    ],
)
def test_an_edited_read_model_is_named_and_verify_fails_until_rebuilt(
    audited: str, capsys: pytest.CaptureFixture[str], table: str, statement: str
) -> None:
    _edit(audited, statement)
    assert main(["verify", "--db", audited, "-q"]) == 0  # the chain alone cannot see it
    capsys.readouterr()
    assert main(["verify", "--read-models", "--db", audited, "-q"]) == 1
    out = capsys.readouterr().out
    assert f"read model {table} differs from a fresh fold of the log" in out
    assert "sipdash rebuild" in out
    assert main(["rebuild", "--db", audited, "-q"]) == 0
    assert main(["verify", "--read-models", "--db", audited, "-q"]) == 0
