"""The reach lenses' arithmetic: training coverage, trained vs not-yet-trained rates,
before/after windows, quintile rates, the Q1–Q5 gap (Newcombe) and small strata."""

from __future__ import annotations

import pandas as pd
import pytest

from audit.reach import (
    ALL_TEAMS,
    before_after,
    before_after_summary,
    coverage,
    newcombe_difference,
    parse_imd_quintile,
    quintile_gap,
    quintile_rates,
    shift_period,
    trained_vs_untrained,
)
from audit.stats import wilson_interval

M = "agenda_setting"


def counts(rows: list[tuple]) -> pd.DataFrame:
    """(team, period, clinician, documented, notes) → the clinician_counts shape."""
    return pd.DataFrame(
        [
            {
                "team": t,
                "period": p,
                "clinician_id": c,
                "agenda_setting": x,
                "goal_setting": 0,
                "follow_up": 0,
                "all_three": 0,
                "notes": n,
            }
            for t, p, c, x, n in rows
        ]
    )


def training(rows: list[tuple]) -> pd.DataFrame:
    """(clinician, team, trained_on[, programme])."""
    return pd.DataFrame(
        [
            {
                "clinician_id": r[0],
                "programme": r[3] if len(r) > 3 else "ADP",
                "team": r[1],
                "trained_on": r[2],
            }
            for r in rows
        ],
        columns=["clinician_id", "programme", "team", "trained_on"],
    )


def imd(rows: list[tuple]) -> pd.DataFrame:
    """(team, period, quintile, documented, notes) → the imd_counts shape."""
    return pd.DataFrame(
        [
            {
                "team": t,
                "period": p,
                "imd_quintile": q,
                "agenda_setting": x,
                "goal_setting": 0,
                "follow_up": 0,
                "all_three": 0,
                "notes": n,
            }
            for t, p, q, x, n in rows
        ]
    )


# ------------------------------------------------------------------------------ training


def test_coverage_is_the_share_of_that_months_active_clinicians_trained_by_its_end() -> None:
    c = counts(
        [
            ("t", "2024-01", "a", 1, 5),
            ("t", "2024-01", "b", 1, 5),
            ("t", "2024-02", "a", 1, 5),
            ("t", "2024-02", "b", 1, 5),
            ("t", "2024-02", "c", 1, 5),
            ("t", "2024-03", "a", 1, 5),  # b and c saw nobody in March: not active
        ]
    )
    tr = training([("a", "t", "2024-02-20"), ("c", "t", "2024-01-03"), ("b", "t", "2024-05-01")])
    cov = coverage(c, tr)
    mine = cov[cov["team"] == "t"].set_index("period")
    assert mine["active"].tolist() == [2, 3, 1]
    assert mine["trained"].tolist() == [0, 2, 1]  # a counts from February, its training month
    assert mine.loc["2024-02", "share"] == pytest.approx(2 / 3)
    assert mine.loc["2024-03", "share"] == 1.0


def test_coverage_programme_wide_sums_active_and_trained_over_teams() -> None:
    c = counts(
        [("t", "2024-01", "a", 1, 1), ("u", "2024-01", "x", 1, 1), ("u", "2024-01", "y", 1, 1)]
    )
    cov = coverage(c, training([("x", "u", "2023-12-01")]))
    total = cov[cov["team"] == ALL_TEAMS].iloc[0]
    assert (total["active"], total["trained"]) == (3, 1)


def test_coverage_follows_the_chosen_training_programme() -> None:
    c = counts([("t", "2024-01", "a", 1, 1)])
    tr = training([("a", "t", "2023-06-01", "Other")])
    assert coverage(c, tr, programme="ADP").iloc[0]["trained"] == 0
    assert coverage(c, tr, programme="Other").iloc[0]["trained"] == 1


