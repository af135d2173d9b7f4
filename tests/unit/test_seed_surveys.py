"""The seed's patient surveys: anonymous, realistic, and drawn from their own random stream."""

from __future__ import annotations

import hashlib
import json
from collections import Counter

import pytest

import seed

#: Digest of the demo's (seed 42) events other than surveys, as generated before surveys
#: existed: adding surveys must leave every consultation, review and milestone byte-identical.
BEFORE_SURVEYS = (75539, "45be15d7c185003f51a90ce12492c624a84efd091719176d54846313133dc605")


@pytest.fixture(scope="module")
def demo():
    return list(seed.generate("demo", 42))


def test_surveys_leave_every_other_seeded_event_byte_identical(demo) -> None:
    digest, n = hashlib.sha256(), 0
    for new in demo:
        if new.event.type == "PatientSurveyReturned":
            continue
        n += 1
        fields = [
            str(new.event_id),
            new.event.type,
            json.dumps(new.event.payload(), sort_keys=True),
            new.recorded_at.isoformat(),
            str(new.occurred_at),
        ]
        digest.update("\x1f".join(fields).encode() + b"\x1e")
    assert (n, digest.hexdigest()) == BEFORE_SURVEYS


def test_surveys_are_anonymous_and_keyed_by_team_and_survey_id(demo) -> None:
    surveys = [e.event for e in demo if e.event.type == "PatientSurveyReturned"]
    assert len(surveys) > 5000
    keys = [(s.team_id, s.survey_id) for s in surveys]
    assert len(set(keys)) == len(keys)
    assert all(not any("patient" in k for k in s.payload()) for s in surveys)
    assert all(s.stream_id == f"survey-{s.team_id}-{s.survey_id}" for s in surveys)


def test_survey_answers_look_like_real_returns(demo) -> None:
    surveys = [e.event for e in demo if e.event.type == "PatientSurveyReturned"]
    answers = Counter(a for s in surveys for a in (s.agenda_setting, s.goal_setting, s.follow_up))
    total = sum(answers.values())
    assert set(answers) == {"yes", "no", "not_sure", "doesnt_apply", "blank"}
    assert 0.01 < answers["blank"] / total < 0.06
    assert 0.02 < answers["doesnt_apply"] / total < 0.08
    assert answers["not_sure"] < answers["no"]
    confidence = Counter(s.confidence for s in surveys)
    assert 0.05 < confidence[None] / len(surveys) < 0.15
    assert set(confidence) - {None} <= set(range(11))
    per_team_month = Counter((s.team_id, s.returned_on.strftime("%Y-%m")) for s in surveys)
    assert min(per_team_month.values()) >= 15 and max(per_team_month.values()) <= 30


def test_a_survey_is_recorded_after_its_return_and_never_out_of_order(demo) -> None:
    stamps = [e.recorded_at for e in demo]
    assert stamps == sorted(stamps)
    for new in demo:
        if new.event.type == "PatientSurveyReturned":
            assert new.recorded_at.date() > new.event.returned_on


def test_the_estimate_counts_the_surveys(demo) -> None:
    assert abs(seed.estimate_events("demo", seed=42) - len(demo)) / len(demo) < 0.05
