"""The team page's controls follow the source (AppTest on the seeded demo): the Chart choice
(p-chart / XmR / Run) shapes only the case-notes chart, so it is disabled with a caption in the
Patient surveys and Both views; the survey p-chart's small-sample legend counts returns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
ONLY_CASE_NOTES = "The chart choice applies to the case-notes view only"


def _team_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.switch_page("app_pages/team.py").run()
    assert not at.exception, at.exception
    return at


def _sample_legend(at: AppTest, index: int = 0) -> list[str]:
    """The domain of the chart's "Sample" shape legend (small-sample points)."""
    spec = json.loads(at.get("vega_lite_chart")[index].proto.spec)
    domains = []
    for layer in spec.get("layer", []):
        shape = layer.get("encoding", {}).get("shape", {})
        if shape.get("title") == "Sample":
            domains += shape["scale"]["domain"]
    return domains


@pytest.mark.parametrize("source", ["surveys", "both"])
def test_the_chart_choice_is_disabled_with_a_caption_outside_the_case_notes_view(
    dashboard_env, source: str
) -> None:
    at = _team_page()
    assert not at.radio(key="chart").disabled
    assert not any(ONLY_CASE_NOTES in c.value for c in at.caption)
    at.radio(key="source").set_value(source).run()
    assert not at.exception, at.exception
    assert at.radio(key="chart").disabled
    assert any(ONLY_CASE_NOTES in c.value for c in at.caption)


def test_the_chart_choice_is_kept_across_a_visit_to_the_other_sources(dashboard_env) -> None:
    at = _team_page()
    at.radio(key="chart").set_value("xmr").run()
    at.radio(key="source").set_value("both").run()
    at.radio(key="source").set_value("case_notes").run()
    assert not at.exception, at.exception
    assert not at.radio(key="chart").disabled
    assert at.radio(key="chart").value == "xmr"
    assert at.caption[0].value.startswith("XmR")


def test_the_survey_p_chart_legend_counts_returns_and_the_notes_chart_notes(
    dashboard_env,
) -> None:
    at = _team_page()
    notes_legend = _sample_legend(at)
    assert notes_legend and all("notes" in label for label in notes_legend)
    at.selectbox(key="team").set_value("a-msk").run()
    at.radio(key="source").set_value("surveys").run()
    assert not at.exception, at.exception
    legend = _sample_legend(at)
    assert "Fewer than 10 returns (small)" in legend
    assert not any("notes" in label for label in legend)
