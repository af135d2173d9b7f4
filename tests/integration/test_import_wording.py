"""What a refused import says, found by probing the CLI as a careful user: an impossible day
is called one, a changed consultation names the column that changed, a file saved with
semicolons or with a quote never closed is said to be that (not a list of empty cells), and a
pseudonym key too short to protect anyone is refused before it binds the database."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.projections import Projector
from dashboard.cli import main
from events import EventStore, NewEvent
from events.pseudonym import KEY_CHECK_SUBJECT, MIN_KEY_CHARS, generate_key, key_check
from events.types import PseudonymKeyRecorded
from tests.helpers.csv_log import HEADER, imported_notes
from tests.helpers.logs import head_position

KEY = "import-wording-test-key-0123456789abcdef"


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A log with team msk and twelve notes c-0 … c-11 (clinician K01), imported with KEY."""
    monkeypatch.setenv("SIPDASH_PSEUDONYM_KEY", KEY)
    return imported_notes(f"sqlite:///{tmp_path / 'events.db'}", tmp_path)


def _import(url: str, tmp_path: Path, kind: str, text: str) -> int:
    path = tmp_path / f"{kind}.csv"
    path.write_text(text, encoding="utf-8")
    return main(["import", kind, str(path), "--db", url, "-q"])


@pytest.mark.parametrize(
    ("day", "why"),
    [
        ("2025-02-29", "2025-02 has 28 days"),
        ("2024-04-31", "2024-04 has 30 days"),
        ("2025-13-01", "there is no month 13"),
        ("2025-01-00", "there is no day 00"),
    ],
)
def test_a_day_the_calendar_does_not_have_is_called_one(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], day: str, why: str
) -> None:
    before = head_position(url)
    row = f"c-new,msk,K01,L99,{day},video,yes,no,yes"
    assert _import(url, tmp_path, "consultations", f"{HEADER}\n{row}\n") == 1
    err = capsys.readouterr().err
    assert f"row 2, column occurred_on: '{day}' is not a real date ({why})" in err
    assert head_position(url) == before


def test_a_changed_clinician_is_reported_under_the_clinician_column(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = head_position(url)
    row = "c-3,msk,K02,L3,2025-01-13,face_to_face,yes,no,yes"  # c-3 was seen by K01
    assert _import(url, tmp_path, "consultations", f"{HEADER}\n{row}\n") == 1
    err = capsys.readouterr().err
    assert "row 2, column clinician: consultation 'c-3' is already in the log" in err
    assert "column consultation_id" not in err
    assert head_position(url) == before


@pytest.mark.parametrize(
    ("kind", "header", "sep", "name"),
    [
        ("consultations", HEADER, ";", "semicolons"),
        ("consultations", HEADER, "\t", "tabs"),
        (
            "surveys",
            "survey_id,team,returned_on,agenda_setting,goal_setting,follow_up",
            ";",
            "semicolons",
        ),
        ("training", "clinician,team,programme,trained_on", ";", "semicolons"),
    ],
)
def test_a_file_separated_by_semicolons_or_tabs_is_said_to_be_so_first(
    url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    kind: str,
    header: str,
    sep: str,
    name: str,
) -> None:
    before = head_position(url)
    text = header.replace(",", sep) + "\n" + sep.join(["x"] * (header.count(",") + 1)) + "\n"
    assert _import(url, tmp_path, kind, text) == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if "row " in line]
    assert f"row 1: the columns are separated by {name} ({sep!r}), not commas" in lines[0]
    assert head_position(url) == before


def test_a_quote_never_closed_is_named_at_its_row_not_as_empty_cells(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = head_position(url)
    rows = [
        "c-20,msk,K01,L20,2025-01-20,video,yes,no,yes",
        'c-21,msk,K01,"L21,2025-01-21,video,yes,no,yes',  # the quote opens and never closes
        "c-22,msk,K01,L22,2025-01-22,video,yes,no,yes",
        "c-23,msk,K01,L23,2025-01-23,video,yes,no,yes",
    ]
    assert _import(url, tmp_path, "consultations", "\n".join([HEADER, *rows]) + "\n") == 1
    err = capsys.readouterr().err
    assert 'row 3: a quote (") opens a cell that is never closed' in err
    assert "row 3, column" not in err  # not a list of the row's empty cells
    assert head_position(url) == before


def test_a_closed_quote_spanning_lines_is_still_one_cell(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The check looks for a quote never closed, not for line breaks in cells: a quoted cell
    that spans lines and is closed reads as before (here a clinician id, refused as such)."""
    row = 'c-30,msk,"K0\n1",L30,2025-01-25,video,yes,no,yes'
    assert _import(url, tmp_path, "consultations", f"{HEADER}\n{row}\n") == 1
    err = capsys.readouterr().err
    assert "never closed" not in err
    assert "row 2, column clinician" in err


def test_a_short_pseudonym_key_is_refused_before_it_binds_the_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    short = "k" * (MIN_KEY_CHARS - 1)
    monkeypatch.setenv("SIPDASH_PSEUDONYM_KEY", short)
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    notes = tmp_path / "notes.csv"
    notes.write_text(f"{HEADER}\nc-1,msk,K01,L1,2025-01-10,video,yes,no,yes\n", encoding="utf-8")
    command = ["import", "consultations", str(notes), "--register-teams", "--db", url, "-q"]
    assert main(command) == 1
    err = capsys.readouterr().err
    assert f"the pseudonym key is {MIN_KEY_CHARS - 1} characters long" in err
    assert "sipdash key generate" in err and "nothing was written" in err
    assert short not in err
    assert head_position(url) == 0
    repetitive = "abc" * 20  # long enough, but a pattern anyone would try
    monkeypatch.setenv("SIPDASH_PSEUDONYM_KEY", repetitive)
    assert main(command) == 1
    err = capsys.readouterr().err
    assert "uses only 3 different characters" in err and repetitive not in err
    assert head_position(url) == 0
    monkeypatch.setenv("SIPDASH_PSEUDONYM_KEY", generate_key())
    assert main(command) == 0
    assert head_position(url) > 0


def test_a_database_bound_to_a_short_key_before_the_rule_keeps_working(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    short = "an-old-short-key"
    url = f"sqlite:///{tmp_path / 'old.db'}"
    store = EventStore(url)
    Projector(store).ensure_schema()
    event = PseudonymKeyRecorded(
        subject=KEY_CHECK_SUBJECT, check=key_check(short), earlier_tokens=False
    )
    store.append([NewEvent(event)])
    store.dispose()
    monkeypatch.setenv("SIPDASH_PSEUDONYM_KEY", short)
    notes = tmp_path / "notes.csv"
    notes.write_text(f"{HEADER}\nc-1,msk,K01,L1,2025-01-10,video,yes,no,yes\n", encoding="utf-8")
    before = head_position(url)
    assert main(["import", "consultations", str(notes), "--register-teams", "--db", url]) == 0
    assert head_position(url) > before
