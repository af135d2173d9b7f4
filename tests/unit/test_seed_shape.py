"""The demo seed tells the story it promises, without a database: consume ``generate()``."""

from __future__ import annotations

import inspect
import itertools
import re
import time
import uuid
from collections import Counter, defaultdict
from datetime import UTC, date, datetime

import pytest

import seed
from audit.sampling import draw_sample, second_review_ids
from events.ids import new_event_id, uuid7_from
from events.types import ELEMENTS, MEASURES, Event
from seed.plan import build_plan

FIRST_DAY = date(2023, 1, 1)
LAST_DAY = date(2026, 1, 31)
PSEUDONYM = re.compile(r"^p_[0-9a-f]{32}$")
# Ten digits (spaces allowed as NHS numbers are written: 3-3-4) standing on their own, i.e.
# not part of a longer run of letters and digits such as a hex pseudonym or a UUID.
NHS_NUMBER_LIKE = re.compile(r"(?<![0-9A-Za-z])\d{3} ?\d{3} ?\d{4}(?![0-9A-Za-z])")


@pytest.fixture(scope="module")
def demo():
    return list(seed.generate("demo", seed=42))


@pytest.fixture(scope="module")
def plan():
    return build_plan("demo", 42)


@pytest.fixture(scope="module")
def first_reviews(demo):
    """{(team, period): [CaseNoteReviewed]} of first reviews."""
    rounds, out = {}, defaultdict(list)
    for ne in demo:
        ev = ne.event
        if ev.type == "AuditRoundOpened":
            rounds[ev.round_id] = (ev.team_id, ev.period)
        elif ev.type == "CaseNoteReviewed" and not ev.second_review:
            out[rounds[ev.round_id]].append(ev)
    return out


@pytest.fixture(scope="module")
def proportions(first_reviews):
    """{team: {element: [yes/(yes+no) per month, in period order]}}."""
    out: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for (team, _period), reviews in sorted(first_reviews.items()):
        for element in ELEMENTS:
            findings = [getattr(r, element) for r in reviews]
            yes, no = findings.count("yes"), findings.count("no")
            out[team][element].append(yes / (yes + no))
    return out


def mean(xs):
    return sum(xs) / len(xs)


def six_month_means(series):
    return [mean(series[i : i + 6]) for i in range(len(series) - 5)]


# --- the story -----------------------------------------------------------------------------


def rise(series, start):
    """Mean of the last 6 months minus the mean of the 6 months before SIP start."""
    return mean(series[-6:]) - mean(series[start - 6 : start])


def test_at_least_one_team_rises_in_every_enabler_after_its_sip_start(plan, proportions):
    risers = [
        tp.team_id
        for tp in plan.teams
        if all(rise(proportions[tp.team_id][e], tp.sip_start) >= 0.3 for e in ELEMENTS)
    ]
    assert len(risers) >= 4, risers  # every improver (the slow ones may still be climbing)


def year_on_year(series, start):
    """Mean of the last 12 months minus the mean of the 12 months before SIP start: whole
    years, so both sides hold the same seasonal dips."""
    return mean(series[-12:]) - mean(series[start - 12 : start])


def test_the_no_shift_team_shows_no_shift_at_all(plan, proportions):
    """Its SIP starts and its staff are trained, but nothing changes (within sampling noise:
    with 20 notes a month the difference of two 12-month means has a standard error of ~0.045)."""
    (team,) = [tp for tp in plan.teams if tp.archetype == "no_shift"]
    for e in ELEMENTS:
        assert abs(year_on_year(proportions[team.team_id][e], team.sip_start)) < 0.1, e


def test_one_team_improves_then_regresses(plan, proportions):
    (team,) = [tp for tp in plan.teams if tp.archetype == "regresser"]
    for e in ELEMENTS:
        series = proportions[team.team_id][e]
        assert rise(series[: team.regress], team.sip_start) >= 0.2, e  # it did improve
        assert max(six_month_means(series)) - mean(series[-6:]) >= 0.25, e


def test_the_archetypes_are_the_ones_params_toml_names(plan, proportions):
    by_id = {t.team_id: t for t in plan.teams}
    no_shift = [t for t in plan.teams if t.archetype == "no_shift"]
    assert no_shift and all(not t.shift for t in no_shift)
    regresser = next(t for t in plan.teams if t.archetype == "regresser")
    assert regresser.regress is not None and 24 <= regresser.regress <= 28
    assert set(proportions) == set(by_id)


