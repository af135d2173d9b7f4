"""`audit run` without --new-round opens a team-month's first round or nothing, decided when
the round is appended: two processes asked at once (four concurrent runs, found by probing)
opened r-…-1 and r-…-2 for one month, because each checked for a round, then the slower one
opened "the next". Here the other process's round lands in that window, deterministically."""

from __future__ import annotations

from pathlib import Path

import pytest

import audit.service as service_module
from audit.projections import Projector
from audit.queries import rounds_for
from audit.service import AuditService
from events import EventStore
from tests.helpers.csv_log import imported_notes


@pytest.fixture
def url(tmp_path: Path) -> str:
    return imported_notes(f"sqlite:///{tmp_path / 'events.db'}", tmp_path)


def _service(url: str) -> AuditService:
    store = EventStore(url)
    return AuditService(store, Projector(store))


@pytest.mark.parametrize("stale_reads", [1, 2], ids=["check stale", "check and open stale"])
def test_a_round_opened_by_another_process_meanwhile_is_reported_not_doubled(
    url: str, monkeypatch: pytest.MonkeyPatch, stale_reads: int
) -> None:
    other, ours = _service(url), _service(url)
    try:
        (theirs,) = other.run("2025-01")  # the other process, between our check and our open
        assert theirs.status == "opened" and theirs.round_id == "r-msk-2025-01-1"
        calls = {"n": 0}

        def stale(engine, **kw):  # our reads from before their round was appended
            calls["n"] += 1
            return [] if calls["n"] <= stale_reads else rounds_for(engine, **kw)

        monkeypatch.setattr(service_module, "rounds_for", stale)
        (outcome,) = ours.run("2025-01")
        monkeypatch.undo()
        assert (outcome.status, outcome.round_id) == ("exists", "r-msk-2025-01-1")
        assert outcome.sampled == 12
        rounds = rounds_for(ours.store.engine, team_id="msk", period="2025-01")
        assert [r.round_id for r in rounds] == ["r-msk-2025-01-1"]
    finally:
        other.store.dispose()
        ours.store.dispose()


def test_new_round_still_opens_the_next_round(url: str) -> None:
    ours = _service(url)
    try:
        ours.run("2025-01")
        (again,) = ours.run("2025-01", new_round=True)
        assert (again.status, again.round_id) == ("opened", "r-msk-2025-01-2")
    finally:
        ours.store.dispose()
