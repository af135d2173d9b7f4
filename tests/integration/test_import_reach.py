"""Imports for the reach lenses: the training CSV (all or nothing, idempotent, keyed by clinician
and programme) and the optional ``imd_quintile`` consultations column."""

from __future__ import annotations

from datetime import date

import pytest

from audit import reach
from audit.imports import Importer, ImportRefused
from audit.projections import Projector
from audit.training_imports import TrainingImporter
from dashboard.cli import main
from events import EventStore, NewEvent
from events.types import TeamRegistered

HEADER = "consultation_id,team,clinician,patient,occurred_on,contact,agenda_setting,goal_setting,follow_up"
BEFORE_IMD = f"""{HEADER}
c-1,msk1,K01,LOCAL-1,2024-03-04,face_to_face,yes,no,yes
c-2,msk1,K02,LOCAL-2,2024-03-05,telephone,no,no,no
c-3,copd1,R01,LOCAL-3,2024-03-06,video,yes,yes,yes
"""
TODAY = date(2025, 1, 31)


@pytest.fixture
def store(db_url: str):
    s = EventStore(db_url)
    Projector(s).ensure_schema()
    s.append(
        [
            NewEvent(TeamRegistered(team_id=t, name=n, site="North", service="X"))
            for t, n in (("msk1", "MSK Pain Team"), ("copd1", "COPD Team"))
        ]
    )
    yield s
    s.dispose()


@pytest.fixture
def consultations(store):
    from events.pseudonym import PatientRegistry

    registry = PatientRegistry(store.engine, "test-key-not-demo-0123456789abcdef0123")
    registry.ensure_schema()
    return Importer(store, registry, demo_key=False, projector=Projector(store))


@pytest.fixture
def trained(store, consultations) -> TrainingImporter:
    consultations.import_consultations(BEFORE_IMD.encode())
    return TrainingImporter(store, today=TODAY, projector=Projector(store))


def _held(store) -> dict[str, dict]:
    return {
        e.payload["consultation_id"]: e.payload for e in store.read_all(types=["ConsultationHeld"])
    }


# ------------------------------------------------------------------------------ training


GOOD_TRAINING = """clinician,team,programme,trained_on
K01,msk1,ADP,2024-02-10
R01,COPD Team,ADP,2024-03-01
K01,msk1,Health coaching,2024-05-01
"""


def test_a_training_file_lands_once_and_a_second_import_appends_nothing(store, trained) -> None:
    first = trained.import_training(GOOD_TRAINING.encode())
    assert (first.rows, first.appended, first.skipped) == (3, 3, 0)
    head = store.head().position
    again = trained.import_training(GOOD_TRAINING.encode())
    assert (again.appended, again.skipped) == (0, 3)
    assert store.head().position == head
    rows = reach.training_records(store.engine)
    assert sorted(zip(rows["clinician_id"], rows["programme"], strict=True)) == [
        ("K01", "ADP"),
        ("K01", "Health coaching"),
        ("R01", "ADP"),
    ]


TRAINING_FAULTS = {
    "an unknown clinician": (
        "K99,msk1,ADP,2024-02-10",
        "training.csv: row 3, column clinician: 'K99' is not a known clinician",
    ),
    "a date in the future": (
        "K02,msk1,ADP,2025-02-01",
        "training.csv: row 3, column trained_on: 2025-02-01 is in the future",
    ),
    "not a date": (
        "K02,msk1,ADP,10/02/2024",
        "training.csv: row 3, column trained_on: expected a date YYYY-MM-DD, got '10/02/2024'",
    ),
    "a clinician of another team": (
        "R01,msk1,ADP,2024-02-10",
        "training.csv: row 3, column team: 'R01' belongs to 'COPD Team', not 'MSK Pain Team'",
    ),
    "an unregistered team": (
        "K02,nowhere,ADP,2024-02-10",
        "training.csv: row 3, column team: 'nowhere' is not a registered team",
    ),
    "no programme": (
        "K02,msk1,,2024-02-10",
        "training.csv: row 3, column programme: expected the programme's name",
    ),
    "an NHS-number-shaped clinician": (
        "943 476 5919,msk1,ADP,2024-02-10",
        "training.csv: row 3, column clinician: holds a value shaped like an NHS number (not shown)",
    ),
}


@pytest.mark.parametrize("fault", TRAINING_FAULTS)
def test_a_bad_training_row_refuses_the_whole_file_naming_row_and_column(
    store, trained, fault
) -> None:
    line, expected = TRAINING_FAULTS[fault]
    head = store.head().position
    text = f"clinician,team,programme,trained_on\nK01,msk1,ADP,2024-02-10\n{line}\n"
    with pytest.raises(ImportRefused) as refused:
        trained.import_training(text.encode())
    assert any(e.startswith(expected) for e in refused.value.errors), refused.value.errors
    assert "943" not in str(refused.value)
    assert store.head().position == head, "nothing appended"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("clinician,team,trained_on", "missing column(s) programme"),
        ("clinician,team,programme,trained_on,notes", "unknown column(s) 'notes'"),
        ("clinician,team,programme,trained_on,team", "column(s) given twice: team"),
    ],
)
def test_a_training_file_with_the_wrong_columns_is_refused(trained, header, expected) -> None:
    with pytest.raises(ImportRefused) as refused:
        trained.import_training(f"{header}\nK01,msk1,ADP,2024-02-10\n".encode())
    assert expected in str(refused.value)