# --- the audit -----------------------------------------------------------------------------


def test_every_team_month_has_twenty_first_reviews(first_reviews):
    # every team-month but b-mood's nine paused months (2024-06 to 2025-02, a gap by design)
    assert len(first_reviews) == 8 * 36 - 9
    assert not any(t == "b-mood" and "2024-06" <= p <= "2025-02" for t, p in first_reviews)
    assert {len(v) for v in first_reviews.values()} == {20}


def test_consultations_per_team_month_are_plausible(demo):
    per = Counter(
        (ne.event.team_id, ne.event.occurred_on.strftime("%Y-%m"))
        for ne in demo
        if ne.event.type == "ConsultationHeld"
    )
    assert len(per) == 8 * 36
    assert min(per.values()) >= 25
    assert max(per.values()) <= 400


def test_audit_rounds_sample_reproducibly_and_review_what_was_documented(demo):
    """Replays the stream: each first review says what the case note held at that moment."""
    team_month_ids: dict[tuple[str, str], list[str]] = defaultdict(list)
    documented: dict[tuple[str, str], bool] = {}
    discharged_like = 0
    opened: dict[str, object] = {}
    second: dict[str, set[str]] = defaultdict(set)
    closed: set[str] = set()
    seconds_seen = disagreements = first_total = 0
    first_findings: dict[tuple[str, str], tuple[str, ...]] = {}
    element_of = {"AgendaSet": 0, "GoalAgreed": 1, "FollowUpArranged": 2}
    for ne in demo:
        ev = ne.event
        if ev.type == "ConsultationHeld":
            team_month_ids[(ev.team_id, ev.occurred_on.strftime("%Y-%m"))].append(
                ev.consultation_id
            )
        elif ev.type in element_of:
            documented[(ev.consultation_id, ELEMENTS[element_of[ev.type]])] = True
        elif ev.type == "ElementRetracted":
            documented[(ev.consultation_id, ev.element)] = False
        elif ev.type == "AuditRoundOpened":
            assert ev.round_id == f"r-{ev.team_id}-{ev.period}-1"
            # the audit service's convention: a later round of the team-month draws the same notes
            assert ev.sampling_seed == f"{ev.team_id}:{ev.period}"
            assert ev.method == "sample" and ev.sample_size == 20
            assert ev.second_review_share == 0.1
            assert list(ev.sampled) == draw_sample(
                team_month_ids[(ev.team_id, ev.period)], 20, ev.sampling_seed
            )
            assert ne.recorded_at.strftime("%Y-%m") > ev.period  # after the month ended
            opened[ev.round_id] = ev
            second[ev.round_id] = set(second_review_ids(list(ev.sampled), 0.1, ev.sampling_seed))
        elif ev.type == "CaseNoteReviewed":
            assert ev.round_id in opened and ev.round_id not in closed
            assert ev.consultation_id in opened[ev.round_id].sampled
            findings = tuple(getattr(ev, e) for e in ELEMENTS)
            if not ev.second_review:
                first_total += 1
                assert ev.reviewer_id == "auto-reviewer"
                for e, finding in zip(ELEMENTS, findings, strict=True):
                    if finding == "not_applicable":
                        assert e == "follow_up"
                        discharged_like += 1
                        continue
                    want = documented.get((ev.consultation_id, e), False)
                    assert finding == ("yes" if want else "no")
                first_findings[(ev.round_id, ev.consultation_id)] = findings
            else:
                assert ev.consultation_id in second[ev.round_id]
                assert re.fullmatch(r"rev-[a-z]+\d*", ev.reviewer_id)
                seconds_seen += 1
                base = first_findings[(ev.round_id, ev.consultation_id)]
                disagreements += sum(a != b for a, b in zip(base, findings, strict=True))
        elif ev.type == "AuditRoundClosed":
            closed.add(ev.round_id)
    assert closed == set(opened)
    assert seconds_seen == 2 * len(opened)
    assert 0.01 <= discharged_like / first_total <= 0.06
    # ~8% of findings flipped, plus the odd late note documented between the two reviews
    assert 0.04 <= disagreements / (3 * seconds_seen) <= 0.14


