"""Mistakes on the command line get one clear line, and leave nothing behind: no round
opened for a month that cannot exist, no export recorded for a pack that was never written,
no traceback for a folder that is not there. (Found by probing the CLI as a careful user.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.cli import CliError, main, parse_as_of
from events import EventStore
from tests.helpers.csv_log import HEADER, imported_notes
from tests.helpers.logs import head_position


@pytest.fixture
def url(tmp_path: Path) -> str:
    """A log with one team (msk), twelve notes in 2025-01 and no audit round."""
    return imported_notes(f"sqlite:///{tmp_path / 'events.db'}", tmp_path)


def _types_after(url: str, position: int) -> list[str]:
    store = EventStore(url)
    try:
        return [e.type for e in store.read_all(after=position)]
    finally:
        store.dispose()


@pytest.mark.parametrize("period", ["2025-13", "2025-1", "2025-01-01", "25-01", "June"])
def test_an_impossible_month_is_a_usage_error_and_opens_no_round(
    url: str, capsys: pytest.CaptureFixture[str], period: str
) -> None:
    before = head_position(url)
    with pytest.raises(SystemExit) as exit_:
        main(["audit", "run", "--period", period, "--db", url])
    assert exit_.value.code == 2
    assert "expected a month as YYYY-MM" in capsys.readouterr().err
    assert head_position(url) == before


@pytest.mark.parametrize("sample", ["0", "-5", "two"])
def test_a_sample_below_one_note_is_a_usage_error_and_opens_no_round(
    url: str, capsys: pytest.CaptureFixture[str], sample: str
) -> None:
    before = head_position(url)
    with pytest.raises(SystemExit) as exit_:
        main(["audit", "run", "--period", "2025-01", "--sample", sample, "--db", url])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "at least 1 note" in err or "whole number of notes" in err
    assert head_position(url) == before


def test_an_unknown_team_is_named_with_the_registered_ones_and_opens_no_round(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = head_position(url)
    assert main(["audit", "run", "--period", "2025-01", "--team", "nosuch", "--db", url]) == 1
    err = capsys.readouterr().err
    assert "no team 'nosuch' is registered (registered teams: msk)" in err
    assert head_position(url) == before
    assert main(["audit", "run", "--period", "2025-01", "--team", "MSK", "--db", url]) == 0
    assert "msk 2025-01: opened, reviewed and closed" in capsys.readouterr().out


@pytest.mark.parametrize("spelling", ["20250110", "2025-01-10", " 2025-01-10 "])
def test_a_bare_date_means_the_end_of_that_day_however_iso_8601_spells_it(
    spelling: str,
) -> None:
    at = parse_as_of(spelling)
    assert at is not None and at.isoformat() == "2025-01-10T23:59:59.999999+00:00"


def test_an_empty_as_of_is_refused_rather_than_read_as_now() -> None:
    with pytest.raises(CliError, match="--as-of is empty"):
        parse_as_of("")
    assert parse_as_of(None) is None


def test_a_pack_with_no_audited_month_is_a_clear_error_and_records_no_export(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = head_position(url)
    out = tmp_path / "pack.html"
    assert main(["report", "--out", str(out), "--db", url]) == 1
    err = capsys.readouterr().err
    assert "no audit round had reviewed a case note yet" in err and "sipdash audit run" in err
    assert "unexpected error" not in err
    assert not out.exists() and head_position(url) == before


def test_a_pack_as_of_before_the_first_round_is_a_clear_error(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "run", "--period", "2025-01", "--census", "--db", url, "-q"]) == 0
    capsys.readouterr()
    out = tmp_path / "pack.html"
    assert main(["report", "--out", str(out), "--as-of", "2000-01-01", "--db", url]) == 1
    err = capsys.readouterr().err
    assert "no audit round had reviewed a case note by 1 Jan 2000 23:59 Europe/London" in err, err
    assert not out.exists()


@pytest.mark.parametrize("where", ["missing folder", "a folder"])
def test_a_pack_that_cannot_be_written_is_refused_first_and_records_no_export(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    assert main(["audit", "run", "--period", "2025-01", "--census", "--db", url, "-q"]) == 0
    capsys.readouterr()
    before = head_position(url)
    out = tmp_path / "nodir" / "pack.html" if where == "missing folder" else tmp_path / "x.html"
    if where == "a folder":
        out.mkdir()
    assert main(["report", "--out", str(out), "--db", url]) == 1
    err = capsys.readouterr().err
    assert f"--out {out}:" in err and "unexpected error" not in err, err
    assert head_position(url) == before, "no ExportRecorded for a pack that was never written"


def test_a_written_pack_is_recorded_once_after_it_exists(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "run", "--period", "2025-01", "--census", "--db", url, "-q"]) == 0
    before = head_position(url)
    out = tmp_path / "pack.html"
    assert main(["report", "--out", str(out), "--db", url]) == 0
    assert out.read_text(encoding="utf-8").lstrip().startswith("<!")
    assert _types_after(url, before) == ["ExportRecorded"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


@pytest.mark.parametrize("where", ["missing folder", "a folder"])
def test_a_backup_that_cannot_be_written_is_one_clear_line(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    target = tmp_path / "nodir" / "b.jsonl" if where == "missing folder" else tmp_path
    assert main(["backup", str(target), "--db", url, "-q"]) == 1
    err = capsys.readouterr().err
    assert f"backup {target}:" in err and "unexpected error" not in err, err


@pytest.mark.parametrize(
    ("db", "expected"),
    [
        ("bogus://x", "sipdash keeps its log in SQLite or PostgreSQL"),
        ("mysql://u@h/db", "not 'mysql'"),
        ("not a url", "is not a URL sipdash can read"),
        ("sqlite:///{tmp}/no dir/x.db", "the folder {tmp}/no dir does not exist"),
    ],
)
def test_a_database_url_sipdash_cannot_use_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], db: str, expected: str
) -> None:
    csv = tmp_path / "one.csv"
    csv.write_text(
        f"{HEADER}\nc-1,msk,K01,L1,2025-01-10,face_to_face,yes,no,yes\n", encoding="utf-8"
    )
    db = db.replace("{tmp}", str(tmp_path))
    for command in (["verify"], ["import", "consultations", str(csv), "--register-teams"]):
        assert main([*command, "--db", db, "-q"]) == 1
        err = capsys.readouterr().err
        assert expected.replace("{tmp}", str(tmp_path)) in err, err
        assert "unexpected error" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.csv"]


def test_a_survey_report_with_no_surveys_says_so_without_an_empty_table(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "report", "--source", "surveys", "--db", url]) == 0
    captured = capsys.readouterr()
    assert "no patient surveys in this database" in captured.err
    assert "Empty DataFrame" not in captured.out and captured.out.strip() == ""


def test_a_row_with_too_many_cells_is_listed_with_every_other_bad_row(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        "x-1,msk,K01,L100,2025-13-01,face_to_face,yes,no,yes",  # row 2: no such date
        "x-2,msk,K01,L101,2025-01-10,by pigeon,yes,no,yes",  # row 3: no such contact
        "x-3,msk,K01,L102,2025-01-10,face_to_face,yes,no,yes",
        "x-4,msk,K01,L103,2025-01-10,face_to_face,yes,no,yes,extra",  # row 5: one cell too many
        "x-5,msk,K01,L104,2025-01-10,face_to_face,perhaps,no,yes",  # row 6: no such finding
    ]
    csv = tmp_path / "ragged.csv"
    csv.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    before = head_position(url)
    assert main(["import", "consultations", str(csv), "--db", url, "-q"]) == 1
    err = capsys.readouterr().err
    assert "ragged.csv: row 5: more cells than the header has columns" in err
    for where in (
        "row 2, column occurred_on",
        "row 3, column contact",
        "row 6, column agenda_setting",
    ):
        assert where in err, err
    assert head_position(url) == before
