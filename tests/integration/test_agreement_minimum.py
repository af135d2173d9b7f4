"""Inter-rater agreement follows the programme's kappa minimum (``SpcSettingsChanged``), not a
constant, and counts paired *notes* (DESIGN: "Kappa needs >= 20 paired notes and is reported per
enabler"): a minimum at or below the notes reviewed twice shows kappa, pooled and per enabler;
one above withholds every figure, however many note x enabler findings there are."""

from __future__ import annotations

import pytest

from audit import views
from audit.decisions import change_spc_settings
from audit.imports import Importer
from audit.projections import Projector
from audit.service import AuditService
from events import EventStore, NewEvent
from events.pseudonym import PatientRegistry
from events.types import TeamRegistered

HEADER = "consultation_id,team,clinician,patient,occurred_on,contact,agenda_setting,goal_setting,follow_up"
FINDINGS = {"agenda_setting": "yes", "goal_setting": "no", "follow_up": "yes"}


@pytest.fixture
def store(db_url: str) -> EventStore:
    """Four notes reviewed twice, identically: 12 paired findings (note x enabler)."""
    s = EventStore(db_url)
    Projector(s).ensure_schema()
    s.append([NewEvent(TeamRegistered(team_id="msk1", name="MSK", site="N", service="MSK"))])
    registry = PatientRegistry(s.engine, "test-key-not-demo-0123456789abcdef0123")
    registry.ensure_schema()
    rows = [f"c-{i},msk1,K01,LOCAL-{i},2024-03-0{i + 1},telephone,yes,no,yes" for i in range(4)]
    Importer(s, registry, projector=Projector(s)).import_consultations(
        "\n".join([HEADER, *rows, ""]).encode()
    )
    service = AuditService(s, projector=Projector(s))
    info = service.open_round("msk1", "2024-03", sample_size=4, second_review_share=1.0)
    for note in info.sampled:
        service.record_review(info.round_id, note, "ann", FINDINGS)
        service.record_review(info.round_id, note, "bob", FINDINGS, second_review=True)
    Projector(s).catch_up()
    yield s
    s.dispose()


def _minimum(store: EventStore, pairs: int) -> None:
    change_spc_settings(
        store, actor="lead", reason="pilot", projector=Projector(store), kappa_minimum_pairs=pairs
    )


def test_four_notes_reviewed_twice_show_no_kappa_under_the_default_minimum_of_twenty(store) -> None:
    result = views.agreement(store.engine, team_id="msk1")
    assert (result["n"], result["notes"]) == (12, 4)
    assert (result["kappa"], result["percent_agreement"]) == (None, None)
    assert all(e["kappa"] is None for e in result["by_enabler"].values())


def test_twelve_findings_from_four_notes_do_not_meet_a_minimum_of_ten_paired_notes(store) -> None:
    _minimum(store, 10)
    result = views.agreement(store.engine, team_id="msk1")
    assert result["n"] == 12  # 12 note x enabler findings, but only 4 notes
    assert (result["kappa"], result["percent_agreement"]) == (None, None)


def test_a_programme_minimum_of_four_notes_shows_kappa_pooled_and_per_enabler(store) -> None:
    _minimum(store, 4)
    result = views.agreement(store.engine, team_id="msk1")
    assert result["kappa"] == pytest.approx(1.0)
    assert result["percent_agreement"] == pytest.approx(100.0)
    assert list(result["by_enabler"]) == ["agenda_setting", "goal_setting", "follow_up"]
    for figures in result["by_enabler"].values():
        assert (figures["n"], figures["notes"]) == (4, 4)
        assert figures["percent_agreement"] == pytest.approx(100.0)
        # every first and second finding of an enabler is the same answer: chance agreement is
        # 1, so kappa is undefined (None), not 1.0
        assert figures["kappa"] is None


def test_a_programme_minimum_above_the_notes_withholds_kappa(store) -> None:
    _minimum(store, 5)
    result = views.agreement(store.engine, team_id="msk1")
    assert result["kappa"] is None
    assert all(e["percent_agreement"] is None for e in result["by_enabler"].values())