def test_some_elements_are_documented_late_and_a_few_are_retracted(demo):
    held_on = {}
    late = on_time = retracted = elements = 0
    for ne in demo:
        ev = ne.event
        if ev.type == "ConsultationHeld":
            held_on[ev.consultation_id] = ev.occurred_on
        elif ev.type in ("AgendaSet", "GoalAgreed", "FollowUpArranged"):
            elements += 1
            assert ne.recorded_at.date() >= ev.documented_on
            delay = (ev.documented_on - held_on[ev.consultation_id]).days
            assert 0 <= delay <= 14
            if ev.type != "AgendaSet":
                late, on_time = late + (delay > 0), on_time + (delay == 0)
        elif ev.type == "ElementRetracted":
            retracted += 1
    assert 0.06 <= late / (late + on_time) <= 0.14
    assert 0.002 <= retracted / elements <= 0.01


def test_every_team_has_milestones_a_baseline_and_a_target(demo, plan):
    facts = defaultdict(list)
    for ne in demo:
        ev = ne.event
        if ev.type in ("MilestoneLogged", "BaselineFixed", "TargetSet"):
            facts[ev.team_id].append(ev)
    assert set(facts) == {t.team_id for t in plan.teams}
    for tp in plan.teams:
        kinds = Counter(f.kind for f in facts[tp.team_id] if f.type == "MilestoneLogged")
        assert kinds["sip_start"] == 1 and kinds["adp_training"] == 1
        assert kinds["change_idea"] >= 1 and kinds["pdsa_cycle"] >= 1
        start = next(f.on for f in facts[tp.team_id] if getattr(f, "kind", "") == "sip_start")
        before = f"{start.year - (start.month == 1)}-{(start.month - 2) % 12 + 1:02d}"
        baselines = {f.measure: f.period for f in facts[tp.team_id] if f.type == "BaselineFixed"}
        assert baselines == dict.fromkeys(MEASURES, before)
        targets = {f.measure: f.target for f in facts[tp.team_id] if f.type == "TargetSet"}
        assert targets == dict.fromkeys(MEASURES, 0.8)


def test_new_starters_join_untrained_and_are_trained_later(demo):
    registered, trained = {}, {}
    for ne in demo:
        ev = ne.event
        if ev.type == "ClinicianRegistered":
            registered[ev.clinician_id] = ne.recorded_at
        elif ev.type == "ClinicianTrained":
            assert ev.clinician_id in registered
            trained[ev.clinician_id] = ev.on
    starters = [c for c, at in registered.items() if at > datetime(2023, 1, 2, tzinfo=UTC)]
    assert starters, "no staff turnover"
    assert len(trained) >= 0.6 * len(registered)


# --- the rules every seed obeys ----------------------------------------------------------


def test_demo_is_two_synthetic_organisations_and_eight_real_sounding_teams(demo):
    teams = [ne.event for ne in demo if ne.event.type == "TeamRegistered"]
    assert len(teams) == 8
    assert len({t.site for t in teams}) == 2
    assert all(t.site.endswith("(synthetic)") for t in teams)
    assert all("synthetic" not in t.name.lower() for t in teams)
    assert {t.service for t in teams} == {
        "MSK pain",
        "COPD",
        "Diabetes",
        "Depression",
        "Health coaching",
    }


def test_all_dates_fall_inside_the_programme(demo):
    for ne in demo:
        assert FIRST_DAY <= ne.recorded_at.date() <= LAST_DAY
        occurred = ne.occurred_at
        occurred = occurred.date() if isinstance(occurred, datetime) else occurred
        assert FIRST_DAY <= occurred <= LAST_DAY
        natural = ne.event.natural_time()
        if natural is not None:
            assert FIRST_DAY <= natural <= LAST_DAY
        for key in ("period", "from_period"):
            value = getattr(ne.event, key, None)
            if value is not None:
                assert "2023-01" <= value <= "2025-12"


def test_recorded_at_never_decreases(demo):
    assert all(a.recorded_at <= b.recorded_at for a, b in itertools.pairwise(demo))
    assert all(ne.recorded_at.tzinfo is not None for ne in demo)