def test_trained_and_not_yet_trained_rates_leave_out_each_clinicians_training_month() -> None:
    c = counts(
        [
            ("t", "2024-03", "a", 18, 20),  # a trained in January
            ("t", "2024-03", "b", 4, 20),  # b trained in March: its training month, in neither
            ("t", "2024-03", "c", 6, 20),  # c never trained
            ("t", "2024-03", "d", 3, 10),  # d trained in June: not yet trained in March
        ]
    )
    tr = training([("a", "t", "2024-01-10"), ("b", "t", "2024-03-15"), ("d", "t", "2024-06-01")])
    out = trained_vs_untrained(c, tr, M)
    mine = out[out["team"] == "t"].set_index("group")
    assert set(mine.index) == {"trained", "not yet trained"}
    assert (mine.loc["trained", "numerator"], mine.loc["trained", "denominator"]) == (18, 20)
    untrained = mine.loc["not yet trained"]
    assert (untrained["numerator"], untrained["denominator"], untrained["clinicians"]) == (9, 30, 2)
    assert (untrained["ci_low"], untrained["ci_high"]) == wilson_interval(9, 30)
    assert untrained["proportion"] == pytest.approx(0.3)


def test_a_group_with_fewer_than_ten_notes_is_small_and_has_no_rate() -> None:
    out = trained_vs_untrained(counts([("t", "2024-03", "c", 0, 4)]), training([]), M)
    row = out[out["team"] == "t"].iloc[0]
    assert bool(row["small"]) and row["denominator"] == 4
    assert pd.isna(row["proportion"]) and pd.isna(row["ci_low"])


def test_before_and_after_are_the_three_calendar_months_either_side_of_the_training_month() -> None:
    rows = []
    for p, x in (("2023-12", 9), ("2024-01", 1), ("2024-02", 2), ("2024-03", 3)):
        rows.append(("t", p, "a", x, 10))  # Dec is outside the before-window
    rows.append(("t", "2024-04", "a", 10, 10))  # the training month: excluded
    for p, x in (("2024-05", 7), ("2024-06", 8), ("2024-07", 9), ("2024-08", 0)):
        rows.append(("t", p, "a", x, 10))  # Aug is outside the after-window
    for p in ("2024-01", "2024-02", "2024-03", "2024-05", "2024-06", "2024-07"):
        rows.append(("t", p, "b", 2, 10))  # b: never trained → comparison
        rows.append(("t", p, "c", 5, 5))  # c: trained in July, inside a's after-window → not
    rows.append(("t", "2024-02", "d", 1, 20))  # d: trained in September, after the window
    tr = training([("a", "t", "2024-04-12"), ("c", "t", "2024-07-01"), ("d", "t", "2024-09-01")])
    out = before_after(counts(rows), tr, M).set_index("clinician_id")
    a = out.loc["a"]
    assert a["trained_month"] == "2024-04"
    assert (a["before_num"], a["before_den"]) == (6, 30)
    assert (a["after_num"], a["after_den"]) == (24, 30)
    assert a["comparison_clinicians"] == 2  # b and d, not c
    assert (a["comp_before_num"], a["comp_before_den"]) == (6 + 1, 30 + 20)
    assert (a["comp_after_num"], a["comp_after_den"]) == (6, 30)
    assert bool(a["complete"])


def test_an_after_window_running_past_the_data_is_incomplete_and_left_out_of_the_summary() -> None:
    rows = [("t", p, "a", 5, 10) for p in ("2024-01", "2024-02", "2024-03", "2024-05", "2024-06")]
    tr = training([("a", "t", "2024-04-02")])
    out = before_after(counts(rows), tr, M)
    assert not bool(out.iloc[0]["complete"])  # July is not in the data yet
    assert before_after_summary(out).empty


def test_the_summary_is_notes_weighted_per_team_and_programme_wide() -> None:
    per = pd.DataFrame(
        [
            ["t", "a", "2024-04", 1, 10, 9, 10, 2, 10, 3, 10, 1, True],
            ["t", "b", "2024-05", 9, 90, 45, 90, 2, 10, 3, 10, 1, True],
            ["u", "x", "2024-05", 5, 10, 5, 10, 0, 0, 0, 0, 0, True],
            ["u", "y", "2024-05", 0, 10, 10, 10, 0, 0, 0, 0, 0, False],
        ],
        columns=[
            "team", "clinician_id", "trained_month", "before_num", "before_den", "after_num",
            "after_den", "comp_before_num", "comp_before_den", "comp_after_num",
            "comp_after_den", "comparison_clinicians", "complete",
        ],
    )  # fmt: skip
    out = before_after_summary(per).set_index(["team", "group", "window"])
    t_before = out.loc[("t", "trained", "before")]
    assert (t_before["numerator"], t_before["denominator"]) == (10, 100)
    assert t_before["change"] == pytest.approx(0.54 - 0.10)
    assert out.loc[("t", "trained", "after"), "trained_clinicians"] == 2
    everyone = out.loc[(ALL_TEAMS, "trained", "after")]
    assert (everyone["numerator"], everyone["denominator"]) == (59, 110)  # y is incomplete
    assert bool(out.loc[("u", "not yet trained", "before"), "small"])


