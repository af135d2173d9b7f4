"""Imports with the fast row checks and the collector pause (issues #17, #19): the same events
and refusals as before, an identifier refused in every column (named, never echoed), and the
cyclic collector paused only while an import runs."""

from __future__ import annotations

import gc

import pytest

from audit.imports import ImportRefused
from audit.projections import Projector
from audit.survey_imports import SurveyImporter
from events import EventStore, NewEvent
from events.types import TeamRegistered

NHS = "943 476 5919"
CONSULTATIONS = (
    "consultation_id,team,clinician,patient,occurred_on,contact,agenda_setting,goal_setting,"
    "follow_up,imd_quintile"
)
SURVEYS = "survey_id,team,returned_on,agenda_setting,goal_setting,follow_up,confidence"


@pytest.fixture
def store(db_url: str) -> EventStore:
    s = EventStore(db_url)
    Projector(s).ensure_schema()
    s.append([NewEvent(TeamRegistered(team_id="msk1", name="MSK", site="N", service="MSK"))])
    yield s
    s.dispose()


def consultations(*rows: str) -> bytes:
    return "\n".join((CONSULTATIONS, *rows)).encode() + b"\n"


def surveys(*rows: str) -> bytes:
    return "\n".join((SURVEYS, *rows)).encode() + b"\n"


@pytest.mark.parametrize(
    ("cells", "column"),
    [
        (f"c-2,msk1,K1,P2,2024-03-04,video,{NHS},no,yes,3", "agenda_setting"),
        (f"c-2,msk1,K1,P2,2024-03-04,{NHS},yes,no,yes,3", "contact"),
        ("c-2,msk1,K1,P2,2024-03-04,video,yes,no,yes,0000000003", "imd_quintile"),
        (f"c-2,msk1,K1,P2,{NHS},video,yes,no,yes,3", "occurred_on"),
        (f"c-2,msk1,{NHS},P2,2024-03-04,video,yes,no,yes,3", "clinician"),
    ],
)
def test_an_identifier_in_any_consultation_column_is_refused_named_and_not_echoed(
    store, importer, cells, column
) -> None:
    """``0000000003`` is a quintile to the row model (3) but ten digits to the guard: refused."""
    head = store.head().position
    with pytest.raises(ImportRefused) as refused:
        importer.import_consultations(
            consultations("c-1,msk1,K1,P1,2024-03-04,video,yes,no,yes,3", cells)
        )
    message = str(refused.value)
    assert f"row 3, column {column}: looks like an NHS number (not shown)" in message
    for form in (NHS, "9434765919", "0000000003"):
        assert form not in message
    assert store.head().position == head


@pytest.mark.parametrize("column", ["agenda_setting", "goal_setting", "follow_up", "confidence"])
def test_an_identifier_in_a_survey_answer_column_is_refused_naming_row_and_column(
    store, column
) -> None:
    cells = dict(
        zip(SURVEYS.split(","), ["s-2", "msk1", "2024-03-04", "yes", "no", "yes", "7"], strict=True)
    )
    cells[column] = NHS
    head = store.head().position
    with pytest.raises(ImportRefused) as refused:
        SurveyImporter(store).import_surveys(
            surveys("s-1,msk1,2024-03-04,yes,no,yes,7", ",".join(cells.values()))
        )
    message = str(refused.value)
    assert f"row 3, column {column}: a value shaped like an NHS number (not shown)" in message
    assert NHS not in message and "9434765919" not in message
    assert store.head().position == head


def test_odd_spellings_import_the_same_values_as_the_usual_ones(store, importer) -> None:
    """Rows the fast check leaves to the model (a non-ASCII digit, ``3e0``) land as if typed
    the usual way: the model still decides them."""
    importer.import_consultations(
        consultations(
            "c-1,msk1,K1,P1,2024-03-04,Face to face,Y,false,n/a,3e0",
            "c-2,MSK,K1,P2,2024-03-04,video,yes,no,na,3",
        )
    )
    SurveyImporter(store).import_surveys(
        surveys("s-1,msk1,2024-03-04,yes,no,yes,٣", "s-2,msk1,2024-03-04,Yes,No,YES,3")
    )
    payloads = {
        (e.type, e.stream_id): e.payload
        for e in store.read_all()
        if e.type in ("ConsultationHeld", "PatientSurveyReturned")
    }
    c1, c2 = (payloads["ConsultationHeld", f"consultation-{c}"] for c in ("c-1", "c-2"))
    assert (c1["contact"], c1["imd_quintile"], c2["imd_quintile"]) == ("face_to_face", 3, 3)
    s1, s2 = (payloads["PatientSurveyReturned", f"survey-msk1-{s}"] for s in ("s-1", "s-2"))
    assert s1 | {"survey_id": "s-2"} == s2


def test_an_import_runs_with_the_cyclic_collector_paused_and_resumes_it(store, importer) -> None:
    seen: list[bool] = []
    importer.import_consultations(
        consultations("c-1,msk1,K1,P1,2024-03-04,video,yes,no,yes,3"),
        progress=lambda _n: seen.append(gc.isenabled()),
    )
    SurveyImporter(store).import_surveys(
        surveys("s-1,msk1,2024-03-04,yes,no,yes,7"),
        progress=lambda _n: seen.append(gc.isenabled()),
    )
    assert seen and not any(seen)
    assert gc.isenabled()
    with pytest.raises(ImportRefused):
        importer.import_consultations(consultations("c-9,msk1,K1,P1,2024-03-04,video,maybe,no,no,"))
    assert gc.isenabled()


