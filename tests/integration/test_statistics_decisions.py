"""Statistics decisions against real databases (SQLite file and PostgreSQL): SPC settings as
programme events reproduced as of a moment, the partition rule of the decisions service, the
``provisional`` key of ``audit report``, and the ``spc`` CLI's input rules."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from audit import decisions, views
from audit.projections import Projector
from audit.service import AuditService
from audit.settings import DEFAULT_SETTINGS, load_settings, load_settings_from_engine
from dashboard.cli import main
from events import EventStore, NewEvent
from events.types import ConsultationHeld, TeamRegistered

MONTHS = [f"{y}-{m:02d}" for y in (2024, 2025) for m in range(1, 13)]


def _programme(url: str, months=MONTHS, notes: int = 12) -> tuple[EventStore, Projector]:
    """One team, ``notes`` consultations a month, each month audited (census) and closed."""
    store = EventStore(url)
    projector = Projector(store)
    projector.ensure_schema()
    store.append([NewEvent(TeamRegistered(team_id="t", name="T", site="S", service="COPD"))])
    events = []
    for period in months:
        for i in range(notes):
            events.append(
                NewEvent(
                    ConsultationHeld(
                        consultation_id=f"c-{period}-{i}",
                        team_id="t",
                        clinician_id="k",
                        patient_ref="p_" + f"{i:032x}",
                        occurred_on=date(int(period[:4]), int(period[5:]), 10),
                        contact="telephone",
                    )
                )
            )
    store.append(events)
    projector.catch_up()
    service = AuditService(store, projector)
    for period in months:
        info = service.open_round("t", period, census=True)
        for k, cid in enumerate(info.sampled):
            yes = "yes" if k % 2 else "no"
            service.record_review(
                info.round_id,
                cid,
                "rev",
                {"agenda_setting": yes, "goal_setting": yes, "follow_up": yes},
            )
        service.close_round(info.round_id)
    return store, projector


def test_spc_settings_are_programme_decisions_reproduced_as_of(db_url):
    store, _ = _programme(db_url, MONTHS[:2], notes=2)
    try:
        assert load_settings(store) == DEFAULT_SETTINGS
        decisions.change_spc_settings(store, actor="lead", reason="board asked", shift_points=8)
        before = datetime(2000, 1, 1, tzinfo=UTC)
        now = load_settings_from_engine(store.engine)
        assert now.shift_points == 8 and now.changed_at is not None
        assert load_settings(store, as_of=before) == DEFAULT_SETTINGS
        assert any("Shift: 8 points" in line for line in now.lines())
        with pytest.raises(decisions.DecisionRefused, match="shift_points"):
            decisions.change_spc_settings(store, actor="lead", reason="x", shift_points=3)
    finally:
        store.dispose()


def test_the_decisions_service_refuses_a_one_point_partition_and_records_a_good_one(db_url):
    store, projector = _programme(db_url)
    try:
        with pytest.raises(decisions.DecisionRefused, match="needs at least 6"):
            decisions.recalculate_limits(
                store, "t", "agenda_setting", "2025-12", "from the last month", actor="lead"
            )
        decisions.fix_baseline(
            store,
            "t",
            "agenda_setting",
            "2025-01",
            "the 13 months before",
            actor="lead",
            projector=projector,
        )
        decisions.recalculate_limits(
            store,
            "t",
            "agenda_setting",
            "2025-07",
            "new template",
            actor="lead",
            projector=projector,
        )
        tc = views.team_chart(store.engine, "t", "agenda_setting")
        assert tc.recalculate_at == ("2025-07",)
        assert tc.judgement.partitions[-1].provisional_limits  # 6 points: provisional
        with pytest.raises(decisions.DecisionRefused, match="closed with"):
            decisions.recalculate_limits(
                store, "t", "agenda_setting", "2025-10", "again", actor="lead"
            )
    finally:
        store.dispose()


def test_audit_report_json_carries_provisional_for_an_open_round(db_url, capsys):
    store, projector = _programme(db_url, MONTHS[:2], notes=3)
    try:
        service = AuditService(store, projector)
        service.open_round("t", "2024-02", census=True)  # a second round, still open
    finally:
        store.dispose()
    assert main(["audit", "report", "--format", "json", "--db", db_url]) == 0
    records = json.loads(capsys.readouterr().out)
    flags = {(r["period"], r["provisional"]) for r in records}
    assert flags == {("2024-01", False), ("2024-02", True)}
    assert all(r["small"] for r in records)  # 3 notes a month


def _write(tmp_path, text: str) -> str:
    path = tmp_path / "series.csv"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_spc_target_30_for_a_p_chart_is_an_error_naming_the_unit(tmp_path, capsys):
    body = "period,numerator,denominator\n" + "".join(f"{p},5,10\n" for p in MONTHS)
    assert main(["spc", _write(tmp_path, body), "--chart", "p", "--target", "30"]) == 1
    err = capsys.readouterr().err
    assert "proportion between 0 and 1" in err and "Traceback" not in err
    assert main(["spc", _write(tmp_path, body), "--chart", "p", "--target", "0.3"]) == 0


def test_spc_refuses_an_impossible_month_and_a_duplicate_label(tmp_path, capsys):
    body = "period,value\n2025-12,1\n2025-13,2\n2025-12,3\n"
    assert main(["spc", _write(tmp_path, body)]) == 1
    err = capsys.readouterr().err
    assert "row 3, column period: not a real month" in err
    assert "row 4, column period: the same period as row 2" in err


def test_spc_help_gives_every_option_its_unit_and_default(capsys):
    with pytest.raises(SystemExit):
        main(["spc", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for needle in (
        "proportion 0–1",
        "(default: xmr)",
        "(default: up)",
        "(default: none",
        "(default: all points)",
        "(default: 6)",
        "(default: csv)",
        "repeatable (default: none)",
    ):
        assert needle in text, needle
