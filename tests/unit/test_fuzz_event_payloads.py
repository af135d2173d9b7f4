"""Event payload validation, fuzzed: any dict gives an event or a named refusal, nothing else.

``parse_event`` is what stands between a payload (from a form, an import, a stored row) and
the log. Whatever it is given it must either return the event or raise
``EventValidationError`` / ``UnknownEventType`` with a message that names the type and the
field — and never echoes the offending value.
"""

from __future__ import annotations

import re
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from events import EVENT_TYPES, Event, EventValidationError, UnknownEventType, parse_event

TOKEN = "p_" + "0123456789abcdef" * 2

VALID: dict[str, dict[str, Any]] = {
    "TeamRegistered": {"team_id": "msk1", "name": "MSK", "site": "North", "service": "MSK pain"},
    "MilestoneLogged": {
        "team_id": "msk1",
        "on": "2024-03-01",
        "kind": "pdsa_cycle",
        "title": "PDSA 1",
    },
    "BaselineFixed": {
        "team_id": "msk1",
        "measure": "all_three",
        "period": "2024-06",
        "reason": "twelve points",
    },
    "LimitsRecalculated": {
        "team_id": "msk1",
        "measure": "goal_setting",
        "period": "2024-09",
        "reason": "change",
    },
    "TargetSet": {
        "team_id": "msk1",
        "measure": "follow_up",
        "target": 0.8,
        "from_period": "2024-01",
        "reason": "programme",
    },
    "CommentaryAdded": {"team_id": "msk1", "period": "2024-05", "text": "ok", "author": "lead"},
    "CommentaryWithdrawn": {
        "team_id": "msk1",
        "period": "2024-05",
        "commentary_event_id": "0192f1a0-0000-7000-8000-000000000001",
        "withdrawn_by": "lead",
    },
    "ReviewSignedOff": {"team_id": "msk1", "period": "2024-05", "signed_off_by": "Dr X"},
    "SpcSettingsChanged": {"programme_id": "sip", "shift_points": 7, "reason": "board"},
    "ClinicianRegistered": {"clinician_id": "k1", "team_id": "msk1", "role": "physio"},
    "ClinicianTrained": {"clinician_id": "k1", "team_id": "msk1", "on": "2024-02-02"},
    "ConsultationHeld": {
        "consultation_id": "c1",
        "team_id": "msk1",
        "clinician_id": "k1",
        "patient_ref": TOKEN,
        "occurred_on": "2024-03-04",
        "contact": "video",
    },
    "AgendaSet": {"consultation_id": "c1", "documented_on": "2024-03-04"},
    "GoalAgreed": {"consultation_id": "c1", "documented_on": "2024-03-04"},
    "FollowUpArranged": {"consultation_id": "c1", "documented_on": "2024-03-04"},
    "ElementRetracted": {"consultation_id": "c1", "element": "goal_setting", "reason": "typo"},
    "ElementNotApplicable": {"consultation_id": "c1", "element": "follow_up"},
    "AuditRoundOpened": {
        "round_id": "r1",
        "team_id": "msk1",
        "period": "2024-03",
        "method": "sample",
        "sample_size": 2,
        "sampling_seed": "msk1:2024-03",
        "sampled": ["c1", "c2"],
    },
    "CaseNoteReviewed": {
        "round_id": "r1",
        "consultation_id": "c1",
        "reviewer_id": "auto",
        "agenda_setting": "yes",
        "goal_setting": "no",
        "follow_up": "not_applicable",
    },
    "AuditRoundClosed": {"round_id": "r1"},
    "PatientSurveyReturned": {
        "survey_id": "s1",
        "team_id": "msk1",
        "returned_on": "2024-03-04",
        "agenda_setting": "yes",
        "goal_setting": "not_sure",
        "follow_up": "doesnt_apply",
        "confidence": 7,
    },
    "PatientForgotten": {"subject": "patients", "patient_ref": TOKEN, "requested_by": "Dr X"},
    "ExportRecorded": {"subject": "exports", "what": "review pack"},
    "PseudonymKeyRecorded": {"subject": "pseudonym-key", "check": "0123456789abcdef" * 2},
}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
#: values the types tend to find hard: edge dates, huge numbers, odd strings
awkward = st.sampled_from(
    [
        "",
        " ",
        "\n",
        "x" * 121,
        "x" * 30_000,
        "1900-01-01",
        "2200-12-31",
        "1989-12-31",
        "2100-12-31",
        "2024-02-30",
        "2024-13",
        "0000-00-00",
        -1,
        0,
        10**30,
        -(10**30),
        1.5,
        float("nan"),
        float("inf"),
        True,
        [],
        {},
        "p_XYZ",
        "yes",
        "na",
    ]
)
type_names = st.sampled_from(sorted(EVENT_TYPES)) | st.text(max_size=20)


