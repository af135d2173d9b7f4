"""``clinicians=N`` holds each team's starting staff fixed while the log grows (the 10k → 10M
reach-page benchmark needs the same clinicians at every size); the default is unchanged."""

from __future__ import annotations

import itertools

import pytest

import seed
from seed.plan import build_plan


def _staff(plan) -> list[int]:
    return [len(tp.clinicians) for tp in plan.teams]


def test_by_default_the_staff_grows_with_the_consultations():
    small = build_plan("large", 42, teams=8, months=12, consultations=3_000)
    large = build_plan("large", 42, teams=8, months=12, consultations=3_000_000)
    assert max(_staff(small)) < min(_staff(large))


def test_clinicians_fixed_gives_every_team_that_staff_at_every_size():
    for consultations in (3_000, 300_000, 3_000_000):
        plan = build_plan(
            "large", 42, teams=8, months=12, consultations=consultations, clinicians=12
        )
        assert _staff(plan) == [12] * 8


def test_the_generated_log_registers_the_fixed_staff_before_any_consultation():
    events = seed.generate("large", 42, teams=3, months=2, consultations=300, clinicians=5)
    setup = itertools.takewhile(lambda ne: ne.event.type != "ConsultationHeld", events)
    per_team: dict[str, int] = {}
    for ne in setup:
        if ne.event.type == "ClinicianRegistered":
            per_team[ne.event.team_id] = per_team.get(ne.event.team_id, 0) + 1
    assert per_team and set(per_team.values()) == {5}


def test_the_estimate_follows_the_fixed_staff():
    assert seed.estimate_events(
        "large", 42, teams=8, months=12, consultations=3_000, clinicians=40
    ) > seed.estimate_events("large", 42, teams=8, months=12, consultations=3_000, clinicians=3)


def test_a_staff_below_one_is_refused():
    with pytest.raises(ValueError, match="clinicians"):
        build_plan("large", 42, teams=8, months=12, consultations=3_000, clinicians=0)
