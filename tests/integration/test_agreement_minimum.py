"""Inter-rater agreement follows the programme's kappa minimum (``SpcSettingsChanged``), not a
constant: a lower minimum shows kappa from fewer paired findings, a higher one withholds it."""

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
    registry = PatientRegistry(s.engine, "test-key-not-demo")
    registry.ensure_schema()
    rows = [f"c-{i},msk1,K01,LOCAL-{i},2024-03-0{i + 1},telephone,yes,no,yes" for i in range(4)]
    Importer(s, registry).import_consultations("\n".join([HEADER, *rows, ""]).encode())
    service = AuditService(s)
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


def test_twelve_paired_findings_show_no_kappa_under_the_default_minimum_of_twenty(store) -> None:
    result = views.agreement(store.engine, team_id="msk1")
    assert result["n"] == 12
    assert (result["kappa"], result["percent_agreement"]) == (None, None)


def test_a_programme_minimum_of_ten_shows_kappa_from_twelve_paired_findings(store) -> None:
    _minimum(store, 10)
    result = views.agreement(store.engine, team_id="msk1")
    assert result["n"] == 12
    assert result["kappa"] == pytest.approx(1.0)
    assert result["percent_agreement"] == pytest.approx(100.0)


def test_a_programme_minimum_above_the_pairs_withholds_kappa(store) -> None:
    _minimum(store, 13)
    assert views.agreement(store.engine, team_id="msk1")["kappa"] is None