def _outcome(type_name: str, payload: Any) -> Event | Exception:
    try:
        return parse_event(type_name, payload)
    except (EventValidationError, UnknownEventType) as exc:
        return exc


@settings(max_examples=200, deadline=None)
@given(type_name=type_names, payload=st.dictionaries(st.text(max_size=15), json_values))
def test_any_dict_gives_an_event_or_a_named_refusal(type_name: str, payload: dict) -> None:
    result = _outcome(type_name, payload)  # any other exception fails the test
    if isinstance(result, UnknownEventType):
        assert type_name not in EVENT_TYPES
    elif isinstance(result, EventValidationError):
        assert str(result).startswith(f"{type_name}: ")
    else:
        assert result.type == type_name


@settings(max_examples=100, deadline=None)
@given(type_name=st.sampled_from(sorted(EVENT_TYPES)), payload=json_values)
def test_a_payload_that_is_not_an_object_is_refused_not_crashed_on(
    type_name: str, payload: Any
) -> None:
    assume(not isinstance(payload, dict))
    result = _outcome(type_name, payload)
    assert isinstance(result, EventValidationError)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    type_name=st.sampled_from(sorted(EVENT_TYPES)),
    data=st.data(),
    value=awkward | json_values,
)
def test_one_bad_field_is_refused_naming_that_field(
    type_name: str, data: st.DataObject, value: Any
) -> None:
    payload = dict(VALID[type_name])
    field = data.draw(st.sampled_from(sorted(payload)), label="field")
    payload[field] = value
    result = _outcome(type_name, payload)
    if isinstance(result, Event):
        return  # the value happened to be acceptable for that field
    message = str(result)
    assert message.startswith(f"{type_name}: ")
    assert re.search(rf"\b{field}\b", message), message


@settings(max_examples=200, deadline=None)
@given(
    type_name=st.sampled_from(sorted(EVENT_TYPES)),
    data=st.data(),
    marker=st.from_regex(r"zq[0-9a-f]{12}", fullmatch=True),
)
def test_a_refusal_never_shows_the_value_it_refused(
    type_name: str, data: st.DataObject, marker: str
) -> None:
    payload = dict(VALID[type_name])
    field = data.draw(st.sampled_from(sorted(payload)), label="field")
    payload[field] = data.draw(
        st.sampled_from([marker, f"{marker}\n", marker * 20, [marker], {"x": marker}]),
        label="value",
    )
    result = _outcome(type_name, payload)
    assert marker not in str(result) if isinstance(result, Exception) else True


@settings(max_examples=100, deadline=None)
@given(type_name=st.sampled_from(sorted(EVENT_TYPES)), extra=st.text(min_size=1, max_size=12))
def test_an_unknown_field_is_refused_by_name(type_name: str, extra: str) -> None:
    payload = dict(VALID[type_name])
    assume(extra not in payload and extra not in EVENT_TYPES[type_name].model_fields)
    payload[extra] = "anything"
    result = _outcome(type_name, payload)
    assert isinstance(result, EventValidationError)


def test_every_example_payload_is_valid_and_round_trips() -> None:
    assert set(VALID) == set(EVENT_TYPES)
    for type_name, payload in VALID.items():
        event = parse_event(type_name, payload)
        assert parse_event(type_name, event.payload()) == event


def test_dates_outside_1990_to_2100_are_refused_naming_the_field() -> None:
    for day in ("1900-01-01", "1989-12-31", "2101-01-01", "2200-06-15"):
        payload = dict(VALID["ConsultationHeld"], occurred_on=day)
        result = _outcome("ConsultationHeld", payload)
        assert isinstance(result, EventValidationError)
        assert "occurred_on" in str(result)
    for day in ("1990-01-01", "2100-12-31"):
        assert isinstance(
            _outcome("ConsultationHeld", dict(VALID["ConsultationHeld"], occurred_on=day)), Event
        )


def test_negative_sample_sizes_and_proportions_outside_0_to_1_are_refused() -> None:
    for field, value in (("sample_size", -1), ("second_review_share", 1.5)):
        result = _outcome("AuditRoundOpened", dict(VALID["AuditRoundOpened"], **{field: value}))
        assert isinstance(result, EventValidationError) and field in str(result)
    for value in (-0.1, 1.01, float("nan")):
        result = _outcome("TargetSet", dict(VALID["TargetSet"], target=value))
        assert isinstance(result, EventValidationError) and "target" in str(result)
