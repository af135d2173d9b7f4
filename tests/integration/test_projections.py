"""Projections: incremental catch-up equals a full rebuild; as-of answers from the read models."""

from __future__ import annotations

import json
import random
import threading
from datetime import UTC, date, datetime, timedelta

import pytest

from audit.measures import audit_measures, census_measures, report_records
from audit.projections import Projector
from audit.service import AuditService
from dashboard.cli import main
from events import EventStore, NewEvent
from events.types import (
    AgendaSet,
    ConsultationHeld,
    ElementRetracted,
    FollowUpArranged,
    GoalAgreed,
    TeamRegistered,
)
from tests.helpers.readmodels import fold_prefix, snapshot

T0 = datetime(2024, 1, 1, 9, tzinfo=UTC)


def programme(seed: int = 7, consultations: int = 300) -> list[NewEvent]:
    """A small history: two teams, three months, late elements, retractions, an orphan."""
    rng = random.Random(seed)
    clock = T0
    out = [
        NewEvent(
            TeamRegistered(team_id=t, name=t.upper(), site="S", service="COPD"), recorded_at=clock
        )
        for t in ("copd1", "msk1")
    ]
    late = []
    for i in range(consultations):
        clock += timedelta(minutes=rng.randint(60, 600))
        ready = sorted((x for x in late if x[0] <= clock), key=lambda x: x[0])
        late = [x for x in late if x[0] > clock]
        out.extend(NewEvent(ev, recorded_at=when) for when, ev in ready)
        cid = f"c{i}"
        day = clock.date()
        team = "copd1" if i % 2 else "msk1"
        out.append(
            NewEvent(
                ConsultationHeld(
                    consultation_id=cid,
                    team_id=team,
                    clinician_id="k1",
                    patient_ref="p_" + f"{i:032x}",
                    occurred_on=day,
                    contact="video",
                ),
                recorded_at=clock,
            )
        )
        for cls, p in ((AgendaSet, 0.4), (GoalAgreed, 0.5), (FollowUpArranged, 0.7)):
            if rng.random() < p:
                if rng.random() < 0.2:
                    late.append(
                        (
                            clock + timedelta(days=rng.randint(1, 20)),
                            cls(consultation_id=cid, documented_on=day),
                        )
                    )
                else:
                    out.append(
                        NewEvent(cls(consultation_id=cid, documented_on=day), recorded_at=clock)
                    )
        if rng.random() < 0.03:
            late.append(
                (
                    clock + timedelta(days=2),
                    ElementRetracted(consultation_id=cid, element="follow_up"),
                )
            )
    for when, ev in sorted(late, key=lambda x: x[0]):
        out.append(NewEvent(ev, recorded_at=max(when, clock)))
    return out


@pytest.fixture
def store(db_url: str) -> EventStore:
    s = EventStore(db_url)
    Projector(s).ensure_schema()
    yield s
    s.dispose()


def test_incremental_catch_up_in_small_batches_equals_a_full_rebuild(store: EventStore) -> None:
    store.append_many(programme(), history=True)
    projector = Projector(store)
    while projector.catch_up(batch_size=37, max_batches=1):
        pass
    incremental = snapshot(store)
    projector.rebuild()
    assert snapshot(store) == incremental
    assert projector.lag() == 0


def test_emptied_read_models_hold_no_row_and_fold_the_whole_log_again(store: EventStore) -> None:
    store.append_many(programme(), history=True)
    projector = Projector(store)
    projector.catch_up()
    folded = snapshot(store)
    projector.empty()
    assert projector.checkpoint() == 0
    assert projector.lag() == store.head().position
    emptied = snapshot(store)
    assert not any(emptied[name] for name in emptied if name != "rm_meta"), "rows left behind"
    projector.catch_up()
    assert snapshot(store) == folded


def test_events_arriving_while_catching_up_are_seen_exactly_once(store: EventStore) -> None:
    events = programme(consultations=400)
    store.append_many(events[:200], history=True)
    projector = Projector(store)

    def writer() -> None:
        for i in range(200, len(events), 25):
            store.append_many([NewEvent(e.event, event_id=e.event_id) for e in events[i : i + 25]])

    t = threading.Thread(target=writer)
    t.start()
    while t.is_alive():
        projector.catch_up(batch_size=50, max_batches=1)
    t.join()
    projector.catch_up()
    incremental = snapshot(store)
    projector.rebuild()
    assert snapshot(store) == incremental


