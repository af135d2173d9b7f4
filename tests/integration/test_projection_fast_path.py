"""The projector's fast path (issue #19) gives exactly the read models of folding event by event.

The fast path: elements recorded in the same instant as their note join the note's
creation-time counts instead of an rm_element_facts row; PostgreSQL writes with ``COPY`` and sums
the census and reach aggregates in the database; SQLite sums them with ``map(add, …)``. The log
here mixes schema versions (upcasters must still apply), corrections (``ElementRetracted``,
``ElementNotApplicable``), elements recorded before and long after their consultation,
duplicates, ``PatientForgotten`` and text that COPY must escape. Every test runs on SQLite and
PostgreSQL (``db_url``).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import ClassVar

import pytest

from audit.measures import census_measures
from audit.projections import Projector
from audit.reach import clinician_counts, imd_counts
from events import EventStore, NewEvent
from events.types import (
    AgendaSet,
    AuditRoundOpened,
    ClinicianRegistered,
    CommentaryAdded,
    ConsultationHeld,
    ElementNotApplicable,
    ElementRetracted,
    Event,
    FollowUpArranged,
    GoalAgreed,
    PatientForgotten,
    TeamRegistered,
)
from tests.helpers.readmodels import fold_prefix, snapshot
from tests.helpers.reference import note_states

T0 = datetime(2024, 3, 1, 8, tzinfo=UTC)
ELEMENT_EVENTS = ((AgendaSet, "agenda_setting"), (GoalAgreed, "goal_setting"))
ELEMENT_EVENTS += ((FollowUpArranged, "follow_up"),)


class ReviewSignedOffV1(Event):
    """``ReviewSignedOff`` as written before it recorded the head being viewed (v1)."""

    type: ClassVar[str] = "ReviewSignedOff"
    schema_version: ClassVar[int] = 1
    stream_prefix: ClassVar[str] = "team"
    stream_key: ClassVar[str] = "team_id"
    team_id: str
    period: str
    signed_off_by: str


def mixed_log(case_note_reviewed_v1: type, seed: int = 19, notes: int = 160) -> list[NewEvent]:
    """Two teams over three months: most elements recorded with their note, some late, some
    before it; retractions and not-applicable corrections, some in the note's own instant;
    duplicates; reviews in schema versions 1 and 2; a v1 sign-off; a forgotten patient."""
    rng = random.Random(seed)
    clock = T0
    out = [
        NewEvent(
            TeamRegistered(team_id=t, name=t, site='S\\x "q"', service="MSK"), recorded_at=clock
        )
        for t in ("msk1", "copd1")
    ]
    out += [
        NewEvent(
            ClinicianRegistered(clinician_id=c, team_id=t, role="physio", display_name="A\\B"),
            recorded_at=clock,
        )
        for c, t in (("k1", "msk1"), ("k2", "msk1"), ("k3", "copd1"))
    ]
    later: list[tuple[datetime, Event]] = []
    for i in range(notes):
        clock += timedelta(minutes=rng.randint(90, 900))
        due = sorted((x for x in later if x[0] <= clock), key=lambda x: x[0])
        later = [x for x in later if x[0] > clock]
        out += [NewEvent(e, recorded_at=when) for when, e in due]
        cid = f"c{i:04d}"
        team = "copd1" if i % 3 == 0 else "msk1"
        clinician = "k3" if team == "copd1" else rng.choice(("k1", "k2"))
        held = ConsultationHeld(
            consultation_id=cid,
            team_id=team,
            clinician_id=clinician,
            patient_ref=f"p_{i:032x}",
            occurred_on=clock.date(),
            contact="telephone",
            imd_quintile=rng.choice((1, 2, 3, 4, 5, None)),
        )
        if i % 17 == 5:  # an element recorded before its consultation (an orphan)
            early = AgendaSet(consultation_id=cid, documented_on=clock.date())
            out.append(NewEvent(early, recorded_at=clock - timedelta(minutes=5)))
        now = [held]
        for cls, element in ELEMENT_EVENTS:
            roll = rng.random()
            if roll < 0.55:
                now.append(cls(consultation_id=cid, documented_on=clock.date()))
                if rng.random() < 0.05:  # the same element twice in one instant
                    now.append(cls(consultation_id=cid, documented_on=clock.date()))
            elif roll < 0.7:
                when = clock + timedelta(days=rng.randint(1, 25))
                later.append((when, cls(consultation_id=cid, documented_on=clock.date())))
            elif roll < 0.78:
                now.append(ElementNotApplicable(consultation_id=cid, element=element))
        if rng.random() < 0.06:  # documented then retracted in the same instant
            now += [
                GoalAgreed(consultation_id=cid, documented_on=clock.date()),
                ElementRetracted(consultation_id=cid, element="goal_setting"),
            ]
        if rng.random() < 0.08:  # corrections days later
            when = clock + timedelta(days=rng.randint(1, 9))
            element = rng.choice([e for _, e in ELEMENT_EVENTS])
            later.append((when, ElementRetracted(consultation_id=cid, element=element)))
            later.append(
                (
                    when + timedelta(days=1),
                    ElementNotApplicable(consultation_id=cid, element=element, reason="n/a"),
                )
            )
        out += [NewEvent(e, recorded_at=clock) for e in now]
        if i == 40:
            out.append(
                NewEvent(
                    PatientForgotten(
                        subject="patients", patient_ref=f"p_{3:032x}", requested_by="dpo"
                    ),
                    recorded_at=clock,
                )
            )
    out += [NewEvent(e, recorded_at=max(w, clock)) for w, e in sorted(later, key=lambda x: x[0])]
    clock = max(clock, *(w for w, _ in later)) + timedelta(days=1)
    out.append(
        NewEvent(
            AuditRoundOpened(
                round_id="r1",
                team_id="msk1",
                period="2024-03",
                method="sample",
                sample_size=2,
                sampling_seed="s",
                sampled=("c0001", "c0002"),
            ),
            recorded_at=clock,
        )
    )
    out.append(
        NewEvent(
            case_note_reviewed_v1(
                round_id="r1",
                consultation_id="c0001",
                reviewer_id="aud",
                agenda_setting=True,
                goal_setting=False,
                follow_up=True,
            ),
            recorded_at=clock,
        )
    )
    out.append(
        NewEvent(
            CommentaryAdded(
                team_id="msk1",
                period="2024-03",
                text='"quoted", back\\slash, \\N, ½',
                author="lead",
            ),
            recorded_at=clock,
        )
    )
    out.append(
        NewEvent(
            ReviewSignedOffV1(team_id="msk1", period="2024-03", signed_off_by="lead"),
            recorded_at=clock,
        )
    )
    return out


def reference_census(store: EventStore) -> dict[tuple[str, str, str], tuple[int, int]]:
    """The census folded event by event from the log, in plain Python (no projector): per
    (team, month, measure) (numerator, denominator). An element before its note counts once
    the note arrives; not applicable leaves the measure's (and the bundle's) denominator."""
    names = [e for _, e in ELEMENT_EVENTS]
    out: dict[tuple[str, str, str], list[int]] = {}
    for held, note in note_states(store, ELEMENT_EVENTS):
        states = [note[e] for e in names]
        for measure, yes, na in [
            *((e, s == "yes", s == "na") for e, s in zip(names, states, strict=True)),
            ("all_three", all(s == "yes" for s in states), "na" in states),
        ]:
            acc = out.setdefault((held["team_id"], held["occurred_on"][:7], measure), [0, 0])
            acc[0] += int(yes)
            acc[1] += int(not na)
    return {k: tuple(v) for k, v in out.items() if v[1] > 0}


@pytest.fixture
def store(db_url: str, case_note_reviewed_v1: type) -> EventStore:
    s = EventStore(db_url)
    Projector(s).ensure_schema()
    s.append_many(mixed_log(case_note_reviewed_v1), history=True)
    yield s
    s.dispose()


@pytest.mark.parametrize("batch", [1, 7, 64])
def test_rebuild_equals_catch_up_in_any_chunking_over_a_log_mixing_schema_versions(
    store: EventStore, batch: int
) -> None:
    projector = Projector(store)
    while projector.catch_up(batch_size=batch, max_batches=1):
        pass
    incremental = snapshot(store)
    projector.rebuild()
    assert snapshot(store) == incremental
    assert projector.lag() == 0
    with store.engine.connect() as conn:  # the upcasters applied: v1 booleans, v1 sign-off
        review = conn.exec_driver_sql(
            "SELECT agenda_setting, goal_setting, follow_up FROM rm_reviews"
        ).one()
        signed = conn.exec_driver_sql(
            "SELECT payload FROM rm_team_facts WHERE type = 'ReviewSignedOff'"
        ).scalar_one()
    assert tuple(review) == ("yes", "no", "yes")
    assert '"viewed_head":null' in signed


def test_the_census_equals_folding_the_log_event_by_event(store: EventStore) -> None:
    Projector(store).catch_up(batch_size=50)
    got = {
        (r["team"], r["period"], r["measure"]): (r["numerator"], r["denominator"])
        for r in census_measures(store.engine).to_dict("records")
    }
    assert got == reference_census(store)


def _fold_prefix(store: EventStore, cutoff: datetime) -> tuple:
    """Census and reach read from read models folded from only the events known at ``cutoff``
    (a fresh SQLite database, one catch-up)."""
    return fold_prefix(store, cutoff, _reads)


def _reads(store: EventStore, as_of: datetime | None = None) -> tuple:
    return tuple(
        f(store.engine, as_of=as_of).to_dict("records")
        for f in (census_measures, clinician_counts, imd_counts)
    )


def test_as_of_reads_are_exact_on_a_note_s_own_instant_and_just_before_it(
    store: EventStore,
) -> None:
    projector = Projector(store)
    while projector.catch_up(batch_size=29, max_batches=1):
        pass
    stamps = sorted({e.recorded_at for e in store.read_all() if e.type == "ConsultationHeld"})
    for stamp in stamps[5::23]:
        exact = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        for cutoff in (exact, exact - timedelta(microseconds=1)):
            assert _reads(store, cutoff) == _fold_prefix(store, cutoff), cutoff


def test_an_element_recorded_with_its_note_needs_no_element_fact_row_a_late_one_keeps_one(
    db_url: str,
) -> None:
    store = EventStore(db_url)
    projector = Projector(store)
    projector.ensure_schema()
    at = T0
    store.append_many(
        [
            NewEvent(TeamRegistered(team_id="t1", name="T", site="S", service="X"), recorded_at=at),
            NewEvent(
                ConsultationHeld(
                    consultation_id="c1",
                    team_id="t1",
                    clinician_id="k1",
                    patient_ref="p_" + "a" * 32,
                    occurred_on=at.date(),
                    contact="telephone",
                ),
                recorded_at=at,
            ),
            NewEvent(AgendaSet(consultation_id="c1", documented_on=at.date()), recorded_at=at),
            NewEvent(
                GoalAgreed(consultation_id="c1", documented_on=at.date()),
                recorded_at=at + timedelta(days=3),
            ),
        ],
        history=True,
    )
    projector.catch_up()
    with store.engine.connect() as conn:
        facts = conn.exec_driver_sql("SELECT element FROM rm_element_facts").fetchall()
        note = conn.exec_driver_sql(
            "SELECT agenda_setting, goal_setting, init_agenda_setting, init_goal_setting "
            "FROM rm_case_notes"
        ).one()
    store.dispose()
    assert [tuple(f) for f in facts] == [("goal_setting",)]
    assert (bool(note[0]), bool(note[1]), note[2], note[3]) == (True, True, 1, 0)


def test_appends_after_a_catch_up_are_still_synced_in_full(tmp_path, case_note_reviewed_v1) -> None:
    """The projector relaxes fsync for its own commits only (read models are derived from the
    log): the pooled connection it used is back at ``synchronous=FULL`` for the next append."""
    store = EventStore(f"sqlite:///{tmp_path / 'events.db'}")
    projector = Projector(store)
    projector.ensure_schema()
    store.append_many(mixed_log(case_note_reviewed_v1, notes=20), history=True)
    projector.catch_up(batch_size=10)
    with store.engine.connect() as conn:
        level = conn.exec_driver_sql("PRAGMA synchronous").scalar_one()
    store.dispose()
    assert level == 2  # FULL
