"""The dashboard's pure Altair builders, checked through their Vega-Lite specs (no browser)."""

from __future__ import annotations

import itertools
import json

import pandas as pd
import pytest

from audit.spc import POINT_COLOURS, p_chart
from dashboard import charts

NHS = {
    "improvement": "#00B0F0",
    "concern": "#E46C0A",
    "neither": "#490092",
    "common_cause": "#A6A6A6",
}


def _periods(n: int, start: int = 2023) -> list[str]:
    return [f"{start + i // 12}-{i % 12 + 1:02d}" for i in range(n)]


@pytest.fixture
def spc_frame() -> pd.DataFrame:
    periods = _periods(24)
    # 12 months around 40%, then a sustained rise: a shift the p-chart flags as improvement.
    num = [8, 9, 7, 8, 10, 8, 9, 7, 8, 9, 8, 3, 15, 16, 15, 17, 16, 18, 17, 16, 18, 17, 18, 19]
    den = [20] * 11 + [6] + [20] * 12
    result = p_chart(periods, num, den, target=0.8, baseline=12)
    frame = result.to_frame()
    frame["ci_low"] = frame["value"] - 0.1
    frame["ci_high"] = frame["value"] + 0.1
    frame["small"] = frame["denominator"] < 10
    return frame


@pytest.fixture
def milestones() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "type": ["MilestoneLogged"] * 3,
            "on": ["2023-03-01", "2023-12-15", "2024-02-01"],
            "kind": ["sip_start", "adp_training", "pdsa_cycle"],
            "title": ["Programme starts", "Clinicians trained", "Cycle 1"],
        }
    )


def _layers(spec: dict) -> list[dict]:
    return spec["layer"]


def _datasets(spec: dict) -> dict[str, list[dict]]:
    return spec.get("datasets", {})


def _layer_rows(spec: dict, layer: dict) -> list[dict]:
    return _datasets(spec)[layer["data"]["name"]]


def _marks(spec: dict) -> list[str]:
    return [
        layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"]
        for layer in _layers(spec)
    ]


def test_spc_chart_has_points_lines_target_and_milestones(spc_frame, milestones):
    chart = charts.spc_chart(spc_frame, target=0.8, milestones=milestones, baseline_end="2023-12")
    spec = chart.to_dict()
    marks = _marks(spec)
    assert marks.count("point") == 1
    assert marks.count("rule") >= 3  # target, baseline end, milestones
    # the target's label, and the month labels of the annotations (drawn twice: halo, text)
    assert marks.count("text") == 3
    assert "line" in marks

    point_layer = next(lay for lay in _layers(spec) if lay["mark"]["type"] == "point")
    enc = point_layer["encoding"]
    assert enc["x"]["field"] == "date" and enc["x"]["type"] == "temporal"
    assert enc["y"]["field"] == "value"
    assert enc["y"]["axis"]["format"] == ".0%"
    scale = enc["color"]["scale"]
    assert scale["range"] == [NHS[k] for k in ("improvement", "concern", "neither", "common_cause")]
    assert scale["domain"] == ["Improvement", "Concern", "Special cause (neither)", "Common cause"]
    tooltip_fields = {t["field"] for t in enc["tooltip"]}
    assert {"period", "value", "numerator", "denominator", "ci_low", "ci_high", "rules"} <= (
        tooltip_fields
    )
    rows = _layer_rows(spec, point_layer)
    assert len(rows) == 24
    assert rows[0]["date"].startswith("2023-01-01")
    assert any(r["point_label"] == "Improvement" for r in rows)
    assert any("shift" in r["rules"] for r in rows)
    assert rows[11]["sample"] == "Fewer than 10 notes (small)"
    assert enc["shape"]["scale"]["range"] == ["circle", "triangle-down"]


def test_spc_chart_draws_centre_limits_and_two_sigma_dashed(spc_frame):
    spec = charts.spc_chart(spc_frame, target=0.8).to_dict()
    line_layer = next(
        lay
        for lay in _layers(spec)
        if lay["mark"]["type"] == "line" and "strokeDash" in lay["encoding"]
    )
    rows = _layer_rows(spec, line_layer)
    assert {r["line"] for r in rows} == {"Centre line", "Process limits (3σ)", "2σ lines"}
    assert {r["series"] for r in rows} == {
        "centre",
        "upper_limit",
        "lower_limit",
        "upper_2sigma",
        "lower_2sigma",
    }
    dash = line_layer["encoding"]["strokeDash"]["scale"]
    limits = dash["domain"].index("Process limits (3σ)")
    two_sigma = dash["domain"].index("2σ lines")
    assert dash["range"][limits] != [1, 0] and dash["range"][two_sigma] != [1, 0]


