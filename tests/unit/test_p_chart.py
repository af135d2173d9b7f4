"""p-charts for audit proportions: p̄ over the baseline, limits that step with each nᵢ."""

from __future__ import annotations

import math

import pytest

from audit.spc import SpcSettings, p_chart

PERIODS = [f"2024-{m:02d}" for m in range(1, 13)] + [f"2025-{m:02d}" for m in range(1, 5)]
YES = [9, 12, 7, 10, 15, 11, 8, 13, 10, 12, 9, 14, 11, 6, 12, 10]
REVIEWED = [20, 25, 14, 20, 30, 22, 16, 24, 20, 26, 18, 28, 20, 15, 24, 18]


def expected_lines(p_bar: float, n: int) -> dict[str, float]:
    sigma = math.sqrt(p_bar * (1 - p_bar) / n)

    def clip(x: float) -> float:
        return min(1.0, max(0.0, x))

    return {
        "lower_limit": clip(p_bar - 3 * sigma),
        "upper_limit": clip(p_bar + 3 * sigma),
        "lower_2sigma": clip(p_bar - 2 * sigma),
        "upper_2sigma": clip(p_bar + 2 * sigma),
    }


def test_a_worked_example_with_varying_denominators_matches_the_formula_point_by_point() -> None:
    result = p_chart(PERIODS, YES, REVIEWED)
    p_bar = sum(YES) / sum(REVIEWED)
    assert len(result.points) == len(PERIODS)
    for point, yes, n in zip(result.points, YES, REVIEWED, strict=True):
        assert point.value == pytest.approx(yes / n)
        assert point.centre == pytest.approx(p_bar)
        assert (point.numerator, point.denominator) == (yes, n)
        for name, value in expected_lines(p_bar, n).items():
            assert getattr(point, name) == pytest.approx(value), (point.period, name)


def test_limits_are_wider_for_smaller_samples() -> None:
    result = p_chart(PERIODS, YES, REVIEWED)
    small = result.points[REVIEWED.index(14)]
    large = result.points[REVIEWED.index(30)]
    assert small.upper_limit - small.lower_limit > large.upper_limit - large.lower_limit


def test_limits_are_clipped_to_zero_and_one() -> None:
    yes = [19, 20, 18, 20, 19, 20, 20, 19, 20, 18, 20, 19, 20, 5]
    reviewed = [20] * 13 + [5]
    result = p_chart([f"m{i}" for i in range(14)], yes, reviewed)
    assert all(p.upper_limit == 1.0 and p.upper_2sigma <= 1.0 for p in result.points)
    assert all(0.0 <= p.lower_limit <= p.lower_2sigma for p in result.points)
    low_n = result.points[-1]
    assert low_n.upper_2sigma == 1.0


def test_a_lower_limit_below_zero_is_clipped_to_zero() -> None:
    yes = [1, 0, 2, 1, 0, 1, 1, 0, 2, 1, 0, 1, 1]
    result = p_chart([f"m{i}" for i in range(13)], yes, [10] * 13)
    assert {p.lower_limit for p in result.points} == {0.0}


def test_each_point_is_judged_against_its_own_limits() -> None:
    # The same 70% is inside the limits of a 10-note month but beyond those of a 400-note month.
    yes = [10, 11, 9, 10, 11, 9, 10, 11, 9, 10, 11, 9, 7, 280]
    reviewed = [20] * 12 + [10, 400]
    result = p_chart([f"m{i}" for i in range(14)], yes, reviewed)
    small, large = result.points[-2], result.points[-1]
    assert small.value == large.value == pytest.approx(0.7)
    assert small.point_type == "common_cause"
    assert large.point_type == "improvement" and "single_point" in large.signals


def test_the_centre_is_the_pooled_proportion_of_the_baseline() -> None:
    result = p_chart(PERIODS, YES, REVIEWED, baseline=6)
    p_bar = sum(YES[:6]) / sum(REVIEWED[:6])
    assert all(p.centre == pytest.approx(p_bar) for p in result.points)
    assert result.points[-1].upper_limit == pytest.approx(
        expected_lines(p_bar, REVIEWED[-1])["upper_limit"]
    )


