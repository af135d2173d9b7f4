"""The shift length is set in one place (the programme's SPC settings, an ``SpcSettingsChanged``
event through the decisions service) and the dashboard, the review pack and the CLI all follow
it (issue #12). Real SQLite file and real PostgreSQL.

Two teams, 16 final months each, every month audited as a census of 10 notes: team ``six``
ends with 6 months above its centre line, team ``seven`` with 7; nothing else fires (no point
beyond a limit, no trend, no two of three beyond 2σ). Under the default shift of 6 both latest
months are special causes; once the programme decides a shift is 7, only ``seven``'s is.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from audit import decisions, labels
from audit.projections import Projector
from audit.service import AuditService
from dashboard.cli import main
from events import EventStore, NewEvent
from events.types import ConsultationHeld, TeamRegistered

MONTHS = [f"{y}-{m:02d}" for y in (2024, 2025) for m in range(1, 13)][:16]
NOTES = 10
MEASURE = "agenda_setting"
# documented notes out of 10, month by month: low and alternating, then a run above the centre
SERIES = {
    "six": [2, 3] * 5 + [6, 5] * 3,  # centre 0.3625: the last 6 months above it
    "seven": [2, 3] * 4 + [2] + [6, 5] * 3 + [6],  # centre 0.38125: the last 7 above it
}


def _programme(url: str) -> EventStore:
    store = EventStore(url)
    projector = Projector(store)
    projector.ensure_schema()
    store.append(
        [
            NewEvent(TeamRegistered(team_id=team, name=f"Team {team}", site="S", service="MSK"))
            for team in SERIES
        ]
    )
    store.append(
        [
            NewEvent(
                ConsultationHeld(
                    consultation_id=f"{team}-{period}-{i}",
                    team_id=team,
                    clinician_id=f"k-{team}",
                    patient_ref="p_" + f"{i:032x}",
                    occurred_on=date(int(period[:4]), int(period[5:]), 10),
                    contact="telephone",
                )
            )
            for team in SERIES
            for period in MONTHS
            for i in range(NOTES)
        ]
    )
    projector.catch_up()
    service = AuditService(store, projector)
    for team, yes_counts in SERIES.items():
        for period, yes in zip(MONTHS, yes_counts, strict=True):
            info = service.open_round(team, period, census=True)
            for k, cid in enumerate(sorted(info.sampled)):
                finding = "yes" if k < yes else "no"
                service.record_review(
                    info.round_id,
                    cid,
                    "rev",
                    {"agenda_setting": finding, "goal_setting": "no", "follow_up": "no"},
                )
            service.close_round(info.round_id)
    return store


def _dashboard_variation(url: str, team: str, monkeypatch: pytest.MonkeyPatch) -> str | None:
    """What the Team page shows: ``data.team_chart`` on this run's snapshot."""
    from dashboard import data

    monkeypatch.setenv("SIPDASH_DATABASE_URL", url)
    snap = data.refresh()
    tc = data.team_chart(snap, team, MEASURE)
    assert tc is not None and tc.judgement.last_period == MONTHS[-1]
    return tc.judgement.variation


def _pack_lines(store: EventStore) -> tuple[dict[str, str], str]:
    """Each team's caption under its agenda-setting chart, and the method appendix."""
    from dashboard.pack import _programme_settings, build_pack, method_lines

    pack = build_pack(store, record=False)  # charts render only on .html/.pdf
    captions = {
        t.team_id: f.caption
        for t in pack.content.teams
        for f in t.figures
        if f.key == f"{t.team_id}:{MEASURE}"
    }
    return captions, " ".join(method_lines(_programme_settings(pack.meta)))


def _cli_variation(
    url: str, team: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> str | None:
    """``sipdash spc`` on the team's series, with no --shift: the programme's settings."""
    path = tmp_path / f"{team}.csv"
    rows = [f"{p},{yes},{NOTES}" for p, yes in zip(MONTHS, SERIES[team], strict=True)]
    path.write_text("period,numerator,denominator\n" + "\n".join(rows) + "\n", encoding="utf-8")
    capsys.readouterr()
    code = main(["spc", str(path), "--chart", "p", "--format", "json", "--db", url])
    out = capsys.readouterr().out
    assert code == 0, out
    result = json.loads(out)
    assert result["points"][-1]["point_type"] == result["summary"]["variation"]
    return result["summary"]["variation"]


def test_a_shift_length_changed_once_changes_the_dashboard_the_pack_and_the_cli(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    store = _programme(db_url)
    improvement = labels.VARIATION_BADGES["improvement"]
    common = labels.VARIATION_BADGES["common_cause"]
    try:
        # the defaults: a shift is 6, so both runs are one
        for team in SERIES:
            assert _dashboard_variation(db_url, team, monkeypatch) == "improvement"
            assert _cli_variation(db_url, team, tmp_path, capsys) == "improvement"
        captions, method = _pack_lines(store)
        assert all(improvement in captions[team] for team in SERIES), captions
        assert "a shift of 6" in method

        # ONE decision, in one place
        decisions.change_spc_settings(
            store, actor="programme lead", reason="board: a shift is 7", shift_points=7
        )

        # the run of 7 is still a shift, the run of 6 no longer is: everywhere
        assert _dashboard_variation(db_url, "seven", monkeypatch) == "improvement"
        assert _dashboard_variation(db_url, "six", monkeypatch) == "common_cause"
        captions, method = _pack_lines(store)
        assert improvement in captions["seven"] and common in captions["six"], captions
        assert "a shift of 7" in method and "a shift of 6" not in method
        assert _cli_variation(db_url, "seven", tmp_path, capsys) == "improvement"
        assert _cli_variation(db_url, "six", tmp_path, capsys) == "common_cause"
    finally:
        store.dispose()


def test_the_spc_command_line_still_overrides_the_programme_setting(
    db_url: str, tmp_path: Path, capsys
) -> None:
    store = _programme(db_url)
    try:
        decisions.change_spc_settings(store, actor="lead", reason="a shift is 7", shift_points=7)
    finally:
        store.dispose()
    path = tmp_path / "six.csv"
    rows = [f"{p},{yes},{NOTES}" for p, yes in zip(MONTHS, SERIES["six"], strict=True)]
    path.write_text("period,numerator,denominator\n" + "\n".join(rows) + "\n", encoding="utf-8")
    capsys.readouterr()
    argv = ["spc", str(path), "--chart", "p", "--format", "json", "--db", db_url]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["summary"]["variation"] == "common_cause"
    assert main([*argv, "--shift", "6"]) == 0
    assert json.loads(capsys.readouterr().out)["summary"]["variation"] == "improvement"


def test_the_spc_command_without_a_database_uses_the_default_shift(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SIPDASH_DATABASE_URL", raising=False)
    path = tmp_path / "six.csv"
    rows = [f"{p},{yes},{NOTES}" for p, yes in zip(MONTHS, SERIES["six"], strict=True)]
    path.write_text("period,numerator,denominator\n" + "\n".join(rows) + "\n", encoding="utf-8")
    missing = f"sqlite:///{tmp_path / 'none.db'}"
    assert main(["spc", str(path), "--chart", "p", "--format", "json", "--db", missing]) == 0
    assert json.loads(capsys.readouterr().out)["summary"]["variation"] == "improvement"
    assert not (tmp_path / "none.db").exists()  # nothing created
