"""The review rules live in AuditService and hold wherever a review enters: the service API,
`import reviews` and the worklist form (issue #13 item 9)."""

from __future__ import annotations

import pytest

from audit.imports import Importer, ImportRefused
from audit.projections import Projector
from audit.service import AuditError, AuditService, RoundInfo
from events import EventStore, NewEvent
from events.pseudonym import PatientRegistry
from events.types import TeamRegistered

HEADER = "consultation_id,team,clinician,patient,occurred_on,contact,agenda_setting,goal_setting,follow_up"
REVIEW_HEADER = (
    "team,period,consultation_id,reviewer,agenda_setting,goal_setting,follow_up,second_review"
)


@pytest.fixture
def store(db_url: str) -> EventStore:
    s = EventStore(db_url)
    Projector(s).ensure_schema()
    s.append(
        [NewEvent(TeamRegistered(team_id="msk1", name="MSK", site="North", service="MSK pain"))]
    )
    registry = PatientRegistry(s.engine, "test-key-not-demo-0123456789abcdef0123")
    registry.ensure_schema()
    rows = [f"c-{i},msk1,K01,LOCAL-{i},2024-03-0{i + 1},telephone,yes,no,yes" for i in range(8)]
    Importer(s, registry, projector=Projector(s)).import_consultations(
        "\n".join([HEADER, *rows, ""]).encode()
    )
    yield s
    s.dispose()


@pytest.fixture
def importer(store: EventStore) -> Importer:
    return Importer(
        store,
        PatientRegistry(store.engine, "test-key-not-demo-0123456789abcdef0123"),
        projector=Projector(store),
    )


@pytest.fixture
def round_(store: EventStore) -> RoundInfo:
    info = AuditService(store, projector=Projector(store)).open_round(
        "msk1", "2024-03", sample_size=8, second_review_share=0.25
    )
    assert info.second_review and set(info.second_review) < set(info.sampled)
    return info


FINDINGS = {"agenda_setting": "yes", "goal_setting": "no", "follow_up": "yes"}


def test_a_second_review_by_the_first_reviewer_is_refused(store, round_) -> None:
    service = AuditService(store, projector=Projector(store))
    note = round_.second_review[0]
    service.record_review(round_.round_id, note, "ann", FINDINGS)
    head = store.head().position
    with pytest.raises(AuditError, match="someone other than the first reviewer"):
        service.record_review(round_.round_id, note, "ann", FINDINGS, second_review=True)
    assert store.head().position == head
    service.record_review(round_.round_id, note, "bob", FINDINGS, second_review=True)
    assert store.head().position == head + 1


def test_a_second_review_of_a_note_not_chosen_for_one_is_refused(store, round_) -> None:
    note = next(c for c in round_.sampled if c not in round_.second_review)
    with pytest.raises(AuditError, match="not chosen for a second review"):
        AuditService(store, projector=Projector(store)).record_review(
            round_.round_id, note, "bob", FINDINGS, second_review=True
        )


def test_a_review_in_a_closed_round_is_refused(store, round_) -> None:
    service = AuditService(store, projector=Projector(store))
    service.close_round(round_.round_id)
    with pytest.raises(AuditError, match="closed"):
        service.record_review(round_.round_id, round_.sampled[0], "ann", FINDINGS)


def test_the_same_submission_twice_appends_one_review(store, round_) -> None:
    service = AuditService(store, projector=Projector(store))
    head = store.head().position
    eid = "0192f1a0-0000-7000-8000-000000000001"
    for _ in range(2):
        service.record_review(round_.round_id, round_.sampled[0], "ann", FINDINGS, event_id=eid)
    assert store.head().position == head + 1


def _reviews(*rows: str) -> bytes:
    return "\n".join([REVIEW_HEADER, *rows, ""]).encode()


def test_import_refuses_a_second_review_by_the_first_reviewer_in_the_log(
    store, importer, round_
) -> None:
    note = round_.second_review[0]
    AuditService(store, projector=Projector(store)).record_review(
        round_.round_id, note, "ann", FINDINGS
    )
    head = store.head().position
    with pytest.raises(ImportRefused) as info:
        importer.import_reviews(_reviews(f"msk1,2024-03,{note},ann,yes,no,yes,yes"))
    assert "row 2, column reviewer" in str(
        info.value
    ) and "someone other than the first reviewer" in str(info.value)
    assert store.head().position == head


def test_import_refuses_first_and_second_review_by_one_person_in_one_file(
    store, importer, round_
) -> None:
    note = round_.second_review[0]
    data = _reviews(
        f"msk1,2024-03,{note},ann,yes,no,yes,no",
        f"msk1,2024-03,{note},ann,yes,no,yes,yes",
    )
    with pytest.raises(ImportRefused, match="row 3, column reviewer"):
        importer.import_reviews(data)


def test_import_refuses_a_second_review_of_a_note_not_chosen(store, importer, round_) -> None:
    note = next(c for c in round_.sampled if c not in round_.second_review)
    with pytest.raises(ImportRefused) as info:
        importer.import_reviews(_reviews(f"msk1,2024-03,{note},bob,yes,no,yes,yes"))
    assert "row 2, column second_review" in str(info.value)


def test_import_refuses_a_review_listed_twice_with_different_findings_naming_both_rows(
    store, importer, round_
) -> None:
    note = round_.sampled[0]
    data = _reviews(
        f"msk1,2024-03,{note},ann,yes,no,yes,no",
        f"msk1,2024-03,{note},ann,yes,yes,yes,no",
    )
    head = store.head().position
    with pytest.raises(ImportRefused) as info:
        importer.import_reviews(data)
    assert "row 3" in str(info.value) and "row 2" in str(info.value)
    assert store.head().position == head
    same = _reviews(
        f"msk1,2024-03,{note},ann,yes,no,yes,no", f"msk1,2024-03,{note},ann,yes,no,yes,no"
    )
    assert importer.import_reviews(same).appended == 1


def test_import_refuses_a_duplicated_review_column(store, importer, round_) -> None:
    data = (
        REVIEW_HEADER + ",reviewer\n" + f"msk1,2024-03,{round_.sampled[0]},ann,yes,no,yes,no,x\n"
    ).encode()
    with pytest.raises(ImportRefused, match="row 1: column reviewer appears more than once"):
        importer.import_reviews(data)
