"""The Making Data Count special-cause rules, one behaviour per test."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from audit.spc import (
    SpcSettings,
    anhoej_runs,
    assurance_against_target,
    classify_points,
    points_beyond_the_limits,
    shift_of_n_points_on_one_side,
    trend_of_n_points,
    two_of_three_beyond_two_sigma,
    xmr_chart,
)


def flagged(mask: np.ndarray) -> list[int]:
    return [int(i) for i in np.flatnonzero(mask)]


def periods(n: int) -> list[str]:
    return [f"p{i:02d}" for i in range(1, n + 1)]


# A calm series (mean 10, every moving range 2) that breaks no rule on its own.
CALM = [9.0, 11.0] * 10


def test_a_calm_series_is_all_common_cause() -> None:
    result = xmr_chart(periods(20), CALM)
    assert {p.point_type for p in result.points} == {"common_cause"}
    assert result.variation == "common_cause"


# --- single point ----------------------------------------------------------------------------


def test_a_point_beyond_the_upper_limit_is_flagged_high() -> None:
    sides = points_beyond_the_limits([5, 16, 10], lower=[4] * 3, upper=[15] * 3)
    assert flagged(sides.high) == [1]
    assert flagged(sides.low) == []


def test_a_point_below_the_lower_limit_is_flagged_low() -> None:
    sides = points_beyond_the_limits([3, 10], lower=[4, 4], upper=[15, 15])
    assert flagged(sides.low) == [0]


def test_a_point_on_a_limit_is_not_beyond_it() -> None:
    sides = points_beyond_the_limits([4, 15], lower=[4, 4], upper=[15, 15])
    assert not sides.high.any() and not sides.low.any()


# --- shift -----------------------------------------------------------------------------------


def test_six_points_above_the_mean_are_flagged_as_a_shift() -> None:
    values = [9, 11, 12, 11, 12, 13, 11, 9]
    sides = shift_of_n_points_on_one_side(values, [10] * 8, n=6)
    assert flagged(sides.high) == [1, 2, 3, 4, 5, 6]
    assert flagged(sides.low) == []


def test_five_points_above_the_mean_are_not_a_shift() -> None:
    sides = shift_of_n_points_on_one_side([9, 11, 12, 11, 12, 13, 9], [10] * 7, n=6)
    assert not sides.high.any()


def test_six_points_below_the_mean_are_flagged_as_a_low_shift() -> None:
    sides = shift_of_n_points_on_one_side([8, 7, 9, 8, 7, 9], [10] * 6, n=6)
    assert flagged(sides.low) == [0, 1, 2, 3, 4, 5]


def test_a_point_on_the_mean_breaks_a_shift() -> None:
    values = [11, 12, 11, 10, 12, 13, 11]
    sides = shift_of_n_points_on_one_side(values, [10] * 7, n=6)
    assert not sides.high.any()


@pytest.mark.parametrize("setting", [7, 8])
def test_a_longer_shift_setting_needs_that_many_points(setting: int) -> None:
    centres = [10] * 10
    just_short = [9] + [11] * (setting - 1) + [9] * (10 - setting)
    enough = [9] + [11] * setting + [9] * (9 - setting)
    assert not shift_of_n_points_on_one_side(just_short, centres, n=setting).high.any()
    assert flagged(shift_of_n_points_on_one_side(enough, centres, n=setting).high) == list(
        range(1, setting + 1)
    )


def test_a_shift_is_judged_against_each_points_own_centre() -> None:
    # The centre steps from 10 to 20 at a recalculation; 15 is above the first, below the second.
    values = [11, 12, 11, 15, 15, 15]
    centres = [10, 10, 10, 20, 20, 20]
    assert not shift_of_n_points_on_one_side(values, centres, n=6).high.any()


# --- trend -----------------------------------------------------------------------------------


def test_six_rising_points_are_flagged_as_a_trend() -> None:
    sides = trend_of_n_points([5, 1, 2, 3, 4, 5, 6, 2], n=6)
    assert flagged(sides.high) == [1, 2, 3, 4, 5, 6]
    assert flagged(sides.low) == []


def test_five_rising_points_are_not_a_trend() -> None:
    assert not trend_of_n_points([1, 2, 3, 4, 5, 1], n=6).high.any()


def test_six_falling_points_are_flagged_as_a_low_trend() -> None:
    sides = trend_of_n_points([9, 8, 7, 6, 5, 4], n=6)
    assert flagged(sides.low) == [0, 1, 2, 3, 4, 5]


def test_a_tie_breaks_a_trend() -> None:
    sides = trend_of_n_points([1, 2, 3, 3, 4, 5, 6], n=6)
    assert not sides.high.any()


def test_a_trough_can_end_a_falling_trend_and_start_a_rising_one() -> None:
    sides = trend_of_n_points([6, 5, 4, 3, 2, 1, 2, 3, 4, 5, 6], n=6)
    assert flagged(sides.low) == [0, 1, 2, 3, 4, 5]
    assert flagged(sides.high) == [5, 6, 7, 8, 9, 10]


@pytest.mark.parametrize("setting", [7, 8])
def test_a_longer_trend_setting_needs_that_many_points(setting: int) -> None:
    assert not trend_of_n_points(list(range(setting - 1)), n=setting).high.any()
    assert trend_of_n_points(list(range(setting)), n=setting).high.all()


def test_a_trend_may_cross_the_mean_on_a_chart() -> None:
    values = [*CALM[:10], 4.0, 6.0, 8.0, 10.0, 12.0, 14.0, *CALM[:4]]
    result = xmr_chart(periods(len(values)), values)
    trend = [p for p in result.points if "trend" in p.signals]
    assert [p.period for p in trend] == periods(16)[10:16]


# --- two of three beyond two sigma ---------------------------------------------------------

LINES = {"centres": [10] * 6, "lower_2sigma": [6] * 6, "upper_2sigma": [14] * 6}
LIMITS = {"lower": [4] * 6, "upper": [16] * 6}


def test_two_of_three_beyond_two_sigma_flags_only_those_points() -> None:
    sides = two_of_three_beyond_two_sigma([10, 15, 11, 15, 10, 9], **LINES, **LIMITS)
    assert flagged(sides.high) == [1, 3]
    assert flagged(sides.low) == []


def test_two_of_three_below_two_sigma_flags_low() -> None:
    sides = two_of_three_beyond_two_sigma([5, 5, 9, 10, 11, 10], **LINES, **LIMITS)
    assert flagged(sides.low) == [0, 1]


def test_two_of_three_needs_all_three_points_on_the_same_side() -> None:
    # 15, 15 are beyond 2σ, but each window holding both also holds a point below the mean.
    sides = two_of_three_beyond_two_sigma([9, 15, 15, 9, 10, 10], **LINES, **LIMITS)
    assert not sides.high.any()


def test_one_of_three_beyond_two_sigma_is_not_a_signal() -> None:
    sides = two_of_three_beyond_two_sigma([11, 15, 11, 12, 11, 12], **LINES, **LIMITS)
    assert not sides.high.any()


def test_beyond_three_sigma_does_not_count_for_two_of_three_by_default() -> None:
    sides = two_of_three_beyond_two_sigma([11, 17, 15, 11, 12, 11], **LINES, **LIMITS)
    assert not sides.high.any()


def test_beyond_three_sigma_counts_for_two_of_three_when_the_setting_says_so() -> None:
    sides = two_of_three_beyond_two_sigma(
        [11, 17, 15, 11, 12, 11], **LINES, **LIMITS, count_beyond_3sigma=True
    )
    assert flagged(sides.high) == [1, 2]


def test_the_setting_reaches_the_chart() -> None:
    # Baseline of the calm series: mean 10, limits 4.68–15.32, 2σ lines 6.45–13.55.
    values = [*CALM[:14], 17.0, 15.0, 11.0, 9.0]
    default = xmr_chart(periods(18), values, baseline=14)
    counted = xmr_chart(
        periods(18),
        values,
        baseline=14,
        settings=SpcSettings(two_of_three_counts_beyond_3sigma=True),
    )
    assert [p.signals for p in default.points[14:16]] == [("single_point",), ()]
    assert [p.signals for p in counted.points[14:16]] == [
        ("single_point", "two_of_three"),
        ("two_of_three",),
    ]


# --- settings --------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["shift_points", "trend_points"])
@pytest.mark.parametrize("value", [5, 9])
def test_shift_and_trend_settings_outside_six_to_eight_are_rejected(field: str, value: int) -> None:
    with pytest.raises(ValueError, match=field):
        SpcSettings(**{field: value})


def test_the_shift_setting_reaches_the_chart() -> None:
    values = [*CALM[:14], 9.0, 12.0, 12.5, 12.0, 12.5, 12.0, 12.5, 9.0]
    six = xmr_chart(periods(22), values, baseline=14)
    seven = xmr_chart(periods(22), values, baseline=14, settings=SpcSettings(shift_points=7))
    assert [p.period for p in six.points if "shift" in p.signals] == periods(21)[15:]
    assert not any("shift" in p.signals for p in seven.points)


# --- conflicts, directions, icons --------------------------------------------------------------


@pytest.mark.parametrize("direction", ["up", "down"])
def test_conflicting_signals_resolve_to_improvement(direction: str) -> None:
    assert classify_points(np.array([True]), np.array([True]), direction) == ["improvement"]


def test_a_rising_trend_below_the_mean_is_improvement_when_up_is_good() -> None:
    # Points 1–6 are a low shift and below the lower limit (concern) and a rising trend.
    values = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 20.0, 21.0, 19.0, 20.0, 21.0, 19.0, 20.0]
    result = xmr_chart(periods(13), values, improvement="up")
    assert [p.point_type for p in result.points[:6]] == ["improvement"] * 6
    assert all(p.signals == ("trend",) for p in result.points[:6])


def test_high_signals_are_concern_when_down_is_good() -> None:
    assert classify_points(np.array([True, False]), np.array([False, True]), "down") == [
        "concern",
        "improvement",
    ]


def test_neither_direction_colours_every_signal_neither() -> None:
    types = classify_points(
        np.array([True, False, False]), np.array([False, True, False]), "neither"
    )
    assert types == ["neither", "neither", "common_cause"]


def test_an_unknown_direction_is_rejected() -> None:
    with pytest.raises(ValueError, match="improvement"):
        xmr_chart(periods(3), [1.0, 2.0, 3.0], improvement="sideways")


def test_signals_name_the_rules_behind_the_colour() -> None:
    values = [*CALM[:14], 30.0]
    last = xmr_chart(periods(15), values).points[-1]
    assert last.point_type == "improvement"
    assert last.signals == ("single_point",)


def test_the_variation_icon_is_the_last_points_type() -> None:
    values = [*CALM[:14], 30.0]
    assert xmr_chart(periods(15), values).variation == "improvement"
    assert xmr_chart(periods(15), values, improvement="down").variation == "concern"
    assert xmr_chart(periods(15), values, improvement="neither").variation == "neither"


# --- minimum points --------------------------------------------------------------------------


def test_fewer_than_thirteen_points_gives_no_limits_and_no_icons() -> None:
    values = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 50.0]
    result = xmr_chart(periods(12), values, target=5.0)
    assert all(p.upper_limit is None and p.lower_2sigma is None for p in result.points)
    assert {p.point_type for p in result.points} == {"common_cause"}
    assert result.variation is None and result.assurance is None
    assert result.points[0].centre == pytest.approx(sum(values) / 12)


def test_thirteen_points_give_limits() -> None:
    result = xmr_chart(periods(13), CALM[:13])
    assert all(p.upper_limit is not None for p in result.points)
    assert result.variation == "common_cause"


def test_a_larger_minimum_can_be_required() -> None:
    result = xmr_chart(periods(13), CALM[:13], settings=SpcSettings(minimum_points=15))
    assert result.points[0].upper_limit is None


# --- XmR limits, recalculations, baselines -----------------------------------------------------


def test_xmr_limits_are_the_mean_plus_or_minus_2_66_mean_moving_ranges() -> None:
    values = [3.0, 5.0, 4.0, 8.0, 6.0, 5.0, 7.0, 4.0, 6.0, 5.0, 6.0, 7.0, 5.0]
    mean = sum(values) / 13
    mr_bar = sum(abs(b - a) for a, b in itertools.pairwise(values)) / 12
    point = xmr_chart(periods(13), values).points[0]
    assert point.centre == pytest.approx(mean)
    assert point.upper_limit == pytest.approx(mean + 2.66 * mr_bar)
    assert point.lower_limit == pytest.approx(mean - 2.66 * mr_bar)
    assert point.upper_2sigma == pytest.approx(mean + 2 / 3 * 2.66 * mr_bar)
    assert point.lower_2sigma == pytest.approx(mean - 2 / 3 * 2.66 * mr_bar)


def test_moving_ranges_do_not_cross_a_recalculation() -> None:
    values = [9.0, 11.0] * 7 + [109.0, 111.0] * 7  # the step of ~100 must not enter MRbar
    result = xmr_chart(periods(28), values, recalculate_at=["p15"])
    first, second = result.points[0], result.points[14]
    assert first.centre == pytest.approx(10) and second.centre == pytest.approx(110)
    assert first.upper_limit == pytest.approx(10 + 2.66 * 2)
    assert second.upper_limit == pytest.approx(110 + 2.66 * 2)


def test_a_baseline_carries_its_limits_forward_and_overrides_recalculations() -> None:
    values = CALM[:15] + [20.0] * 5
    result = xmr_chart(periods(20), values, baseline=14, recalculate_at=["p16"])
    assert {p.centre for p in result.points} == {10.0}
    assert all(p.upper_limit == pytest.approx(10 + 2.66 * 2) for p in result.points)
    assert [p.point_type for p in result.points[15:]] == ["improvement"] * 5


def test_an_unknown_recalculation_period_is_rejected() -> None:
    with pytest.raises(ValueError, match="p99"):
        xmr_chart(periods(13), CALM[:13], recalculate_at=["p99"])


def test_a_one_point_partition_has_a_centre_but_no_limits() -> None:
    result = xmr_chart(periods(14), CALM[:14], recalculate_at=["p14"])
    last = result.points[-1]
    assert last.centre == last.value and last.upper_limit is None
    assert result.assurance is None


def test_values_must_be_finite() -> None:
    with pytest.raises(ValueError, match="finite"):
        xmr_chart(periods(2), [1.0, math.nan])


# --- assurance -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("direction", "target", "expected"),
    [
        ("up", 40.0, "pass"),
        ("up", 50.0, "pass"),  # on the lower limit
        ("up", 70.0, "hit_or_miss"),
        ("up", 90.0, "fail"),  # on the upper limit
        ("up", 95.0, "fail"),
        ("down", 95.0, "pass"),
        ("down", 90.0, "pass"),
        ("down", 70.0, "hit_or_miss"),
        ("down", 50.0, "fail"),
        ("down", 40.0, "fail"),
        ("neither", 70.0, None),
        ("up", None, None),
    ],
)
def test_assurance_compares_the_target_with_the_limits(
    direction: str, target: float | None, expected: str | None
) -> None:
    assert assurance_against_target(direction, target, lower=50.0, upper=90.0) == expected


def test_the_assurance_icon_uses_the_last_points_limits() -> None:
    values = [9.0, 11.0] * 7 + [109.0, 111.0] * 7
    result = xmr_chart(periods(28), values, recalculate_at=["p15"], target=100.0)
    assert result.assurance == "pass"
    # One set of limits over both levels: the step inflates MRbar, yet 100 is above them.
    assert xmr_chart(periods(28), values, target=100.0).assurance == "fail"


# --- runs analysis ---------------------------------------------------------------------------


def test_points_on_the_centre_line_are_dropped_from_the_runs_analysis() -> None:
    runs = anhoej_runs([1, 2, 5, 9, 8, 5, 7], centre=5)
    assert runs.n_useful == 5
    assert runs.longest_run == 3  # 9, 8, 7: the point on the centre does not break it
    assert runs.crossings == 1
