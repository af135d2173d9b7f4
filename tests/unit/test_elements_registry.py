"""The ELEMENTS registry: the default reproduces exactly today's events and read models, and a
registry with a fourth enabler lives beside it in one process."""

from __future__ import annotations

import warnings
from datetime import date

import pytest

from audit import readmodel as rm
from events.chain import canonical_json
from events.elements import ALL, DEFAULT_ELEMENTS, ELEMENTS, Element, Registry
from events.types import (
    EVENT_TYPES,
    MEASURES,
    AgendaSet,
    CaseNoteReviewed,
    ElementNotApplicable,
    PatientSurveyReturned,
    TargetSet,
    catalogue,
    parse_event,
)

FOURTH = Element("shared_decision", "DecisionShared", "Shared decision", "Decided together.")
FOUR = Registry((*DEFAULT_ELEMENTS, FOURTH))


def test_the_default_registry_is_the_three_enablers_in_order() -> None:
    assert ELEMENTS.names == ("agenda_setting", "goal_setting", "follow_up")
    assert ELEMENTS.event_types == ("AgendaSet", "GoalAgreed", "FollowUpArranged")
    assert ELEMENTS.measures == (*ELEMENTS.names, "all_three") == MEASURES
    assert ELEMENTS.labels == {
        "agenda_setting": "Agenda setting",
        "goal_setting": "Goal setting",
        "follow_up": "Follow-up",
        "all_three": "All three",
    }


def test_the_default_registry_writes_todays_payload_bytes() -> None:
    """The chain hashes these bytes: a default-registry event must serialise exactly as before."""
    review = CaseNoteReviewed(
        round_id="r1",
        consultation_id="c1",
        reviewer_id="rev",
        agenda_setting="yes",
        goal_setting="no",
        follow_up="not_applicable",
    )
    assert canonical_json(review.payload()) == (
        '{"agenda_setting":"yes","consultation_id":"c1","follow_up":"not_applicable",'
        '"goal_setting":"no","reviewer_id":"rev","round_id":"r1","second_review":false}'
    )
    assert (review.type, review.schema_version, review.stream_id) == (
        "CaseNoteReviewed",
        2,
        "audit-r1",
    )
    agenda = AgendaSet(consultation_id="c1", documented_on=date(2025, 3, 4))
    assert (
        canonical_json(agenda.payload()) == '{"consultation_id":"c1","documented_on":"2025-03-04"}'
    )
    assert (agenda.type, agenda.stream_id) == ("AgendaSet", "consultation-c1")
    survey = PatientSurveyReturned(
        survey_id="s1",
        team_id="t1",
        returned_on=date(2025, 3, 4),
        agenda_setting="yes",
        goal_setting="not_sure",
        follow_up="blank",
    )
    assert canonical_json(survey.payload()) == (
        '{"agenda_setting":"yes","follow_up":"blank","goal_setting":"not_sure",'
        '"returned_on":"2025-03-04","survey_id":"s1","team_id":"t1"}'
    )
    assert survey.stream_id == "survey-t1-s1"
    na = ElementNotApplicable(consultation_id="c1", element="follow_up")
    assert (
        canonical_json(na.payload()) == '{"consultation_id":"c1","element":"follow_up","reason":""}'
    )
    target = TargetSet(
        team_id="t1", measure="all_three", target=0.8, from_period="2025-01", reason=""
    )
    assert canonical_json(target.payload()) == (
        '{"from_period":"2025-01","measure":"all_three","reason":"","target":0.8,"team_id":"t1"}'
    )


def test_the_default_catalogue_keeps_todays_class_names_and_order() -> None:
    assert [(name, cls.__name__) for name, cls in EVENT_TYPES.items()][10:16] == [
        ("ConsultationHeld", "ConsultationHeld"),
        ("AgendaSet", "AgendaSet"),
        ("GoalAgreed", "GoalAgreed"),
        ("FollowUpArranged", "FollowUpArranged"),
        ("ElementRetracted", "ElementRetracted"),
        ("ElementNotApplicable", "ElementNotApplicable"),
    ]
    assert catalogue() is catalogue(ELEMENTS) is EVENT_TYPES


def test_the_default_read_models_have_todays_per_enabler_columns() -> None:
    assert [c.name for c in rm.case_notes.columns] == [
        "position", "consultation_id", "team_id", "clinician_id", "patient_ref", "period",
        "occurred_on", "contact", "agenda_setting", "goal_setting", "follow_up", "recorded_at",
        "init_agenda_setting", "init_goal_setting", "init_follow_up", "init_all_three",
        "imd_quintile", "na_agenda_setting", "na_goal_setting", "na_follow_up",
        "init_na_agenda_setting", "init_na_goal_setting", "init_na_follow_up",
        "init_na_all_three",
    ]  # fmt: skip
    assert [c.name for c in rm.reviews.columns][7:10] == list(ELEMENTS.names)
    assert [c.name for c in rm.surveys.columns][5:8] == list(ELEMENTS.names)
    assert [c.name for c in rm.reach_imd.columns][3:] == [
        "agenda_setting", "goal_setting", "follow_up", "all_three", "notes",
        "den_agenda_setting", "den_goal_setting", "den_follow_up", "den_all_three",
    ]  # fmt: skip
    assert rm.read_models() is rm.read_models(ELEMENTS)
    assert rm.metadata is rm.read_models().metadata
    assert rm.read_models().models["case_notes"].__name__ == "RmCaseNotes"


