"""Issue #15 reproduced end to end on the demo programme (AppTest, real SQLite file).

- item 3: closing a round with only 3 reviewed notes does not move the headline, and the month
  is marked small on the overview and on the team page;
- item 1: b-mood's nine months without an audit (2024-06 to 2025-02) are a gap: reported in
  words, and no line (data, centre, limits) is drawn across it.
"""

from __future__ import annotations

import itertools
import json
from datetime import date
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from audit.projections import Projector
from audit.service import AuditService
from events import EventStore, NewEvent
from events.types import ConsultationHeld
from tests.helpers.apptest import open_app


def _team_page(team: str, measure: str = "agenda_setting") -> AppTest:
    at = open_app()
    at.switch_page("app_pages/team.py").run()
    at.selectbox(key="team").set_value(team).run()
    at.selectbox(key="measure").set_value(measure).run()
    assert not at.exception, at.exception
    return at


def _headline(at: AppTest) -> list[str]:
    return [m.value for m in at.metric]


def _close_a_round_with_three_reviews(url: str, team: str, period: str) -> None:
    store = EventStore(url)
    projector = Projector(store)
    try:
        store.append(
            [
                NewEvent(
                    ConsultationHeld(
                        consultation_id=f"late-{team}-{period}-{i}",
                        team_id=team,
                        clinician_id=f"{team}-late-clinician",
                        patient_ref="p_" + f"{i + 1:032x}",
                        occurred_on=date(int(period[:4]), int(period[5:]), 12),
                        contact="telephone",
                    )
                )
                for i in range(10)
            ]
        )
        projector.catch_up()
        service = AuditService(store, projector)
        info = service.open_round(team, period, sample_size=10, actor="lead")
        for cid in info.sampled[:3]:
            no = {"agenda_setting": "no", "goal_setting": "no", "follow_up": "no"}
            service.record_review(info.round_id, cid, "Dr Reviewer", no, actor="lead")
        service.close_round(info.round_id, actor="lead")
    finally:
        store.dispose()


@pytest.fixture
def copy_env(monkeypatch: pytest.MonkeyPatch, seeded_db_copy: Path) -> str:
    url = f"sqlite:///{seeded_db_copy}"
    monkeypatch.setenv("SIPDASH_DATABASE_URL", url)
    return url


def test_a_closed_round_with_three_reviewed_notes_does_not_move_the_headline(copy_env):
    before = _headline(open_app())
    _close_a_round_with_three_reviews(copy_env, "a-msk", "2026-01")

    at = open_app()
    assert _headline(at) == before
    small = [c.value for c in at.caption if c.value.startswith("Small month")]
    assert small and "2026-01" in small[0] and "left out of the norm and the headline" in small[0]

    team = _team_page("a-msk")
    months = team.dataframe[0].value.set_index("Month")
    assert months.loc["2026-01", "Sample"] == "⚠ small (n < 10)"
    assert months.loc["2026-01", "Notes reviewed (n)"] == 3
    said = " ".join([m.value for m in team.markdown] + [c.value for c in team.caption])
    assert "Latest month (2025-12)" in said  # icons from the last final, non-small month
    assert "Small (fewer than 10 notes): 2026-01" in said


def test_an_open_round_is_provisional_and_out_of_the_headline(copy_env):
    before = _headline(open_app())
    store = EventStore(copy_env)
    try:
        service = AuditService(store, Projector(store))
        info = service.open_round("a-copd", "2025-12", sample_size=20, actor="lead")
        assert info.closed_at is None
    finally:
        store.dispose()
    at = open_app()
    assert _headline(at) == before
    assert any(c.value.startswith("Provisional (round still open)") for c in at.caption)
    team = _team_page("a-copd")
    months = team.dataframe[0].value.set_index("Month")
    assert months.loc["2025-12", "Status"] == "provisional (round open)"
    said = " ".join(c.value for c in team.caption)
    assert "Provisional (round still open): 2025-12" in said


def _rows(at: AppTest, column: str) -> list[dict]:
    import json

    import pyarrow as pa

    proto = at.get("vega_lite_chart")[0].proto
    spec = json.loads(proto.spec)
    rows = []
    for data in spec.get("datasets", {}).values():
        if data and column in data[0]:
            rows.extend(data)
    for ds in proto.datasets:
        table = pa.ipc.open_stream(ds.data.data).read_all().to_pandas()
        if column in table.columns:
            rows.extend(table.to_dict("records"))
    return rows


def test_the_demo_gap_is_reported_and_never_bridged(dashboard_env):
    at = _team_page("b-mood")
    said = " ".join(c.value for c in at.caption)
    assert "9 months have no reviewed notes (2024-06 to 2025-02)" in said
    months = at.dataframe[0].value["Month"].tolist()
    assert "2024-05" in months and "2025-03" in months and "2024-06" not in months

    def index(p: str) -> int:
        return int(p[:4]) * 12 + int(p[5:7])

    lines = [r for r in _rows(at, "segment") if "series" in r]
    assert lines
    by_segment: dict[tuple, list[int]] = {}
    for r in lines:
        by_segment.setdefault((r["series"], r["segment"]), []).append(index(r["period"]))
    for key, ms in by_segment.items():
        ms.sort()
        assert all(b - a == 1 for a, b in itertools.pairwise(ms)), key
    runs = {r["period"]: r["run"] for r in _rows(at, "run")}
    assert runs["2024-05"] != runs["2025-03"]  # the data line breaks at the gap


def test_the_run_chart_says_it_is_an_alternative_view_with_the_p_chart_verdict(dashboard_env):
    p = _team_page("a-coach")
    verdict = next(m.value for m in p.markdown if "Latest month" in m.value)
    p.radio(key="chart").set_value("run").run()
    assert not p.exception
    run_verdict = next(m.value for m in p.markdown if "Latest month" in m.value)
    assert run_verdict == verdict
    said = " ".join(c.value for c in p.caption)
    assert "alternative view over the same baseline and recalculation partitions" in said
    assert "too few points" not in run_verdict.lower()


def test_compare_defaults_to_the_latest_complete_quarter_and_offers_census_n(dashboard_env):
    at = open_app()
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception
    caption = at.caption[0].value
    assert "the latest complete quarter of final data, 2025-Q4 (2025-10 to 2025-12)" in caption
    sample_n = at.dataframe[0].value["Notes reviewed (n)"]
    assert set(sample_n) == {60}  # 3 months × 20 notes: the pre-programme years are not pooled
    at.radio(key="cmp_n").set_value("census").run()
    assert not at.exception
    assert "n = census" in at.caption[0].value
    assert at.dataframe[0].value["Notes reviewed (n)"].nunique() > 1
    spec = json.dumps(json.loads(at.get("vega_lite_chart")[0].proto.spec))
    assert '"expr": "width + 10"' in spec  # team names are drawn right of the plot area