def test_census_counts_follow_late_elements_and_retractions(store: EventStore) -> None:
    store.append([NewEvent(TeamRegistered(team_id="t", name="T", site="S", service="COPD"))])
    held = ConsultationHeld(
        consultation_id="a",
        team_id="t",
        clinician_id="k",
        patient_ref="p_" + "0" * 32,
        occurred_on=date(2024, 2, 1),
        contact="video",
    )
    store.append([NewEvent(held)])
    for cls in (AgendaSet, GoalAgreed, FollowUpArranged):
        store.append([NewEvent(cls(consultation_id="a", documented_on=date(2024, 2, 1)))])
    projector = Projector(store)
    projector.catch_up()
    census = census_measures(store.engine).set_index("measure")
    assert census.loc["all_three", "numerator"] == 1
    store.append([NewEvent(ElementRetracted(consultation_id="a", element="goal_setting"))])
    projector.catch_up()
    census = census_measures(store.engine).set_index("measure")
    assert census.loc["all_three", "numerator"] == 0
    assert census.loc["goal_setting", "numerator"] == 0
    assert census.loc["agenda_setting", "numerator"] == 1


def test_an_element_recorded_before_its_consultation_counts_once_the_consultation_arrives(
    store: EventStore,
) -> None:
    store.append([NewEvent(TeamRegistered(team_id="t", name="T", site="S", service="COPD"))])
    store.append([NewEvent(AgendaSet(consultation_id="early", documented_on=date(2024, 2, 1)))])
    projector = Projector(store)
    projector.catch_up()
    held = ConsultationHeld(
        consultation_id="early",
        team_id="t",
        clinician_id="k",
        patient_ref="p_" + "1" * 32,
        occurred_on=date(2024, 2, 1),
        contact="video",
    )
    store.append([NewEvent(held)])
    projector.catch_up()
    census = census_measures(store.engine).set_index("measure")
    assert census.loc["agenda_setting", ["numerator", "denominator"]].tolist() == [1, 1]
    incremental = snapshot(store)
    projector.rebuild()
    assert snapshot(store) == incremental


def test_census_as_of_gives_exactly_what_was_known_then(store: EventStore) -> None:
    events = programme(consultations=250)
    store.append_many(events, history=True)
    Projector(store).catch_up()
    for cutoff in (
        T0 + timedelta(days=9, hours=13, minutes=7),
        T0 + timedelta(days=30),
        T0 + timedelta(days=55, hours=2),
    ):
        # the truth: fold only the prefix recorded by the cutoff into a fresh database
        known = [e for e in store.read_all(as_of=cutoff)]
        fresh = EventStore("sqlite://")
        fresh_projector = Projector(fresh)
        fresh_projector.ensure_schema()
        fresh.append_many(
            [
                NewEvent(
                    e.event,
                    event_id=e.event_id,
                    recorded_at=datetime.fromisoformat(e.recorded_at.replace("Z", "+00:00")),
                )
                for e in known
            ],
            history=True,
        )
        fresh_projector.catch_up()
        expected = census_measures(fresh.engine)
        actual = census_measures(store.engine, as_of=cutoff)
        assert actual.to_dict("records") == expected.to_dict("records")


def test_an_audit_round_moves_the_measures_and_as_of_still_shows_the_past(
    store: EventStore,
) -> None:
    store.append_many(programme(consultations=200), history=True)
    service = AuditService(store, projector=Projector(store))
    before = datetime.now(UTC)
    assert audit_measures(store.engine).empty
    outcomes = service.run("2024-01", sample_size=20)
    assert {o.status for o in outcomes} == {"opened"}
    after = audit_measures(store.engine)
    assert set(after["team"]) == {"copd1", "msk1"}
    assert (after[after["measure"] == "agenda_setting"]["denominator"] == 20).all()
    assert audit_measures(store.engine, as_of=before).empty
    again = service.run("2024-01")
    assert {o.status for o in again} == {"exists"}


def test_the_same_seed_draws_the_same_notes_in_a_later_round(store: EventStore) -> None:
    store.append_many(programme(consultations=200), history=True)
    service = AuditService(store, projector=Projector(store))
    first = service.open_round("msk1", "2024-01", sample_size=10)
    second = service.open_round("msk1", "2024-01", sample_size=10)
    assert first.round_id != second.round_id
    assert first.sampled == second.sampled


