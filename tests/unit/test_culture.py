"""Culture shift: the first sustained improvement, and whether the enabler is now the norm."""

from __future__ import annotations

from audit.culture import culture_shift
from audit.spc import p_chart, run_chart, xmr_chart


def months(n: int) -> list[str]:
    return [f"{2023 + (m - 1) // 12}-{(m - 1) % 12 + 1:02d}" for m in range(1, n + 1)]


# Eight months alternating around 50%, then six months at 65% (a shift from 2023-09).
SHIFT_FROM_SEPTEMBER = [12, 8, 12, 8, 12, 8, 12, 8, 13, 13, 13, 13, 13, 13]


def test_the_first_period_of_a_shift_is_the_first_improvement() -> None:
    result = p_chart(months(14), SHIFT_FROM_SEPTEMBER, [20] * 14)
    shift = culture_shift(result, target=0.8)
    assert shift.first_improvement_period == "2023-09"
    assert not shift.is_norm
    assert "2023-09" in shift.reason


def test_a_single_point_improvement_is_not_sustained() -> None:
    values = [9.0, 11.0] * 7 + [30.0]
    result = xmr_chart(months(15), values)
    assert result.points[-1].point_type == "improvement"
    assert culture_shift(result, target=100.0).first_improvement_period is None


def test_a_rising_trend_counts_as_sustained_improvement() -> None:
    values = [9.0, 11.0] * 5 + [8.0, 9.0, 10.0, 11.0, 12.0, 13.0]
    result = xmr_chart(months(16), values)
    assert culture_shift(result, target=100.0).first_improvement_period == "2023-11"


def test_a_concern_shift_is_not_improvement() -> None:
    values = [9.0, 11.0] * 5 + [8.0, 8.5, 8.0, 8.5, 8.0, 8.5]
    result = xmr_chart(months(16), values)
    assert culture_shift(result, target=0.0).first_improvement_period is None


def test_the_last_six_points_at_or_above_target_make_it_the_norm() -> None:
    yes = [10, 11, 9, 10, 11, 9, 10, 16, 17, 16, 18, 16, 17]
    result = p_chart(months(13), yes, [20] * 13)
    shift = culture_shift(result, target=0.8)
    assert shift.is_norm
    assert "last 6 points" in shift.reason


def test_one_of_the_last_six_below_target_is_not_the_norm() -> None:
    yes = [10, 11, 9, 10, 11, 9, 10, 16, 17, 15, 18, 16, 17]
    result = p_chart(months(13), yes, [20] * 13)
    assert not culture_shift(result, target=0.8).is_norm


def test_an_assurance_pass_makes_it_the_norm_even_with_a_month_below_target() -> None:
    yes = [180, 184, 182, 186, 181, 185, 183, 184, 182, 186, 181, 185, 150]
    result = p_chart(months(13), yes, [200] * 13)
    assert result.points[-1].value < 0.8
    shift = culture_shift(result, target=0.8)
    assert result.points[-1].lower_limit > 0.8
    assert shift.is_norm
    assert "process limits" in shift.reason


def test_down_is_good_measures_count_at_or_below_target() -> None:
    values = [30.0, 28.0] * 4 + [5.0, 4.0, 5.0, 4.0, 5.0, 4.0]
    result = run_chart(months(14), values, improvement="down")
    shift = culture_shift(result, target=6.0)
    assert shift.is_norm


def test_neither_direction_is_never_the_norm() -> None:
    result = xmr_chart(months(13), [1.0] * 13, improvement="neither")
    assert not culture_shift(result, target=0.5).is_norm


def test_too_few_points_are_not_yet_the_norm() -> None:
    result = p_chart(months(4), [20] * 4, [20] * 4)
    shift = culture_shift(result, target=0.8)
    assert not shift.is_norm
    assert "fewer than 6 points" in shift.reason
