"""The shared CSV row loop and the row models (audit.csv_rows): one validation per row, every
problem of a file collected, each naming file, row and column, never echoing an identifier."""

from __future__ import annotations

import uuid
from datetime import date

from audit.csv_rows import (
    ConsultationRow,
    RowContext,
    SurveyRow,
    TrainingRow,
    consultation_row_model,
    validate_rows,
)
from audit.imports import NAMESPACE, event_id

TODAY = date(2025, 1, 1)
NHS = "943 476 5919"


def consultation(**cells: str) -> dict[str, str]:
    row = {
        "consultation_id": "c1",
        "team": "msk1",
        "clinician": "K1",
        "patient": "P001",
        "occurred_on": "2024-03-01",
        "contact": "video",
        "agenda_setting": "yes",
        "goal_setting": "no",
        "follow_up": "na",
    }
    row.update(cells)
    return row


def ctx(**kw) -> RowContext:
    return RowContext(today=TODAY, teams={"msk1": "msk1", "msk pain": "msk1"}, **kw)


def test_a_good_row_is_validated_into_typed_values() -> None:
    out = validate_rows(
        ConsultationRow, [(2, consultation(team="MSK Pain"))], "f.csv", context=ctx()
    )
    assert out.errors == []
    ((n, row),) = out.rows
    assert n == 2 and row.team == "msk1" and row.occurred_on == date(2024, 3, 1)
    assert (row.agenda_setting, row.goal_setting, row.follow_up) == ("yes", "no", "not_applicable")
    assert row.patient.canonical and row.imd_quintile is None


def test_every_bad_row_of_a_file_is_reported_not_just_the_first() -> None:
    rows = [
        (2, consultation(occurred_on="01/03/2024")),
        (3, consultation()),
        (4, consultation(contact="carrier pigeon")),
        (7, consultation(agenda_setting="maybe")),
    ]
    out = validate_rows(ConsultationRow, rows, "f.csv", context=ctx())
    assert out.errors == [
        "f.csv: row 2, column occurred_on: expected a date YYYY-MM-DD, got '01/03/2024'",
        "f.csv: row 4, column contact: expected one of face_to_face, telephone, video, got "
        "'carrier pigeon'",
        "f.csv: row 7, column agenda_setting: expected yes or no (or na where it does not "
        "apply), got 'maybe'",
    ]
    assert [n for n, _ in out.rows] == [3]


def test_every_bad_cell_of_one_row_is_reported_by_its_column() -> None:
    row = consultation(
        consultation_id="", team="nowhere", occurred_on="2030-01-01", goal_setting="x"
    )
    out = validate_rows(ConsultationRow, [(2, row)], "f.csv", context=ctx())
    columns = [e.split(", column ")[1].split(":")[0] for e in out.errors]
    assert columns == ["consultation_id", "team", "occurred_on", "goal_setting"]
    assert (
        "is not a registered team (register it first, or import with --register-teams)"
        in (out.errors[1])
    )
    assert "2030-01-01 is outside 1990-01-01..2025-01-01" in out.errors[2]


def test_an_id_with_a_control_character_is_refused_naming_its_column() -> None:
    out = validate_rows(
        ConsultationRow, [(2, consultation(clinician="K\t1"))], "f.csv", context=ctx()
    )
    assert out.errors == [
        "f.csv: row 2, column clinician: contains a control character (a tab, …); expected "
        "printable text"
    ]


def test_an_nhs_number_outside_the_patient_column_is_refused_and_never_echoed() -> None:
    rows = [(2, consultation(clinician=NHS, contact=NHS)), (3, consultation(patient=NHS))]
    out = validate_rows(ConsultationRow, rows, "f.csv", context=ctx(), guard_skip=("patient",))
    assert "f.csv: row 2, column clinician: looks like an NHS number (not shown)" in out.errors[0]
    assert any("row 2, column contact: looks like an NHS number" in e for e in out.errors)
    assert any("row 2, column contact: expected one of" in e for e in out.errors)
    assert all("943" not in e for e in out.errors)
    assert [n for n, _ in out.rows] == [3]  # an NHS number is what the patient column is for


def test_a_bad_patient_identifier_is_named_but_never_quoted() -> None:
    bad = "943 476 5918"  # NHS-number-shaped, wrong check digit
    out = validate_rows(
        ConsultationRow,
        [(2, consultation(patient=bad))],
        "f.csv",
        context=ctx(),
        guard_skip=("patient",),
    )
    assert len(out.errors) == 1 and out.errors[0].startswith("f.csv: row 2, column patient: ")
    assert "943" not in out.errors[0]