def test_audit_report_json_is_sorted_and_byte_identical_for_the_same_as_of(
    store: EventStore, db_url: str, capsys
) -> None:
    store.append_many(programme(consultations=200), history=True)
    AuditService(store, projector=Projector(store)).run("2024-01")
    cutoff = datetime.now(UTC).isoformat()
    report = ["audit", "report", "--format", "json", "--db", db_url, "--as-of", cutoff]
    assert main(report) == 0
    first = capsys.readouterr().out
    AuditService(store, projector=Projector(store)).run("2024-02")
    assert main(report) == 0
    assert capsys.readouterr().out == first, "the same as-of must give the same bytes"
    records = json.loads(first)
    keys = [(r["team"], r["period"], r["measure"]) for r in records]
    assert keys == sorted(keys)
    assert {r["period"] for r in records} == {"2024-01"}
    assert set(records[0]) == {
        "team",
        "period",
        "measure",
        "numerator",
        "denominator",
        "proportion",
        "ci_low",
        "ci_high",
        "small",
        "provisional",  # additive (DESIGN "Decisions": open rounds are provisional)
    }
    assert main(["audit", "report", "--format", "json", "--db", db_url]) == 0
    now = json.loads(capsys.readouterr().out)
    assert {r["period"] for r in now} == {"2024-01", "2024-02"}
    assert [r for r in now if r["period"] == "2024-01"] == report_records(
        audit_measures(store.engine, as_of=datetime.fromisoformat(cutoff))
    )


def _truth_as_of(store: EventStore, cutoff: datetime):
    """Census measures from folding only the prefix of the log recorded by ``cutoff``."""
    return fold_prefix(store, cutoff, lambda fresh: census_measures(fresh.engine))


def test_as_of_is_exact_at_every_cutoff_when_days_span_projector_batches(
    store: EventStore,
) -> None:
    store.append_many(programme(seed=11, consultations=120), history=True)
    projector = Projector(store)
    while projector.catch_up(batch_size=7, max_batches=1):
        pass  # tiny batches: most recorded days are folded across several transactions
    stamps = sorted({e.recorded_at for e in store.read_all()})
    first = datetime.fromisoformat(stamps[0].replace("Z", "+00:00"))
    cutoffs = [first - timedelta(hours=1)]  # before anything was known
    for i in range(0, len(stamps), max(1, len(stamps) // 8)):
        exact = datetime.fromisoformat(stamps[i].replace("Z", "+00:00"))
        cutoffs += [exact, exact - timedelta(microseconds=1)]  # on an event, and just before it
    cutoffs.append(datetime.fromisoformat(stamps[-1].replace("Z", "+00:00")) + timedelta(days=3))
    for cutoff in cutoffs:
        actual = census_measures(store.engine, as_of=cutoff)
        expected = _truth_as_of(store, cutoff)
        assert actual.to_dict("records") == expected.to_dict("records"), cutoff


def test_read_models_laid_out_by_another_version_are_recreated_and_folded_again(
    store: EventStore,
) -> None:
    store.append_many(programme(consultations=80), history=True)
    projector = Projector(store)
    projector.catch_up()
    current = snapshot(store)
    with store.engine.begin() as conn:  # as an older sipdash left them: no version stamp
        conn.exec_driver_sql("DELETE FROM rm_meta")
        conn.exec_driver_sql("UPDATE rm_case_notes SET agenda_setting = NOT agenda_setting")
    projector.ensure_schema()
    assert projector.checkpoint() == 0, "the old read models were dropped"
    assert projector.lag() == store.head().position
    projector.catch_up()
    assert snapshot(store) == current


def test_a_review_recorded_in_schema_version_1_is_projected_in_the_current_shape(
    store: EventStore, case_note_reviewed_v1: type
) -> None:
    CaseNoteReviewedV1 = case_note_reviewed_v1  # noqa: N806 - a class
    store.append(
        [
            NewEvent(
                CaseNoteReviewedV1(
                    round_id="r-old",
                    consultation_id="c1",
                    reviewer_id="auditor",
                    agenda_setting=True,
                    goal_setting=False,
                    follow_up=True,
                )
            )
        ]
    )
    Projector(store).catch_up()
    with store.engine.connect() as conn:
        row = conn.exec_driver_sql(
            "SELECT agenda_setting, goal_setting, follow_up FROM rm_reviews"
        ).one()
    assert tuple(row) == ("yes", "no", "yes")
