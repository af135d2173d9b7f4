"""The "Both" chart: two sources on one time axis, intervals as bands, gaps never bridged."""

from __future__ import annotations

import pandas as pd

from audit.sources import both_frame
from dashboard.charts import SOURCE_STYLES, sources_chart, sources_frame


def _table(periods, props, provisional_last=False):
    n = len(periods)
    return pd.DataFrame(
        {
            "period": periods,
            "numerator": [round(p * 20) for p in props],
            "denominator": [20] * n,
            "proportion": props,
            "ci_low": [max(0.0, p - 0.2) for p in props],
            "ci_high": [min(1.0, p + 0.2) for p in props],
            "small": [False] * (n - 1) + [True],
            "provisional": [False] * (n - 1) + [provisional_last],
        }
    )


def test_both_frame_labels_each_source_and_keeps_the_provisional_flag() -> None:
    notes = _table(["2025-01", "2025-02"], [0.5, 0.6]).drop(columns="provisional")
    surveys = _table(["2025-01", "2025-02"], [0.4, 0.45], provisional_last=True)
    frame = both_frame(notes, surveys)
    assert list(frame["source"].unique()) == list(SOURCE_STYLES)
    assert frame.loc[frame["source"] == list(SOURCE_STYLES)[1], "provisional"].tolist() == [
        False,
        True,
    ]
    assert not frame.loc[frame["source"] == next(iter(SOURCE_STYLES)), "provisional"].any()


def test_a_missing_month_is_a_null_so_the_line_breaks_there() -> None:
    surveys = _table(["2025-01", "2025-02", "2025-05"], [0.4, 0.45, 0.5])
    frame = sources_frame(both_frame(None, surveys))
    assert frame["period"].tolist() == ["2025-01", "2025-02", "2025-03", "2025-04", "2025-05"]
    assert frame["proportion"].isna().tolist() == [False, False, True, True, False]


def test_the_chart_draws_bands_lines_and_points_on_one_date_axis_with_text_alternatives() -> None:
    frame = both_frame(
        _table(["2025-01", "2025-02", "2025-03"], [0.5, 0.6, 0.7]),
        _table(["2025-01", "2025-02", "2025-03"], [0.3, 0.35, 0.4], provisional_last=True),
    )
    spec = sources_chart(frame, target=0.8).to_dict()
    layers = spec["layer"]
    marks = [
        layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"]
        for layer in layers
    ]
    assert marks[:2] == ["area", "line"] and marks.count("point") >= 2 and "rule" in marks
    assert all(
        layer["encoding"]["x"]["field"] == "date"
        for layer in layers
        if "x" in layer.get("encoding", {})
    )
    assert layers[1]["mark"]["invalid"] == "break-paths-show-domains"  # gaps are not bridged
    line = layers[1]["encoding"]
    assert line["strokeDash"]["scale"]["range"] == [SOURCE_STYLES[k][1] for k in SOURCE_STYLES]
    hollow = [
        layer
        for layer in layers
        if layer["mark"].get("filled") is False and "color" in layer.get("encoding", {})
    ]
    assert len(hollow) == 1, "provisional months are drawn hollow, in their source's colour"
    provisional = spec["datasets"][hollow[0]["data"]["name"]]
    assert [r["period"] for r in provisional] == ["2025-03"]
