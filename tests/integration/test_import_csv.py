"""CSV import: a good file lands once; every kind of fault is refused whole, naming row and column."""

from __future__ import annotations

import pytest

from audit.imports import Importer, ImportRefused
from audit.projections import Projector
from dashboard.cli import main
from events import EventStore, NewEvent
from events.pseudonym import PatientRegistry
from events.types import TeamRegistered

HEADER = "consultation_id,team,clinician,patient,occurred_on,contact,agenda_setting,goal_setting,follow_up"
GOOD_NHS = "943 476 5919"  # a valid modulus-11 NHS number (published test number)
BAD_NHS = "9434765918"  # same digits, wrong check digit
GOOD = f"""{HEADER}
c-1,msk1,K01,{GOOD_NHS},2024-03-04,face_to_face,yes,no,yes
c-2,MSK Pain Team,K01,LOCAL-77,2024-03-05,telephone,no,no,no
c-3,msk1,K02,{GOOD_NHS},2024-03-06,video,yes,yes,yes
"""


@pytest.fixture
def store(db_url: str) -> EventStore:
    s = EventStore(db_url)
    Projector(s).ensure_schema()
    s.append(
        [
            NewEvent(
                TeamRegistered(
                    team_id="msk1", name="MSK Pain Team", site="North", service="MSK pain"
                )
            )
        ]
    )
    yield s
    s.dispose()


def test_a_good_file_lands_once_and_a_second_import_appends_nothing(store, importer) -> None:
    first = importer.import_consultations(GOOD.encode())
    # 3 consultations + 5 documented elements + 2 clinicians registered on first sight
    # + the pseudonym key's check value, recorded by the first write that uses the key
    assert first.appended == 10 + 1
    head = store.head().position
    again = importer.import_consultations(GOOD.encode())
    assert again.appended == 0
    assert store.head().position == head


def test_patients_are_stored_as_tokens_and_the_same_patient_gets_the_same_token(
    store, importer
) -> None:
    importer.import_consultations(GOOD.encode())
    held = [e.payload for e in store.read_all(types=["ConsultationHeld"])]
    refs = {h["consultation_id"]: h["patient_ref"] for h in held}
    assert refs["c-1"] == refs["c-3"] != refs["c-2"]
    assert all(r.startswith("p_") for r in refs.values())


FAULTS = {
    "missing column": (
        "consultation_id,team,clinician,patient,occurred_on,contact,agenda_setting,goal_setting\n"
        "c-9,msk1,K01,L1,2024-03-04,video,yes,no\n",
        ["row 1", "follow_up"],
    ),
    "bad date": (
        f"{HEADER}\nc-9,msk1,K01,L1,2024-13-04,video,yes,no,yes\n",
        ["row 2", "column occurred_on", "YYYY-MM-DD", "'2024-13-04'"],
    ),
    "absurd date": (
        f"{HEADER}\nc-9,msk1,K01,L1,1900-01-01,video,yes,no,yes\n",
        ["row 2", "column occurred_on", "outside"],
    ),
    "unknown team": (
        f"{HEADER}\nc-9,copd9,K01,L1,2024-03-04,video,yes,no,yes\n",
        ["row 2", "column team", "'copd9'", "--register-teams"],
    ),
    "bad yes/no value": (
        f"{HEADER}\nc-8,msk1,K01,L1,2024-03-04,video,yes,no,yes\nc-9,msk1,K01,L1,2024-03-04,video,yes,maybe,yes\n",
        ["row 3", "column goal_setting", "yes or no", "'maybe'"],
    ),
    "bad NHS number check digit": (
        f"{HEADER}\nc-9,msk1,K01,{BAD_NHS},2024-03-04,video,yes,no,yes\n",
        ["row 2", "column patient", "check digit"],
    ),
    "duplicate consultation id with different content": (
        f"{HEADER}\nc-9,msk1,K01,L1,2024-03-04,video,yes,no,yes\nc-9,msk1,K01,L1,2024-03-04,video,no,no,yes\n",
        ["row 3", "column consultation_id", "row 2"],
    ),
    "empty file": ("", ["empty"]),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_faulty_file_is_refused_naming_row_and_column_and_nothing_is_appended(
    store, importer, fault
) -> None:
    text, expected = FAULTS[fault]
    before = store.head().position
    with pytest.raises(ImportRefused) as info:
        importer.import_consultations(text.encode())
    for fragment in expected:
        assert fragment in str(info.value)
    assert store.head().position == before


def test_a_file_that_is_not_utf8_is_refused(store, importer) -> None:
    data = f"{HEADER}\nc-9,msk1,K01,L1,2024-03-04,video,yes,no,yes\nc-10,Ma\xefve,K01,L1,2024-03-04,video,yes,no,yes\n".encode(
        "latin-1"
    )
    before = store.head().position
    with pytest.raises(ImportRefused, match="not UTF-8"):
        importer.import_consultations(data)
    assert store.head().position == before


def test_a_consultation_reimported_with_different_content_is_refused(store, importer) -> None:
    importer.import_consultations(GOOD.encode())
    before = store.head().position
    changed = GOOD.replace(
        "c-2,MSK Pain Team,K01,LOCAL-77,2024-03-05", "c-2,MSK Pain Team,K01,LOCAL-77,2024-03-09"
    )
    with pytest.raises(
        ImportRefused, match="row 3, column occurred_on: consultation 'c-2' is already in the log"
    ):
        importer.import_consultations(changed.encode())
    assert store.head().position == before


def test_no_error_message_ever_shows_a_patient_identifier(store, importer) -> None:
    text = f"{HEADER}\nc-9,msk1,K01,{BAD_NHS},2024-13-04,video,yes,no,yes\nc-10,nope,K01,SECRET-ID-1,2024-03-04,video,yes,no,yes\n"
    with pytest.raises(ImportRefused) as info:
        importer.import_consultations(text.encode())
    message = str(info.value)
    assert BAD_NHS not in message and "SECRET-ID-1" not in message


def test_unknown_teams_are_registered_first_when_asked(store, importer) -> None:
    text = f"{HEADER}\nc-9,copd9,K01,L1,2024-03-04,video,yes,no,yes\n"
    result = importer.import_consultations(text.encode(), register_teams=True)
    assert result.registered_teams == ["copd9"]
    types = [e.type for e in store.read_all(after=1)]
    assert types[0] == "TeamRegistered"


def test_nhs_numbers_are_refused_with_the_demo_key(store) -> None:
    registry = PatientRegistry(store.engine, "demo")
    registry.ensure_schema()
    demo = Importer(store, registry, demo_key=True, projector=Projector(store))
    with pytest.raises(ImportRefused, match="demo"):
        demo.import_consultations(GOOD.encode())


def test_the_cli_import_exits_1_naming_the_row_and_appends_nothing(
    store, db_url, tmp_path, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("SIPDASH_PSEUDONYM_KEY", "cli-test-key-0123456789abcdef0123")
    bad = tmp_path / "bad.csv"
    bad.write_text(f"{HEADER}\nc-9,msk1,K01,L1,2024-03-04,video,yes,no,perhaps\n", encoding="utf-8")
    before = store.head().position
    assert main(["import", "consultations", str(bad), "--db", db_url]) == 1
    err = capsys.readouterr().err
    assert "row 2, column follow_up" in err
    assert store.head().position == before
    good = tmp_path / "good.csv"
    good.write_text(GOOD, encoding="utf-8")
    assert main(["--db", db_url, "import", "consultations", str(good)]) == 0
    assert main(["--db", db_url, "import", "consultations", str(good)]) == 0
    assert "0 events appended" in capsys.readouterr().out
