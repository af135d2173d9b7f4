"""The seed's patient surveys: anonymous, realistic, and drawn from their own random stream."""

from __future__ import annotations

import hashlib
import json
from collections import Counter

import pytest

import seed


@pytest.fixture(scope="module")
def demo():
    return list(seed.generate("demo", 42))


def _fingerprint(new) -> tuple:
    return (
        str(new.event_id),
        new.event.type,
        json.dumps(new.event.payload(), sort_keys=True),
        new.recorded_at.isoformat(),
        str(new.occurred_at),
    )


def test_surveys_leave_every_other_seeded_event_byte_identical(demo, monkeypatch) -> None:
    """Surveys draw from their own random stream: the same programme generated with the survey
    seeder switched off gives exactly the other events, ids and times included."""
    from seed.surveys import SurveySeeder

    monkeypatch.setattr(SurveySeeder, "month", lambda self, tp, m: iter(()))
    without = [_fingerprint(e) for e in seed.generate("demo", 42)]
    others = [_fingerprint(e) for e in demo if e.event.type != "PatientSurveyReturned"]
    assert len(others) == len(without) > 70_000
    assert (
        hashlib.sha256(repr(others).encode()).digest()
        == hashlib.sha256(repr(without).encode()).digest()
    )
    assert len(demo) - len(others) > 5000


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
