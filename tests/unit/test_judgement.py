"""The one verdict (audit.judgement): gaps, targets in force, provisional and small months,
stale teams, partitions and the words that explain them. Pure: frames in, judgements out."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest

from audit.judgement import (
    NOT_ASSESSABLE,
    Decisions,
    gap_text,
    headline_counts,
    judge_team,
    limits_text,
)
from audit.settings import ProgrammeSettings
from audit.spc import run_chart, xmr_chart
from dashboard import charts


def months(start: str, n: int) -> list[str]:
    y, m = int(start[:4]), int(start[5:])
    out = []
    for _ in range(n):
        out.append(f"{y:04d}-{m:02d}")
        m += 1
        if m == 13:
            y, m = y + 1, 1
    return out


def series(values: list[float], start: str = "2023-01", n: int = 20, skip=()) -> pd.DataFrame:
    rows = []
    for period, v in zip(months(start, len(values)), values, strict=True):
        if period in skip:
            continue
        rows.append({"period": period, "numerator": round(v * n), "denominator": n})
    return pd.DataFrame(rows)


FLAT = [0.5, 0.55, 0.45, 0.5, 0.6, 0.4, 0.5, 0.55, 0.45, 0.5, 0.5, 0.45, 0.55]


# --------------------------------------------------------------------------------------- gaps


def test_a_gap_series_takes_its_limits_from_the_present_points_only():
    gap = months("2024-02", 9)
    s = series(FLAT * 3, skip=gap)
    j = judge_team(s, Decisions())
    present = s["numerator"].sum() / s["denominator"].sum()
    assert j.frame["centre"].dropna().unique() == pytest.approx([present])
    assert len(j.frame) == 39 - 9


def test_a_gap_is_reported_in_words_with_how_many_months_are_missing():
    j = judge_team(series(FLAT * 3, skip=months("2024-02", 9)), Decisions())
    assert j.missing == tuple(months("2024-02", 9))
    assert gap_text(j).startswith("9 months have no reviewed notes (2024-02 to 2024-10)")


def test_no_line_steps_or_joins_inside_a_gap():
    j = judge_team(series(FLAT * 3, skip=months("2024-02", 9)), Decisions())
    lines = charts.spc_lines_frame(j.frame)
    for _, seg in lines.groupby(["series", "segment"]):
        ms = [int(p[:4]) * 12 + int(p[5:]) for p in seg["period"]]
        assert all(b - a == 1 for a, b in itertools.pairwise(ms)), "a line spans the gap"
    points = charts.spc_points_frame(j.frame)
    assert points["run"].nunique() == 2  # the data line breaks at the gap


def test_a_moving_range_never_spans_a_gap():
    periods = ["2024-01", "2024-02", "2024-03", "2024-10", "2024-11", "2024-12"]
    values = [1.0, 2.0, 1.0, 50.0, 51.0, 50.0]
    result = xmr_chart(periods, values, settings=_settings(minimum=2).spc)
    mean = sum(values) / 6
    # the four neighbouring ranges are all 1; the jump 1 → 50 across the gap is not a range
    assert result.points[0].upper_limit == pytest.approx(mean + 2.66 * 1.0)


def test_run_rules_use_the_points_present_and_cli_rows_are_kept_as_given():
    periods = ["2024-01", "2024-03", "2024-02"]  # odd order: kept as given
    result = xmr_chart(periods, [1.0, 2.0, 3.0], settings=_settings(minimum=2).spc)
    assert [p.period for p in result.points] == periods


# -------------------------------------------------------------------------------- targets


def test_earlier_points_are_judged_against_the_target_in_force_for_them():
    values = [0.5] * 13 + [0.75] * 3 + [0.95] * 3
    decisions = Decisions(targets=(("2023-01", 0.7), ("2024-05", 0.9)))
    j = judge_team(series(values), decisions)
    assert j.frame.loc[j.frame["period"] == "2024-02", "target"].item() == 0.7
    assert j.frame.loc[j.frame["period"] == "2024-07", "target"].item() == 0.9
    assert j.target_now == 0.9
    assert j.is_norm, j.norm_reason  # each of the last 6 met the target in force for it
    # judged against the last target for every month, it would not be the norm
    later = judge_team(series(values), Decisions(targets=(("2023-01", 0.9),)))
    assert not later.is_norm


def test_assurance_uses_the_target_in_force_at_the_last_point():
    values = [0.9, 0.92, 0.88, 0.9, 0.91, 0.89, 0.9, 0.92, 0.88, 0.9, 0.91, 0.89, 0.9]
    s = series(values, n=400)
    low_then_high = Decisions(targets=(("2023-01", 0.5), ("2024-01", 0.99)))
    assert judge_team(s, low_then_high).assurance == "fail"
    high_then_low = Decisions(targets=(("2023-01", 0.99), ("2024-01", 0.5)))
    assert judge_team(s, high_then_low).assurance == "pass"


def test_the_target_is_drawn_as_a_step_line_month_by_month():
    decisions = Decisions(targets=(("2023-06", 0.7), ("2023-10", 0.9)))
    j = judge_team(series(FLAT), decisions)
    steps = charts.target_steps_frame(j.frame)
    assert steps["period"].iloc[0] == "2023-06"  # no target was in force before
    assert list(steps["value"].unique()) == [0.7, 0.9]
    spec = charts.spc_chart(j.frame).to_dict()
    assert any(
        isinstance(layer["mark"], dict) and layer["mark"].get("interpolate") == "step-after"
        for layer in spec["layer"]
    )


# --------------------------------------------------------------- provisional and small months


def test_a_small_last_month_moves_neither_the_icons_nor_the_norm():
    base = series([0.9, 0.85, 0.95, 0.9, 0.85, 0.95, 0.9, 0.85, 0.95, 0.9, 0.85, 0.95, 0.9])
    small = pd.concat(
        [base, pd.DataFrame([{"period": "2024-02", "numerator": 0, "denominator": 3}])]
    )
    before, after = judge_team(base, Decisions()), judge_team(small, Decisions())
    assert after.small_months == ("2024-02",)
    assert after.last_period == "2024-01"
    assert (after.variation, after.assurance, after.is_norm) == (
        before.variation,
        before.assurance,
        before.is_norm,
    )
    assert headline_counts([after]) == headline_counts([before])


def test_a_provisional_month_is_left_out_of_the_centre_line_runs_icons_and_norm():
    base = series([0.9, 0.85, 0.95, 0.9, 0.85, 0.95, 0.9, 0.85, 0.95, 0.9, 0.85, 0.95, 0.9])
    open_month = pd.DataFrame(
        [{"period": "2024-02", "numerator": 0, "denominator": 20, "provisional": True}]
    )
    with_open = pd.concat([base.assign(provisional=False), open_month])
    before, after = judge_team(base, Decisions()), judge_team(with_open, Decisions())
    assert after.provisional_months == ("2024-02",)
    assert after.frame["centre"].iloc[-1] == pytest.approx(before.frame["centre"].iloc[-1])
    assert after.frame["point_type"].iloc[-1] == "common_cause"  # no verdict of its own
    assert after.result.runs == before.result.runs
    assert (after.variation, after.is_norm, after.last_period) == (
        before.variation,
        before.is_norm,
        before.last_period,
    )


def test_a_team_not_audited_recently_is_counted_neither_way():
    j = judge_team(series([0.95] * 13), Decisions(), up_to="2024-06")
    assert not j.counted and not j.is_norm
    fresh = judge_team(series([0.95] * 13), Decisions(), up_to="2024-03")
    assert fresh.counted
    assert headline_counts([j, fresh]) == (int(fresh.is_norm), 1, [""])


# ----------------------------------------------------------------------- partitions, verdict


def test_the_run_chart_uses_the_same_partitions_and_does_not_colour_the_baseline():
    values = [0.2, 0.25, 0.22, 0.18, 0.2, 0.24, 0.21, 0.19, 0.23, 0.2, 0.22, 0.2] + [0.8] * 24
    periods = months("2023-01", 36)
    whole = run_chart(periods, values)
    assert {p.point_type for p in whole.points[:12]} == {"concern"}
    split = run_chart(
        periods,
        values,
        baseline=12,
        recalculate_at=["2024-01"],
        baseline_overrides_recalculations=False,
    )
    assert {p.point_type for p in split.points[:12]} == {"common_cause"}
    assert split.points[0].centre == pytest.approx(
        sorted(values[:12])[5:7][0] / 2 + sorted(values[:12])[5:7][1] / 2
    )


def test_the_alternative_views_keep_the_p_chart_verdict():
    values = [0.3] * 12 + [0.7] * 24
    decisions = Decisions(baseline_end="2023-12")
    p = judge_team(series(values), decisions)
    for chart in ("run", "xmr"):
        other = judge_team(series(values), decisions, chart=chart)
        assert (other.variation, other.assurance, other.is_norm) == (
            p.variation,
            p.assurance,
            p.is_norm,
        )


def test_culture_shift_states_the_first_improvement_and_the_state_now():
    values = [0.3] * 12 + [0.8] * 12 + [0.1] * 8
    decisions = Decisions(baseline_end="2023-12", recalculate_at=("2024-01",))
    j = judge_team(series(values), decisions)
    assert j.first_improvement == "2024-01"
    assert j.culture_text.startswith("improved from 2024-01; concern since ")


def test_the_limits_text_comes_from_the_partitions_the_chart_uses():
    values = [0.3] * 12 + [0.8] * 24
    decisions = Decisions(baseline_end="2023-12", recalculate_at=("2024-05",))
    text = " ".join(limits_text(judge_team(series(values), decisions)))
    assert "baseline 2023-01 to 2023-12 (12 months)" in text
    assert "Limits recalculated from 2024-05" in text
    # the baseline's limits stop where the new ones start, and say they rest on 12 points
    assert "carried forward to 2024-04 — provisional" in text
    assert "up to 2023-12" not in text


def test_a_sustained_change_against_old_limits_is_not_assessable():
    values = [0.3] * 13 + [0.9] * 10
    j = judge_team(series(values), Decisions(baseline_end="2024-01"))
    assert j.assurance == NOT_ASSESSABLE


def _settings(minimum: int = 13) -> ProgrammeSettings:
    return ProgrammeSettings(minimum_points=minimum)


def test_a_recalculation_recorded_inside_a_gap_starts_where_the_data_resumes():
    values = [0.3] * 14 + [0.8] * 22
    gap = months("2024-03", 4)  # 2024-03 to 2024-06 missing
    decisions = Decisions(baseline_end="2024-02", recalculate_at=("2024-04",))
    j = judge_team(series(values, skip=gap), decisions)
    assert [p.applies_from for p in j.partitions] == ["2023-01", "2024-07"]
    assert "Limits recalculated from 2024-07" in " ".join(limits_text(j))
    # no limit line joins the last baseline month to the first recalculated one
    lines = charts.spc_lines_frame(j.frame, ("2024-07",))
    centre = lines[lines["series"] == "centre"]
    assert centre.groupby("segment")["period"].agg(["min", "max"]).values.tolist() == [
        ["2023-01", "2024-02"],
        ["2024-07", "2025-12"],
    ]


def test_the_pack_text_says_the_gap_small_and_provisional_months_from_the_judgement():
    from audit.judgement import summary_lines

    s = series(FLAT * 3, skip=months("2024-02", 9)).assign(provisional=False)
    s.loc[s.index[-1], "provisional"] = True
    s.loc[s.index[-2], "denominator"] = 4
    s.loc[s.index[-2], "numerator"] = 2
    text = " ".join(summary_lines(judge_team(s, Decisions())))
    assert "9 months have no reviewed notes" in text
    assert "Provisional (round still open): 2026-03" in text
    assert "Small (fewer than 10 notes): 2026-02" in text


def test_the_curve_can_skip_the_drawing_frame_and_keep_the_same_verdict():
    values = [0.3] * 12 + [0.8] * 12 + [0.1] * 8
    decisions = Decisions(baseline_end="2023-12", recalculate_at=("2024-01",))
    full = judge_team(series(values), decisions, up_to="2025-06")
    lean = judge_team(series(values), decisions, up_to="2025-06", with_frame=False)
    assert lean.frame.empty
    assert (lean.variation, lean.assurance, lean.is_norm, lean.counted, lean.culture_text) == (
        full.variation,
        full.assurance,
        full.is_norm,
        full.counted,
        full.culture_text,
    )
