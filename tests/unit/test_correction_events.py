"""The events added for corrections and sign-offs (issue #13): shapes and the v1 upcast."""

from __future__ import annotations

import pytest

from events.types import (
    PROGRAMME,
    EventValidationError,
    ReviewSignedOff,
    TeamRegistered,
    parse_event,
)
from events.upcast import upcast


def test_a_version_1_sign_off_reads_as_version_2_with_no_viewed_head() -> None:
    v1 = {"team_id": "msk1", "period": "2024-05", "signed_off_by": "Dr X"}
    payload = upcast("ReviewSignedOff", 1, v1)
    assert payload == {**v1, "viewed_head": None}
    assert parse_event("ReviewSignedOff", payload).viewed_head is None
    assert ReviewSignedOff.schema_version == 2


def test_a_sign_off_records_the_head_in_any_displayed_length_but_only_hex() -> None:
    head = "ab" * 32
    assert (
        ReviewSignedOff(
            team_id=PROGRAMME, period="2024-05", signed_off_by="Chair", viewed_head=head
        ).stream_id
        == f"team-{PROGRAMME}"
    )
    with pytest.raises(EventValidationError, match="viewed_head"):
        parse_event(
            "ReviewSignedOff",
            {"team_id": "msk1", "period": "2024-05", "signed_off_by": "X", "viewed_head": "zz"},
        )


def test_no_team_can_be_registered_under_the_programme_subject() -> None:
    with pytest.raises(ValueError, match="reserved"):
        TeamRegistered(team_id=PROGRAMME, name="P", site="S", service="X")


def test_not_applicable_and_withdrawal_name_what_they_are_about() -> None:
    na = parse_event("ElementNotApplicable", {"consultation_id": "c1", "element": "follow_up"})
    assert na.stream_id == "consultation-c1"
    with pytest.raises(EventValidationError, match="element"):
        parse_event("ElementNotApplicable", {"consultation_id": "c1", "element": "all_three"})
    with pytest.raises(EventValidationError, match="commentary_event_id"):
        parse_event(
            "CommentaryWithdrawn", {"team_id": "t", "period": "2024-05", "withdrawn_by": "x"}
        )