@pytest.mark.parametrize(
    ("period", "k", "expected"),
    [("2024-11", 3, "2025-02"), ("2024-02", -3, "2023-11"), ("2024-12", 0, "2024-12")],
)
def test_shift_period_moves_by_calendar_months(period: str, k: int, expected: str) -> None:
    assert shift_period(period, k) == expected


# ------------------------------------------------------------------------------ deprivation


@pytest.mark.parametrize(
    ("x1", "n1", "x2", "n2", "low", "high"),
    [  # Newcombe (1998) Statistics in Medicine 17:873-890, table II, method 10
        (56, 70, 48, 80, 0.0524, 0.3339),
        (9, 10, 3, 10, 0.1705, 0.8090),
        (6, 7, 2, 7, 0.0582, 0.8062),
        (5, 56, 0, 29, -0.0381, 0.1926),
        (0, 10, 0, 20, -0.1611, 0.2775),
        (10, 10, 0, 20, 0.6791, 1.0000),
    ],
)
def test_the_gap_interval_is_newcombes_method_10(x1, n1, x2, n2, low, high) -> None:
    d, lo, hi = newcombe_difference(x1, n1, x2, n2)
    assert d == pytest.approx(x1 / n1 - x2 / n2)
    assert lo == pytest.approx(low, abs=5e-5)
    assert hi == pytest.approx(high, abs=5e-5)


def test_no_difference_without_notes_on_both_sides() -> None:
    assert newcombe_difference(0, 0, 3, 10) == (None, None, None)


def test_quintile_rates_are_quarterly_list_every_quintile_and_report_the_share_missing() -> None:
    c = imd(
        [
            ("t", "2024-01", 1, 5, 10),
            ("t", "2024-02", 1, 5, 10),  # same quarter as January: pooled
            ("t", "2024-02", 5, 18, 20),
            ("t", "2024-03", 3, 1, 3),  # too few notes
            ("t", "2024-03", 0, 2, 7),  # no quintile given
        ]
    )
    out = quintile_rates(c, M)
    mine = out[out["team"] == "t"].set_index("quintile")
    assert out["period"].unique().tolist() == ["2024-Q1"]
    assert list(mine.index) == [1, 2, 3, 4, 5, "missing"]
    assert (mine.loc[1, "numerator"], mine.loc[1, "denominator"]) == (10, 20)
    assert mine.loc[1, "proportion"] == 0.5
    assert pd.isna(mine.loc[3, "proportion"]) and bool(mine.loc[3, "small"])  # never 0%
    assert mine.loc[2, "denominator"] == 0 and pd.isna(mine.loc[2, "proportion"])
    assert mine.loc[1, "share_missing"] == pytest.approx(7 / 50)


def test_quintile_rates_monthly_on_request() -> None:
    out = quintile_rates(
        imd([("t", "2024-01", 1, 5, 10), ("t", "2024-02", 1, 5, 10)]), M, quarterly=False
    )
    assert sorted(out["period"].unique()) == ["2024-01", "2024-02"]


def _gap_for(q1: tuple[int, int], q5: tuple[int, int]) -> pd.Series:
    c = imd([("t", "2024-04", 1, *q1), ("t", "2024-04", 5, *q5)])
    gaps = quintile_gap(quintile_rates(c, M))
    return gaps[gaps["team"] == "t"].iloc[0]


def test_the_most_deprived_getting_it_significantly_less_often_is_flagged() -> None:
    row = _gap_for((20, 50), (40, 50))
    d, lo, hi = newcombe_difference(20, 50, 40, 50)
    assert (row["gap"], row["gap_low"], row["gap_high"]) == (d, lo, hi)
    assert hi < 0 and row["verdict"] == "less often"