def test_a_second_date_for_the_same_clinician_and_programme_is_refused(store, trained) -> None:
    trained.import_training(GOOD_TRAINING.encode())
    head = store.head().position
    with pytest.raises(ImportRefused) as refused:
        trained.import_training(b"clinician,team,programme,trained_on\nK01,msk1,ADP,2024-02-11\n")
    assert "row 2, column trained_on" in str(refused.value)
    assert "a training record is not edited" in str(refused.value)
    assert store.head().position == head
    with pytest.raises(ImportRefused) as twice:
        trained.import_training(
            b"clinician,team,programme,trained_on\nK02,msk1,ADP,2024-02-11\nK02,msk1,ADP,2024-02-12\n"
        )
    assert "row 3, column trained_on: 'K02' is already trained in ADP in row 2" in str(twice.value)


def test_the_form_records_one_training_with_the_same_id_as_a_file_row(store, trained) -> None:
    result = trained.record("K01", "msk1", "ADP", date(2024, 2, 10))
    assert result.appended == 1
    again = trained.import_training(
        b"clinician,team,programme,trained_on\nK01,msk1,ADP,2024-02-10\n"
    )
    assert again.appended == 0 and again.skipped == 1
    with pytest.raises(ImportRefused) as refused:
        trained.record("K01", "msk1", "ADP", date(2099, 1, 1))
    assert "is in the future" in str(refused.value)


def test_sipdash_import_training_exits_1_naming_the_row_and_0_when_good(
    store, trained, tmp_path, capsys, db_url
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("clinician,team,programme,trained_on\nK77,msk1,ADP,2024-02-10\n")
    assert main(["import", "training", str(bad), "--db", db_url]) == 1
    assert (
        "bad.csv: row 2, column clinician: 'K77' is not a known clinician"
        in capsys.readouterr().err
    )
    good = tmp_path / "good.csv"
    good.write_text("clinician,team,programme,trained_on\nK01,msk1,ADP,2024-02-10\n")
    assert main(["import", "training", str(good), "--db", db_url]) == 0
    assert "1 event appended" in capsys.readouterr().out
    assert main(["import", "training", str(good), "--db", db_url]) == 0
    assert "0 events appended, 1 already present" in capsys.readouterr().out


# --------------------------------------------------------------------------- imd_quintile


def test_a_file_imported_before_imd_quintile_existed_re_imports_with_nothing_appended(
    store, consultations
) -> None:
    consultations.import_consultations(BEFORE_IMD.encode())
    head = store.head().position
    with store.engine.connect() as conn:
        stored = [
            r[0]
            for r in conn.exec_driver_sql(
                "SELECT payload FROM events WHERE type = 'ConsultationHeld'"
            ).fetchall()
        ]
    assert stored and all("imd_quintile" not in str(p) for p in stored), "absent, never null"
    again = consultations.import_consultations(BEFORE_IMD.encode())
    assert again.appended == 0
    lines = BEFORE_IMD.strip().split("\n")
    blank_column = "\n".join([lines[0] + ",imd_quintile", *(line + "," for line in lines[1:])])
    blank = consultations.import_consultations(blank_column.encode())
    assert blank.appended == 0, "a blank quintile is the same as no column"
    assert store.head().position == head


def test_imd_quintile_is_stored_when_given_and_counted_per_quintile(store, consultations) -> None:
    text = (
        f"{HEADER},imd_quintile\n"
        "d-1,msk1,K01,LOCAL-1,2024-03-04,face_to_face,yes,no,yes,1\n"
        "d-2,msk1,K01,LOCAL-2,2024-03-05,face_to_face,no,no,yes,\n"
        "d-3,msk1,K01,LOCAL-3,2024-03-05,face_to_face,yes,no,yes,5.0\n"
    )
    consultations.import_consultations(text.encode())
    Projector(store).catch_up()
    held = _held(store)
    assert held["d-1"]["imd_quintile"] == 1 and "imd_quintile" not in held["d-2"]
    assert held["d-3"]["imd_quintile"] == 5
    counts = reach.imd_counts(store.engine)
    assert dict(zip(counts["imd_quintile"], counts["notes"], strict=True)) == {0: 1, 1: 1, 5: 1}


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("6", "expected 1 (most deprived) to 5 (least deprived) or blank; out of range, got '6'"),
        ("0", "out of range, got '0'"),
        (
            "high",
            "expected a whole number from 1 (most deprived) to 5 (least deprived) or blank, got 'high'",
        ),
        ("2.5", "expected a whole number"),
    ],
)
def test_a_bad_imd_quintile_refuses_the_file_naming_row_and_column(
    store, consultations, cell, expected
) -> None:
    head = store.head().position
    text = (
        f"{HEADER},imd_quintile\n"
        "e-1,msk1,K01,LOCAL-1,2024-03-04,face_to_face,yes,no,yes,3\n"
        f"e-2,msk1,K01,LOCAL-2,2024-03-05,face_to_face,no,no,yes,{cell}\n"
    )
    with pytest.raises(ImportRefused) as refused:
        consultations.import_consultations(text.encode())
    errors = refused.value.errors
    assert len(errors) == 1 and errors[0].startswith(
        "consultations.csv: row 3, column imd_quintile: "
    )
    assert expected in errors[0]
    assert store.head().position == head


def test_a_quintile_added_to_a_consultation_imported_without_one_is_refused(
    store, consultations
) -> None:
    consultations.import_consultations(BEFORE_IMD.encode())
    changed = BEFORE_IMD.replace(HEADER, HEADER + ",imd_quintile").replace(
        "c-1,msk1,K01,LOCAL-1,2024-03-04,face_to_face,yes,no,yes",
        "c-1,msk1,K01,LOCAL-1,2024-03-04,face_to_face,yes,no,yes,2",
    )
    with pytest.raises(ImportRefused) as refused:
        consultations.import_consultations(changed.encode())
    assert "row 2" in str(refused.value)