def test_patients_are_pseudonyms_and_nothing_looks_like_an_nhs_number(demo):
    refs = {ne.event.patient_ref for ne in demo if ne.event.type == "ConsultationHeld"}
    assert refs and all(PSEUDONYM.match(r) for r in refs)
    # returning patients: fewer patients than consultations
    assert len(refs) < sum(1 for ne in demo if ne.event.type == "ConsultationHeld")
    for ne in demo:
        text = ne.event.model_dump_json()
        assert not NHS_NUMBER_LIKE.search(text), ne.event.type


def test_events_all_validate_and_ids_are_unique_uuid7(demo):
    ids = set()
    for ne in demo:
        assert isinstance(ne.event, Event)
        assert type(ne.event).model_validate(ne.event.payload()) == ne.event
        parsed = uuid.UUID(ne.event_id)
        assert (parsed.version, parsed.variant) == (7, uuid.RFC_4122)
        assert parsed.int >> 80 == int(ne.recorded_at.timestamp() * 1000), "v7 carries the time"
        assert ne.metadata == {}
        ids.add(ne.event_id)
    assert len(ids) == len(demo)


def test_uuid7_ids_carry_the_time_and_sort_in_time_order():
    ms = 1_672_531_200_000  # 2023-01-01T00:00:00Z
    for rand in (0, (1 << 74) - 1, 0x1234567890ABCDEF123):
        made = uuid.UUID(uuid7_from(ms, rand))
        assert (made.version, made.variant) == (7, uuid.RFC_4122)
        assert made.int >> 80 == ms
    later = [uuid7_from(ms + step, (1 << 74) - 1 - step) for step in range(0, 5000, 997)]
    assert later == sorted(later), "a later millisecond sorts later whatever the random bits"


def test_same_seed_same_events_and_another_seed_other_events():
    def head(seed_value):
        return [
            (ne.event_id, ne.recorded_at, ne.event.payload())
            for ne in itertools.islice(seed.generate("demo", seed=seed_value), 3000)
        ]

    assert head(42) == head(42)
    assert head(42) != head(7)


def test_estimate_is_close_to_the_real_count(demo):
    estimate = seed.estimate_events("demo", seed=42)
    assert abs(estimate - len(demo)) <= 0.1 * len(demo)


# --- the large scenario and arguments ------------------------------------------------------


def test_large_streams_forty_teams():
    stream = seed.generate("large", seed=1, consultations=20_000)
    assert inspect.isgenerator(stream)
    teams: set[str] = set()
    consultations = reviews = 0
    prev = None
    for ne in stream:
        ev = ne.event
        if ev.type == "TeamRegistered":
            teams.add(ev.team_id)
        elif ev.type == "ConsultationHeld":
            consultations += 1
        elif ev.type == "CaseNoteReviewed":
            reviews += 1
        assert prev is None or prev <= ne.recorded_at
        prev = ne.recorded_at
    assert len(teams) == 40
    assert consultations == 20_000
    assert reviews > 0


def test_large_takes_teams_months_and_consultations():
    events = list(seed.generate("large", seed=3, teams=5, months=4, consultations=1_000))
    types = Counter(ne.event.type for ne in events)
    assert types["TeamRegistered"] == 5
    assert types["ConsultationHeld"] == 1_000
    assert types["AuditRoundOpened"] == 5 * 4
    assert max(ne.recorded_at for ne in events).date() <= date(2023, 6, 30)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scenario": "huge"}, "unknown scenario"),
        ({"scenario": "demo", "teams": 5}, "8 teams"),
        ({"scenario": "large", "teams": 0}, "--teams"),
        ({"scenario": "large", "months": 0}, "--months"),
        ({"scenario": "large", "consultations": -1}, "--consultations"),
    ],
)
def test_bad_arguments_are_refused_at_once(kwargs, message):
    with pytest.raises(ValueError, match=message):
        seed.generate(**kwargs)


def test_a_new_event_id_is_a_v7_uuid_of_now():
    before = time.time_ns() // 1_000_000
    made = uuid.UUID(new_event_id())
    after = time.time_ns() // 1_000_000
    assert (made.version, made.variant) == (7, uuid.RFC_4122)
    assert before <= made.int >> 80 <= after
    assert new_event_id() != new_event_id()