def test_a_gap_whose_interval_includes_zero_is_not_flagged() -> None:
    assert _gap_for((30, 50), (34, 50))["verdict"] == "no clear gap"


def test_a_gap_in_favour_of_the_most_deprived_is_not_the_flag() -> None:
    assert _gap_for((45, 50), (20, 50))["verdict"] == "more often"


def test_no_gap_is_computed_when_either_end_has_too_few_notes() -> None:
    row = _gap_for((0, 9), (40, 50))
    assert row["verdict"] == "too few notes" and pd.isna(row["gap"])
    assert (row["q1_numerator"], row["q1_notes"]) == (0, 9)


@pytest.mark.parametrize(
    ("cell", "expected"),
    [("", None), ("  ", None), ("1", 1), ("5", 5), (" 3 ", 3), ("3.0", 3)],
)
def test_imd_quintile_cells_that_are_read(cell: str, expected: int | None) -> None:
    assert parse_imd_quintile(cell) == (expected, None)


@pytest.mark.parametrize("cell", ["0", "6", "-1", "10"])
def test_imd_quintile_out_of_range_is_refused(cell: str) -> None:
    value, problem = parse_imd_quintile(cell)
    assert value is None and "out of range" in problem


@pytest.mark.parametrize("cell", ["high", "2.5", "nan", "inf", "Q1", "1-2"])
def test_imd_quintile_that_is_not_a_whole_number_is_refused(cell: str) -> None:
    value, problem = parse_imd_quintile(cell)
    assert value is None and "whole number" in problem


# ---------------------------------------------------------------- wording (issue #18 nits)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.05, "+5"), (-0.08, "\u22128"), (-0.004, "0"), (0.004, "0"), (-0.0, "0"), (0.0, "0")],
)
def test_signed_points_use_a_minus_sign_and_never_say_minus_zero(value, expected) -> None:
    from audit.reach import signed_points

    assert signed_points(value) == expected


def test_an_interval_in_points_has_minus_signs_not_hyphens() -> None:
    from audit.reach import points_interval_text

    text = points_interval_text(-0.12, -0.2, -0.001)
    assert text == "\u221212 points (\u221220 to 0)"
    assert "-" not in text


@pytest.mark.parametrize(
    ("day", "quarter"),
    [
        ("2026-11-29", "2026-Q3"),  # Q4 still running
        ("2026-10-01", "2026-Q3"),
        ("2026-12-31", "2026-Q3"),  # its last day is not over yet
        ("2027-01-01", "2026-Q4"),
        ("2026-04-15", "2026-Q1"),
        ("2026-02-01", "2025-Q4"),
    ],
)
def test_the_latest_complete_quarter_is_the_newest_one_over_at_the_as_of(day, quarter) -> None:
    from datetime import UTC, datetime, time

    from audit.reach import latest_complete_quarter

    at = datetime.combine(datetime.fromisoformat(day).date(), time.max, tzinfo=UTC)
    assert latest_complete_quarter(at) == quarter


def test_a_running_quarter_is_never_the_quarter_the_gap_verdict_is_for() -> None:
    from audit.reach import complete_gaps

    gaps = pd.DataFrame({"team": ["a", "a", "a"], "period": ["2026-Q2", "2026-Q3", "2026-Q4"]})
    assert complete_gaps(gaps, "2026-Q3")["period"].tolist() == ["2026-Q2", "2026-Q3"]
    assert complete_gaps(gaps, None).empty


def test_the_before_after_table_names_the_team_not_its_id() -> None:
    from dashboard.reach_data import before_after_table

    per = before_after(
        counts(
            [("t-1", p, "c1", 9, 10) for p in ("2024-01", "2024-02", "2024-03")]
            + [("t-1", p, "c1", 5, 10) for p in ("2024-05", "2024-06", "2024-07")]
        ),
        training([("c1", "t-1", "2024-04-10")]),
        M,
    )
    table = before_after_table(before_after_summary(per), {"t-1": "Team One"})
    assert set(table["Team"]) <= {"Team One", ALL_TEAMS}
    assert "Team One" in set(table["Team"])
    assert "\u221240 points" in table["Change"].tolist()
    assert not table["Change"].str.contains("-").any()