def test_a_fourth_enabler_registry_builds_beside_the_default_without_clashing() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # SQLAlchemy warns when a class name is registered twice
        four = rm.read_models(FOUR)
        types = catalogue(FOUR)
    assert four is rm.read_models(FOUR)
    assert four.metadata is not rm.metadata
    columns = [c.name for c in four.tables["case_notes"].columns]
    assert columns[8:12] == [*ELEMENTS.names, "shared_decision"]
    assert "init_na_shared_decision" in columns and "na_shared_decision" in columns
    assert "den_shared_decision" in four.tables["reach_clinician"].columns
    assert types["DecisionShared"].__name__.startswith("DecisionShared")
    assert types["CaseNoteReviewed"] is not CaseNoteReviewed
    review = parse_event(
        "CaseNoteReviewed",
        {
            "round_id": "r1",
            "consultation_id": "c1",
            "reviewer_id": "rev",
            **dict.fromkeys(FOUR.names, "yes"),
        },
        FOUR,
    )
    assert review.payload()["shared_decision"] == "yes"
    target = parse_event(
        "TargetSet",
        {
            "team_id": "t1",
            "measure": "shared_decision",
            "target": 0.8,
            "from_period": "2025-01",
            "reason": "",
        },
        FOUR,
    )
    assert target.payload()["measure"] == "shared_decision"
    assert FOUR.labels[ALL] == "All 4"


def test_the_default_catalogue_refuses_a_fourth_enablers_findings() -> None:
    with pytest.raises(ValueError, match="shared_decision"):
        parse_event(
            "CaseNoteReviewed",
            {
                "round_id": "r1",
                "consultation_id": "c1",
                "reviewer_id": "rev",
                **dict.fromkeys(FOUR.names, "yes"),
            },
        )


@pytest.mark.parametrize(
    ("elements", "message"),
    [
        ((), "at least one"),
        ((DEFAULT_ELEMENTS[0], DEFAULT_ELEMENTS[0]), "given twice: agenda_setting"),
        ((Element("x_x", "AgendaSet", "X"), DEFAULT_ELEMENTS[0]), "event type given twice"),
    ],
)
def test_a_registry_refuses_no_enablers_and_duplicates(elements: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Registry(elements)


@pytest.mark.parametrize("name", ["all_three", "Agenda", "1st", "a" * 21, "with space"])
def test_an_enabler_name_must_be_a_column_name_and_not_the_bundle(name: str) -> None:
    with pytest.raises(ValueError, match="enabler name"):
        Element(name, "SomethingDone", "Label")


def test_an_enablers_event_type_may_not_reuse_an_existing_type() -> None:
    clash = Registry((*DEFAULT_ELEMENTS, Element("consulted", "ConsultationHeld", "C")))
    with pytest.raises(ValueError, match="ConsultationHeld"):
        catalogue(clash)


def test_two_registries_differing_only_in_a_label_build_side_by_side() -> None:
    relabelled = Registry((*DEFAULT_ELEMENTS, Element(FOURTH.name, FOURTH.event_type, "Decided")))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        first, second = rm.read_models(FOUR), rm.read_models(relabelled)
    assert first is not second and FOUR.suffix != relabelled.suffix


def test_labels_and_the_worklist_questions_come_from_the_registry() -> None:
    from audit import labels

    assert ELEMENTS.labels == labels.MEASURE_LABELS
    assert {e.name: e.help for e in ELEMENTS} == labels.ELEMENT_HELP
    assert all(labels.ELEMENT_HELP.values())  # every enabler has its reviewer's question
    assert tuple(labels.ELEMENTS) == ELEMENTS.names


def test_a_one_enabler_registry_still_folds_a_consistent_layout() -> None:
    from audit.projections import _Layout

    one = Registry((DEFAULT_ELEMENTS[2],))
    layout = _Layout(one, rm.read_models(one))
    assert (layout.n, layout.sums, layout.s_all, layout.s_notes) == (1, 5, 1, 2)
    assert layout.columns[layout.flag] == "follow_up"
    assert layout.columns[layout.init + 1] == "init_all_three"
    assert layout.columns[layout.init_na + 1] == "init_na_all_three"