def test_a_survey_file_read_the_fast_way_gives_the_checked_ways_events(store) -> None:
    importer = SurveyImporter(store)
    data = surveys(
        "s-1, MSK ,2024-03-04,Yes,no,Not sure,07",
        "s-2,new-team,2024-03-05,,doesn't apply,N/A,",
        "s-3,msk1,2024-03-06,unsure,y,n,10",
        "s-1,new-team,2024-03-07,yes,yes,yes,0",
    )
    teams = {"msk1": "msk1", "msk": "msk1"}
    fast = importer._fast_file(data, "s.csv", teams, register_teams=True)
    checked = importer._checked(data, "s.csv", teams, register_teams=True)
    assert fast is not None
    assert fast[0] == checked[0] == 4 and fast[2] == checked[2] == {"new-team": 3}
    assert [(n, e.payload()) for n, e in fast[1]] == [(n, e.payload()) for n, e in checked[1]]


@pytest.mark.parametrize(
    "rows",
    [
        ("s-1,msk1,2024-03-04,yes,no,yes,7", "", "s-2,msk1,2024-03-04,yes,no,yes,7"),  # blank
        ("s-1,msk1,2024-03-04,yes,no,yes",),  # short row
        ("s-1,msk1,2024-03-04,yes,no,yes,blank",),  # a spelling left to the model
        ("s-1,msk1,2024-03-04,yes,no,yes,7", "s-1,msk1,2024-03-04,yes,no,yes,7"),  # repeated
        (f"{NHS},msk1,2024-03-04,yes,no,yes,7",),  # an identifier-shaped id
        ("s-1,msk1,2024-03-04,maybe,no,yes,7",),  # a refusal
    ],
)
def test_an_unusual_survey_file_is_left_to_the_checked_way(store, rows) -> None:
    """The fast way never decides anything unusual: the checked way words every refusal."""
    assert (
        SurveyImporter(store)._fast_file(surveys(*rows), "s.csv", {"msk1": "msk1"}, False) is None
    )


def test_a_consultation_file_read_the_fast_way_gives_the_checked_ways_rows(importer) -> None:
    data = consultations(
        "c-1, MSK ,K1,P1,2024-03-04,Face to face,Y,false,n/a,3",
        "c-2,new-team,K2,LOCAL-77,2024-03-05,video,yes,no,na,",
        f"c-3,msk1,K1,{NHS},2024-03-06,telephone,1,0,not applicable,5.0",
    )
    teams = {"msk1": "msk1", "msk": "msk1"}
    fast = importer._fast_consultations(data, "c.csv", teams, register_teams=True)
    checked = importer._checked_consultations(data, "c.csv", teams, register_teams=True)
    assert fast is not None and fast == checked
    assert fast[2] == {"new-team": 3}


@pytest.mark.parametrize(
    "rows",
    [
        ("c-1,msk1,K1,P1,2024-03-04,video,yes,no,yes,3", ""),  # a blank row
        ("c-1,msk1,K1,P1,2024-03-04,video,yes,no,yes",),  # short row
        ("c-1,msk1,K1,P1,2024-03-04,video,yes,no,yes,3e0",),  # a spelling left to the model
        ("c-1,msk1,K1,P1,2024-03-04,video,yes,no,yes,3",) * 2,  # repeated
        (f"c-1,msk1,{NHS},P1,2024-03-04,video,yes,no,yes,3",),  # identifier-shaped clinician
        ("c-1,msk1,K1,P1,2024-03-04,pigeon,yes,no,yes,3",),  # a refusal
        ("c-1,nope,K1,P1,2024-03-04,video,yes,no,yes,3",),  # an unknown team
    ],
)
def test_an_unusual_consultation_file_is_left_to_the_checked_way(importer, rows) -> None:
    fast = importer._fast_consultations(consultations(*rows), "c.csv", {"msk1": "msk1"}, False)
    assert fast is None


def test_an_imported_survey_and_consultation_are_logged_at_their_own_dates(store, importer) -> None:
    """The log's occurred_at is the fact's own date (returned_on, occurred_on, documented_on),
    midnight UTC, on the fast way as on the checked way."""
    importer.import_consultations(consultations("c-1,msk1,K1,P1,2024-03-04,video,yes,no,na,"))
    SurveyImporter(store).import_surveys(
        surveys("s-1,msk1,2024-03-05,yes,no,yes,7", "s-2,msk1,2024-03-06,blank,no,yes,")
    )
    at = {e.type + e.stream_id: e.occurred_at for e in store.read_all()}
    assert at["ConsultationHeldconsultation-c-1"] == "2024-03-04T00:00:00.000000Z"
    assert at["AgendaSetconsultation-c-1"] == "2024-03-04T00:00:00.000000Z"
    assert at["PatientSurveyReturnedsurvey-msk1-s-1"] == "2024-03-05T00:00:00.000000Z"
    assert at["PatientSurveyReturnedsurvey-msk1-s-2"] == "2024-03-06T00:00:00.000000Z"