def test_a_recalculation_starts_a_new_pooled_proportion() -> None:
    result = p_chart(PERIODS, YES, REVIEWED, recalculate_at=["2025-01"])
    assert result.points[0].centre == pytest.approx(sum(YES[:12]) / sum(REVIEWED[:12]))
    assert result.points[12].centre == pytest.approx(sum(YES[12:]) / sum(REVIEWED[12:]))


def test_fewer_than_thirteen_points_give_no_limits() -> None:
    result = p_chart(PERIODS[:12], YES[:12], REVIEWED[:12], target=0.5)
    assert all(p.lower_limit is None and p.upper_2sigma is None for p in result.points)
    assert {p.point_type for p in result.points} == {"common_cause"}
    assert result.variation is None and result.assurance is None


# p̄ = 158/280 ≈ 0.56: eight months alternating around it, then six months at 0.65.
SHIFT_OF_SIX = [12, 8, 12, 8, 12, 8, 12, 8, 13, 13, 13, 13, 13, 13]


def test_a_shift_of_six_months_above_the_centre_is_improvement() -> None:
    result = p_chart([f"m{i}" for i in range(14)], SHIFT_OF_SIX, [20] * 14)
    assert [p.point_type for p in result.points[8:]] == ["improvement"] * 6
    assert all("shift" in p.signals for p in result.points[8:])


def test_the_shift_setting_applies_to_p_charts() -> None:
    result = p_chart(
        [f"m{i}" for i in range(14)], SHIFT_OF_SIX, [20] * 14, settings=SpcSettings(7, 7)
    )
    assert not any("shift" in p.signals for p in result.points)


def test_assurance_uses_proportion_targets() -> None:
    yes = [18, 19, 18, 19, 18, 19, 18, 19, 18, 19, 18, 19, 18]
    result = p_chart([f"m{i}" for i in range(13)], yes, [20] * 13, target=0.5)
    assert result.assurance == "pass"


def test_a_zero_denominator_is_an_error_naming_the_period() -> None:
    with pytest.raises(ValueError, match="2024-02"):
        p_chart(["2024-01", "2024-02"], [1, 0], [2, 0])


def test_a_numerator_above_its_denominator_is_an_error_naming_the_period() -> None:
    with pytest.raises(ValueError, match="2024-01"):
        p_chart(["2024-01"], [3], [2])


def test_a_negative_numerator_is_an_error() -> None:
    with pytest.raises(ValueError, match="negative"):
        p_chart(["2024-01"], [-1], [2])


def test_a_baseline_then_an_explicit_recalculation_gives_two_sets_of_limits() -> None:
    """A team's BaselineFixed fixes the first limits; a later LimitsRecalculated starts new ones."""
    from audit.spc import p_chart

    periods = [f"2024-{m:02d}" for m in range(1, 13)] + [f"2025-{m:02d}" for m in range(1, 13)]
    nums = [4, 5, 3, 4, 6, 5, 4, 5, 9, 12, 14, 15, 17, 18, 17, 19, 18, 18, 17, 19, 18, 18, 19, 17]
    dens = [20] * 24
    result = p_chart(
        periods,
        nums,
        dens,
        baseline=6,
        recalculate_at=["2025-01"],
        baseline_overrides_recalculations=False,
    )
    first, second = result.points[0].centre, result.points[-1].centre
    assert first == sum(nums[:6]) / 120  # baseline = the first six months only
    assert result.points[11].centre == first  # carried forward until the recalculation
    assert second == sum(nums[12:]) / 240  # the new process from its own points
    mdc = p_chart(periods, nums, dens, baseline=6, recalculate_at=["2025-01"])
    assert mdc.points[-1].centre == first  # the MDC tools' rule: a baseline overrides
