"""Funnel plots for comparing teams (Spiegelhalter's normal approximation)."""

from __future__ import annotations

import math

import pytest

from audit import funnel, spc
from audit.funnel import funnel_limits, funnel_position, pooled_proportion


def test_funnel_limits_follow_the_formula_for_each_denominator() -> None:
    frame = funnel_limits(0.5, [10, 20, 100])
    assert list(frame.columns) == ["n", "lower_95", "upper_95", "lower_998", "upper_998"]
    for row in frame.itertuples():
        sd = math.sqrt(0.25 / row.n)
        assert row.lower_95 == pytest.approx(0.5 - 1.959964 * sd)
        assert row.upper_95 == pytest.approx(0.5 + 1.959964 * sd)
        assert row.lower_998 == pytest.approx(0.5 - 3.090232 * sd)
        assert row.upper_998 == pytest.approx(0.5 + 3.090232 * sd)


def test_funnel_limits_are_clipped_to_zero_and_one() -> None:
    frame = funnel_limits(0.95, [5])
    assert frame.loc[0, "upper_95"] == 1.0 and frame.loc[0, "upper_998"] == 1.0


def test_a_team_inside_the_funnel_raises_no_flag() -> None:
    position = funnel_position(11, 20, theta=0.5)
    assert (position.alert, position.alarm, position.side) == (False, False, None)


def test_a_team_above_the_99_8_limit_raises_alert_and_alarm() -> None:
    position = funnel_position(19, 20, theta=0.5)
    assert (position.alert, position.alarm, position.side) == (True, True, "above")


def test_a_team_between_the_95_and_99_8_limits_raises_only_an_alert() -> None:
    position = funnel_position(35, 100, theta=0.5)  # z = −3.0
    assert (position.alert, position.alarm, position.side) == (True, False, "below")


def test_the_pooled_proportion_is_total_yes_over_total_reviewed() -> None:
    assert pooled_proportion([5, 15], [10, 30]) == 0.5


def test_a_team_with_no_reviewed_notes_cannot_be_placed() -> None:
    with pytest.raises(ValueError, match="denominator"):
        funnel_position(0, 0, theta=0.5)


def test_the_funnel_statistics_live_in_audit_funnel_and_spc_still_exports_them() -> None:
    for name in (
        "FunnelPosition",
        "Z_998",
        "funnel_limits",
        "funnel_position",
        "pooled_proportion",
    ):
        assert getattr(spc, name) is getattr(funnel, name)
    assert funnel.funnel_limits.__module__ == "audit.funnel"


def test_a_theta_outside_zero_to_one_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="theta must be a proportion"):
        funnel_limits(1.5, [10])