def test_target_line_is_nhs_red_and_labelled(spc_frame):
    spec = charts.spc_chart(spc_frame, target=0.8).to_dict()
    target_rule = next(
        lay
        for lay in _layers(spec)
        if lay["mark"]["type"] == "rule" and _layer_rows(spec, lay)[0].get("line") == "Target"
    )
    assert _layer_rows(spec, target_rule)[0]["value"] == 0.8
    assert target_rule["mark"]["color"] == "#DE1B1B"
    assert target_rule["encoding"]["y"]["field"] == "value"
    label = next(
        lay
        for lay in _layers(spec)
        if lay["mark"]["type"] == "text" and _layer_rows(spec, lay)[0].get("line") == "Target"
    )
    assert _layer_rows(spec, label)[0]["text"] == "Target 80%"
    assert label["mark"]["color"] == "#DE1B1B"


def _rows_with(spec: dict, column: str) -> list[dict]:
    return [
        lay
        for lay in _layers(spec)
        if "data" in lay and _layer_rows(spec, lay) and column in _layer_rows(spec, lay)[0]
    ]


def test_milestones_are_vertical_rules_with_labels(spc_frame, milestones):
    spec = charts.spc_chart(spc_frame, target=0.8, milestones=milestones).to_dict()
    rule = next(lay for lay in _rows_with(spec, "kind") if lay["mark"]["type"] == "rule")
    assert rule["encoding"]["x"]["field"] == "date"
    assert "y" not in rule["encoding"]  # a full-height vertical rule
    assert [r["on"] for r in _layer_rows(spec, rule)] == ["2023-03-01", "2023-12-15", "2024-02-01"]
    text = [
        lay
        for lay in _layers(spec)
        if lay["mark"]["type"] == "text" and lay["encoding"].get("text", {}).get("field") == "label"
    ][-1]
    assert text["mark"]["color"] == charts.MILESTONE_COLOUR
    assert text["encoding"]["x"]["field"] == "date"
    assert text["mark"]["angle"] == 270
    labels = [r["label"] for r in _layer_rows(spec, text)]
    assert labels == ["SIP start", "ADP training", "PDSA cycle"]


def test_labels_of_one_month_are_joined(milestones):
    frame = charts.annotations_frame(
        pd.concat(
            [
                milestones,
                pd.DataFrame(
                    {"on": ["2023-12-20"], "kind": ["change_idea"], "title": ["New template"]}
                ),
            ]
        ),
        baseline_end="2023-11",
    )
    assert frame["label"].tolist() == [
        "SIP start",
        "Baseline ends · ADP training · Change idea",
        "PDSA cycle",
    ]


def test_baseline_end_and_recalculation_are_marked(spc_frame):
    frame = charts.breaks_frame("2023-12", ["2024-06"])
    assert frame["label"].tolist() == ["Baseline ends", "New limits from here"]
    assert str(frame["date"].iloc[0].date()) == "2024-01-01"
    assert str(frame["date"].iloc[1].date()) == "2024-06-01"
    spec = charts.spc_chart(spc_frame, baseline_end="2023-12", recalculate_at=["2024-06"]).to_dict()
    rules = [lay for lay in _rows_with(spec, "period") if lay["mark"]["type"] == "rule"]
    assert any(lay["mark"].get("strokeDash") for lay in rules)
    text = json.dumps(spec)
    assert "Baseline ends" in text and "New limits from here" in text


def test_limit_lines_break_at_a_recalculation(spc_frame):
    lines = charts.spc_lines_frame(spc_frame, recalculate_at=["2024-01"])
    centre = lines[lines["series"] == "centre"]
    assert set(centre["segment"]) == {0, 1}
    assert centre[centre["period"] == "2023-12"]["segment"].item() == 0
    assert centre[centre["period"] == "2024-01"]["segment"].item() == 1