def test_an_nhs_number_with_the_demo_key_is_refused() -> None:
    out = validate_rows(
        ConsultationRow,
        [(2, consultation(patient=NHS))],
        "f.csv",
        context=ctx(demo_key=True),
        guard_skip=("patient",),
    )
    assert (
        "column patient: an NHS number cannot be imported with the demo pseudonym key"
        in (out.errors[0])
    )


def test_register_teams_accepts_a_new_team_and_remembers_its_first_row() -> None:
    context = ctx(register_teams=True)
    rows = [(2, consultation(team="copd")), (3, consultation(team="copd")), (4, consultation())]
    out = validate_rows(ConsultationRow, rows, "f.csv", context=context)
    assert out.errors == [] and context.unknown_teams == {"copd": 2}
    assert [r.team for _, r in out.rows] == ["copd", "copd", "msk1"]


def test_an_anonymous_file_reports_a_row_with_an_identifier_for_that_alone() -> None:
    row = {
        "survey_id": "s1",
        "team": "msk1",
        "returned_on": "not a date",
        "agenda_setting": NHS,
        "goal_setting": "yes",
        "follow_up": "no",
    }
    out = validate_rows(
        SurveyRow, [(2, row)], "s.csv", context=ctx(), guard_message="no", guard_stops_row=True
    )
    assert out.errors == ["s.csv: row 2, column agenda_setting: no"]
    assert out.rows == []


def test_a_rule_across_cells_runs_on_valid_rows_only() -> None:
    context = ctx(clinicians={"K1": "msk1", "R1": "copd"}, team_names={"msk1": "MSK"})
    rows = [
        (2, {"clinician": "K1", "team": "msk1", "programme": "ADP", "trained_on": "2024-02-10"}),
        (3, {"clinician": "R1", "team": "msk1", "programme": "ADP", "trained_on": "2024-02-10"}),
        (4, {"clinician": "K9", "team": "msk1", "programme": "", "trained_on": "2024-02-10"}),
    ]
    out = validate_rows(
        TrainingRow, rows, "t.csv", context=context, check=TrainingRow.clinician_problem
    )
    assert out.errors == [
        "t.csv: row 3, column team: 'R1' belongs to 'copd', not 'MSK'",
        "t.csv: row 4, column programme: expected the programme's name (e.g. ADP), got nothing",
    ]
    assert [n for n, _ in out.rows] == [2]


def test_the_consultation_row_model_follows_the_enabler_registry() -> None:
    model = consultation_row_model(("agenda_setting", "goal_setting", "follow_up", "shared_plan"))
    out = validate_rows(model, [(2, consultation(shared_plan="maybe"))], "f.csv", context=ctx())
    assert out.errors == [
        "f.csv: row 2, column shared_plan: expected yes or no (or na where it does not apply), "
        "got 'maybe'"
    ]


def test_import_event_ids_are_uuid5_of_the_key() -> None:
    for key in (("consultation", "c1", "ConsultationHeld"), ("team", "Ünïcode team"), ("x",)):
        assert event_id(*key) == str(uuid.uuid5(NAMESPACE, "\x1f".join(key)))


def test_events_built_from_validated_rows_equal_the_validated_events() -> None:
    from audit.csv_rows import trusted
    from events.types import ConsultationHeld, ElementNotApplicable, PatientSurveyReturned

    cases = [
        (
            ConsultationHeld,
            {
                "consultation_id": "c1",
                "team_id": "msk1",
                "clinician_id": "K1",
                "patient_ref": "p_" + "a" * 16,
                "occurred_on": date(2024, 3, 1),
                "contact": "video",
                "imd_quintile": None,
            },
        ),
        (ElementNotApplicable, {"consultation_id": "c1", "element": "follow_up", "reason": ""}),
        (
            PatientSurveyReturned,
            {
                "survey_id": "s1",
                "team_id": "msk1",
                "returned_on": date(2024, 3, 1),
                "agenda_setting": "yes",
                "goal_setting": "blank",
                "follow_up": "not_sure",
                "confidence": 7,
            },
        ),
    ]
    for cls, values in cases:
        built, checked = trusted(cls, **values), cls(**values)
        assert built == checked
        assert built.payload() == checked.payload()
        assert (built.stream_id, built.natural_time()) == (
            checked.stream_id,
            checked.natural_time(),
        )
