"""One team however a file spells it: --register-teams registers the file's first spelling
once and every other spelling of it (case, accents, invisible characters, spaces) joins that
team, in the fast path and the checked path alike; later files and commands find it the same
way. Before: MSK, msk and Msk were registered as three teams, each with a third of the notes."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from audit import queries
from audit.projections import Projector
from dashboard.cli import main
from events import EventStore

HEADER = "consultation_id,team,clinician,patient,occurred_on,contact,agenda_setting,goal_setting,follow_up"
SPELLINGS = [
    "Café MSK",
    "CAFÉ MSK",
    "café msk",
    unicodedata.normalize("NFD", "Café MSK"),
    "Café\u00a0MSK",
    "Café  MSK",
]


def _file(tmp_path: Path, name: str, teams: list[str], first: int = 1, bad: bool = False) -> Path:
    rows = [
        f'c-{first + i},"{team}",K01,L{first + i},2025-01-{10 + i:02d},face_to_face,yes,no,yes'
        for i, team in enumerate(teams)
    ]
    if bad:  # a cell the fast path leaves to the row model: the file goes the checked way
        rows[-1] = rows[-1].replace("face_to_face", "Face to face")
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def _teams_and_notes(url: str) -> tuple[list[str], dict[str, int]]:
    store = EventStore(url)
    try:
        Projector(store).catch_up()
        teams = queries.teams(store.engine)["team_id"].tolist()
        with store.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT team_id, COUNT(*) FROM rm_case_notes GROUP BY team_id"
            ).fetchall()
        return teams, {t: n for t, n in rows}
    finally:
        store.dispose()


@pytest.mark.parametrize("path", ["fast", "checked"])
def test_a_file_spelling_one_team_six_ways_registers_it_once_with_every_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], path: str
) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    csv = _file(tmp_path, "six.csv", SPELLINGS, bad=path == "checked")
    assert main(["--db", url, "import", "consultations", str(csv), "--register-teams"]) == 0
    out = capsys.readouterr().out
    assert out.strip().endswith("registered teams Café MSK"), out
    teams, notes = _teams_and_notes(url)
    assert teams == ["Café MSK"]
    assert notes == {"Café MSK": len(SPELLINGS)}


def test_a_later_file_and_the_audit_command_find_the_team_by_any_spelling(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    first = _file(tmp_path, "first.csv", ["Café MSK"])
    later = _file(tmp_path, "later.csv", ["CAFE\u0301\u200b msk"], first=2)
    assert main(["--db", url, "import", "consultations", str(first), "--register-teams"]) == 0
    assert main(["--db", url, "import", "consultations", str(later)]) == 0  # no registering
    teams, notes = _teams_and_notes(url)
    assert teams == ["Café MSK"] and notes == {"Café MSK": 2}
    capsys.readouterr()
    assert main(["audit", "run", "--period", "2025-01", "--team", "café  msk", "--db", url]) == 0
    assert "Café MSK 2025-01: opened, reviewed and closed" in capsys.readouterr().out
