"""The partition rule of the decisions service, the compare window and the spc input rules."""

from __future__ import annotations

import pandas as pd
import pytest

from audit.compare import compare_window, latest_complete_quarter
from audit.decisions import DecisionRefused, check_partitions
from audit.judgement import Decisions, judge_team, limits_text
from audit.spc_io import SpcInputError, check_target, parse_series_csv

PERIODS = [f"{y}-{m:02d}" for y in (2023, 2024, 2025) for m in range(1, 13)]


def test_recalculating_from_the_last_month_is_refused():
    with pytest.raises(DecisionRefused, match="needs at least 6"):
        check_partitions(PERIODS, Decisions(recalculate_at=("2025-12",)))


def test_the_open_last_partition_may_start_with_six_points_and_its_limits_are_provisional():
    decisions = Decisions(recalculate_at=("2025-07",))
    check_partitions(PERIODS, decisions)  # 6 points: allowed
    rows = pd.DataFrame({"period": PERIODS, "numerator": 10, "denominator": 20})
    text = " ".join(limits_text(judge_team(rows, decisions)))
    assert "recalculated from 2025-07: calculated from 2025-07 to 2025-12 (6 months)" in text
    assert text.endswith("provisional: fewer than 13 points behind them.")


def test_a_closed_partition_shorter_than_13_points_is_refused():
    decisions = Decisions(recalculate_at=("2024-09", "2025-03"))
    with pytest.raises(DecisionRefused, match=r"closed with 6 final months.*at least 13"):
        check_partitions(PERIODS, decisions, changed="2025-03")


def test_an_old_decision_is_not_relitigated_by_a_new_one():
    old = Decisions(baseline_end="2023-12", recalculate_at=("2024-05", "2025-06"))
    check_partitions(PERIODS, old, changed="2025-06")  # 2024-05..2025-05 = 13 points


def test_the_default_compare_window_is_the_latest_complete_quarter():
    assert latest_complete_quarter("2025-12") == "2025-Q4"
    assert latest_complete_quarter("2025-11") == "2025-Q3"
    assert latest_complete_quarter("2025-01") == "2024-Q4"


def test_the_compare_window_never_pools_a_teams_pre_programme_months_silently():
    rows = pd.DataFrame(
        {
            "team": ["a"] * 36 + ["b"] * 36,
            "period": PERIODS * 2,
            "denominator": 20,
            "provisional": [False] * 71 + [True],
        }
    )
    window = compare_window(rows, {"a": "2024-02", "b": "2025-08"}, "quarter")
    # b's last month is still open: the last complete quarter of final data is still Q4
    assert (window.period_from, window.period_to) == ("2025-10", "2025-12")
    assert "2025-Q4" in window.text
    since = compare_window(rows, {"a": "2024-02", "b": "2025-08"}, "since_start")
    picked = since.select(rows)
    assert picked.groupby("team")["period"].min().to_dict() == {"a": "2024-02", "b": "2025-08"}
    custom = compare_window(rows, {"b": "2025-08"}, "custom", period_from="2025-01")
    assert custom.excluded_baseline == ("b",) and "left out" in custom.text
    assert custom.select(rows).query("team == 'b'")["period"].min() == "2025-08"


@pytest.mark.parametrize("target", [30, 1.5, -5, float("inf")])
def test_a_p_chart_target_outside_0_to_1_is_refused_naming_the_unit(target):
    with pytest.raises(SpcInputError) as err:
        check_target("p", target)
    assert "proportion" in str(err.value) or "finite" in str(err.value)


def test_a_target_in_the_values_units_is_accepted_for_xmr():
    check_target("xmr", 30)
    check_target("p", 0.3)


def test_an_impossible_month_and_a_duplicate_label_are_refused_by_row():
    text = "period,value\n2025-01,1\n2025-13,2\n2025-01,3\n2024-02-30,4\nweek 1,5\n"
    with pytest.raises(SpcInputError) as err:
        parse_series_csv(text, "xmr")
    assert err.value.errors == [
        "row 3, column period: not a real month; expected YYYY-MM with a month 01 to 12",
        "row 4, column period: the same period as row 2; expected each period once",
        "row 5, column period: not a real date; expected YYYY-MM-DD, a day that exists",
    ]