def test_spc_chart_without_limits_or_target_still_draws(spc_frame):
    frame = spc_frame.head(5).copy()
    for col in ("lower_limit", "upper_limit", "lower_2sigma", "upper_2sigma"):
        frame[col] = float("nan")
    spec = charts.spc_chart(frame).to_dict()
    assert "#DE1B1B" not in json.dumps(spec)
    assert "point" in _marks(spec)


def test_point_colours_match_the_audit_palette():
    assert POINT_COLOURS == NHS


def test_describe_signals_in_words():
    assert charts.describe_signals("shift, trend").startswith("a shift")
    assert charts.describe_signals("") == "none"
    assert charts.describe_signals(None) == "none"


@pytest.fixture
def funnel_teams() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "team": ["a", "b", "c"],
            "team_name": ["Alpha", "Beta", "Gamma"],
            "numerator": [90, 40, 10],
            "denominator": [100, 80, 60],
            "proportion": [0.9, 0.5, 10 / 60],
            "outside_95": [True, False, True],
            "outside_998": [True, False, True],
            "side": ["above", None, "below"],
            "ci_low": [0.83, 0.39, 0.09],
            "ci_high": [0.94, 0.61, 0.28],
        }
    )


def test_funnel_chart_limits_points_and_labels(funnel_teams):
    curves = pd.DataFrame(
        {
            "n": [1, 50, 100],
            "lower_95": [0.0, 0.4, 0.45],
            "upper_95": [1.0, 0.7, 0.65],
            "lower_998": [0.0, 0.35, 0.4],
            "upper_998": [1.0, 0.75, 0.7],
        }
    )
    spec = charts.funnel_chart(funnel_teams, curves, 0.55).to_dict()
    marks = _marks(spec)
    assert {"line", "point", "text", "rule"} <= set(marks)
    line = next(lay for lay in _layers(spec) if lay["mark"]["type"] == "line")
    assert {r["limit"] for r in _layer_rows(spec, line)} == {"95% limits", "99.8% limits"}
    texts = [
        lay
        for lay in _layers(spec)
        if lay["mark"]["type"] == "text" and lay["encoding"]["text"]["field"] == "team_name"
    ]
    assert texts and all(
        [r["team_name"] for r in _layer_rows(spec, lay)] == ["Alpha", "Beta", "Gamma"]
        for lay in texts
    )
    point = next(lay for lay in _layers(spec) if lay["mark"]["type"] == "point")
    positions = [r["position"] for r in _layer_rows(spec, point)]
    assert positions == ["Above the 99.8% limit", "Within the limits", "Below the 99.8% limit"]
    scale = point["encoding"]["color"]["scale"]
    assert NHS["improvement"] in scale["range"] and NHS["concern"] in scale["range"]


def test_interval_chart_shows_wilson_intervals(funnel_teams):
    spec = charts.interval_chart(funnel_teams, 0.55).to_dict()
    rule = next(
        lay for lay in _layers(spec) if lay["mark"]["type"] == "rule" and "x2" in lay["encoding"]
    )
    assert rule["encoding"]["x"]["field"] == "ci_low"
    assert rule["encoding"]["x2"]["field"] == "ci_high"
    point = next(lay for lay in _layers(spec) if lay["mark"]["type"] == "point")
    assert point["encoding"]["y"]["sort"] == ["Alpha", "Beta", "Gamma"]


def test_spread_labels_keeps_order_and_gap():
    placed = charts.spread_labels([0.50, 0.51, 0.10, 0.505], 0.04)
    assert placed[2] == 0.10
    ordered = sorted(placed)
    assert all(b - a >= 0.04 - 1e-9 for a, b in itertools.pairwise(ordered))
    assert placed[0] < placed[3] < placed[1]
    assert max(charts.spread_labels([0.99, 0.995, 1.0], 0.05)) <= 1.0


def test_funnel_x_domain_frames_the_teams():
    low, high = charts.funnel_x_domain([600, 700, 720])
    assert low < 600 and high > 720 and low > 0


def test_width_is_settable_for_static_renders(spc_frame, funnel_teams):
    assert charts.spc_chart(spc_frame).to_dict()["width"] == "container"
    assert charts.spc_chart(spc_frame, width=720).to_dict()["width"] == 720
    assert charts.interval_chart(funnel_teams, width=600).to_dict()["width"] == 600
