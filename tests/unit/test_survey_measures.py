"""Patient-reported measures and the triangulation flag on constructed data (no I/O)."""

from __future__ import annotations

import pandas as pd
import pytest

from audit.stats import wilson_interval
from audit.surveys import answer_counts, tally, with_flags
from audit.triangulation import compare, complete_quarter, newcombe_difference


def _counts(rows):
    return tally([(t, p, a, g, f, k) for t, p, a, g, f, k in rows])


def _one(df, team, period, measure):
    row = df[(df["team"] == team) & (df["period"] == period) & (df["measure"] == measure)]
    assert len(row) == 1, (team, period, measure)
    return row.iloc[0]


def test_the_rate_is_yes_over_yes_no_and_not_sure_with_blank_and_doesnt_apply_excluded() -> None:
    assert answer_counts(("yes", "no", "not_sure"))[:3] == [(1, 1), (0, 1), (0, 1)]
    assert answer_counts(("blank", "doesnt_apply", "yes"))[:3] == [(0, 0), (0, 0), (1, 1)]
    counts = _counts(
        [
            ("t", "2025-01", "yes", "yes", "yes", 3),
            ("t", "2025-01", "no", "not_sure", "doesnt_apply", 2),
            ("t", "2025-01", "not_sure", "blank", "yes", 1),
            ("t", "2025-01", "blank", "yes", "blank", 4),
        ]
    )
    agenda = _one(counts, "t", "2025-01", "agenda_setting")
    goal = _one(counts, "t", "2025-01", "goal_setting")
    follow = _one(counts, "t", "2025-01", "follow_up")
    assert (agenda.numerator, agenda.denominator) == (3, 6)  # 4 blank excluded
    assert (goal.numerator, goal.denominator) == (7, 9)  # 1 blank excluded, not_sure counts
    assert (follow.numerator, follow.denominator) == (4, 4)  # doesnt_apply and blank excluded


def test_all_three_counts_only_returns_answering_all_three() -> None:
    counts = _counts(
        [
            ("t", "2025-01", "yes", "yes", "yes", 2),
            ("t", "2025-01", "yes", "yes", "not_sure", 1),  # answered all three, not all yes
            ("t", "2025-01", "yes", "yes", "doesnt_apply", 5),  # excluded
            ("t", "2025-01", "yes", "blank", "yes", 5),  # excluded
        ]
    )
    bundle = _one(counts, "t", "2025-01", "all_three")
    assert (bundle.numerator, bundle.denominator) == (2, 3)


def test_a_measure_with_nothing_counted_in_a_month_is_absent_not_zero() -> None:
    counts = _counts([("t", "2025-01", "doesnt_apply", "blank", "yes", 3)])
    assert set(counts["measure"]) == {"follow_up"}


def test_measures_carry_wilson_intervals_small_months_and_the_latest_month_provisional() -> None:
    counts = _counts(
        [
            ("a", "2025-01", "yes", "yes", "yes", 12),
            ("a", "2025-01", "no", "no", "no", 8),
            ("a", "2025-02", "yes", "no", "yes", 9),
            ("b", "2025-02", "yes", "yes", "yes", 30),
        ]
    )
    m = with_flags(counts, "2025-02")
    jan = _one(m, "a", "2025-01", "agenda_setting")
    assert jan.proportion == pytest.approx(0.6)
    assert (jan.ci_low, jan.ci_high) == pytest.approx(wilson_interval(12, 20))
    assert not jan.small and not jan.provisional
    feb = _one(m, "a", "2025-02", "goal_setting")
    assert feb.small and feb.provisional and feb.proportion == 0
    assert _one(m, "b", "2025-02", "all_three").provisional
    assert list(m.columns)[-1] == "provisional"
    assert m[["team", "period"]].apply(tuple, axis=1).is_monotonic_increasing


def test_quarterly_measures_pool_the_months_and_the_latest_quarter_is_provisional() -> None:
    counts = _counts(
        [
            ("a", "2025-01", "yes", "yes", "yes", 4),
            ("a", "2025-02", "no", "yes", "yes", 6),
            ("a", "2025-04", "yes", "yes", "yes", 6),
        ]
    )
    q = with_flags(counts, "2025-04", quarterly=True)
    q1 = _one(q, "a", "2025-Q1", "agenda_setting")
    assert (q1.numerator, q1.denominator, q1.small, q1.provisional) == (4, 10, False, False)
    assert _one(q, "a", "2025-Q2", "agenda_setting").provisional


# --- Newcombe (1998) method 10, checked against the paper's Table II --------------------------

NEWCOMBE_1998_TABLE_II = [
    # (x1, n1, x2, n2, lower, upper): Newcombe RG, Stat Med 1998;17:873-890, method 10
    (56, 70, 48, 80, 0.0524, 0.3339),
    (9, 10, 3, 10, 0.1705, 0.8090),
    (6, 7, 2, 7, 0.0582, 0.8062),
    (5, 56, 0, 29, -0.0381, 0.1926),
    (0, 10, 0, 20, -0.1611, 0.2775),
    (0, 10, 0, 10, -0.2775, 0.2775),
    (10, 10, 0, 20, 0.6791, 1.0000),
    (10, 10, 0, 10, 0.6075, 1.0000),
]


@pytest.mark.parametrize("x1, n1, x2, n2, lower, upper", NEWCOMBE_1998_TABLE_II)
def test_the_difference_interval_reproduces_newcombe_1998_method_10(
    x1, n1, x2, n2, lower, upper
) -> None:
    d, lo, hi = newcombe_difference(x1, n1, x2, n2)
    assert d == pytest.approx(x1 / n1 - x2 / n2)
    assert (round(lo, 4), round(hi, 4)) == (lower, upper)


def test_the_difference_interval_is_undefined_without_data_on_either_side() -> None:
    assert newcombe_difference(0, 0, 3, 10) is None
    assert newcombe_difference(3, 10, 0, 0) is None


def _quarter(rows):
    return pd.DataFrame(rows, columns=["team", "period", "measure", "numerator", "denominator"])


def test_notes_far_above_what_patients_report_are_flagged_and_close_rates_are_not() -> None:
    notes = _quarter(
        [
            ("tick", "2025-Q3", "goal_setting", 57, 60),  # 95% documented
            ("real", "2025-Q3", "goal_setting", 56, 60),
            ("low", "2025-Q3", "goal_setting", 12, 60),
            ("tick", "2025-Q2", "goal_setting", 10, 60),  # another quarter: ignored
        ]
    )
    surveys = _quarter(
        [
            ("tick", "2025-Q3", "goal_setting", 30, 66),  # patients: 45%
            ("real", "2025-Q3", "goal_setting", 58, 66),  # patients: 88%
            ("low", "2025-Q3", "goal_setting", 30, 66),  # patients report MORE: never flagged
        ]
    )
    table = compare(notes, surveys, "2025-Q3").set_index("team")
    assert table.loc["tick", "flagged"] and table.loc["tick", "diff_low"] > 0
    assert not table.loc["real", "flagged"] and table.loc["real", "diff_low"] <= 0
    assert not table.loc["low", "flagged"] and table.loc["low", "difference"] < 0
    assert (table.loc["tick", "notes_n"], table.loc["tick", "survey_n"]) == (60, 66)


def test_the_flag_needs_the_lower_bound_above_zero_not_just_a_higher_rate() -> None:
    notes = _quarter([("t", "2025-Q3", "follow_up", 9, 10)])
    surveys = _quarter([("t", "2025-Q3", "follow_up", 6, 10)])  # 90% vs 60%, n = 10 each
    row = compare(notes, surveys, "2025-Q3").iloc[0]
    assert row.difference > 0.25 and row.diff_low < 0 and not row.flagged


def test_a_team_missing_from_either_source_is_left_out() -> None:
    notes = _quarter([("a", "2025-Q3", "follow_up", 9, 10)])
    surveys = _quarter([("b", "2025-Q3", "follow_up", 6, 10)])
    assert compare(notes, surveys, "2025-Q3").empty


@pytest.mark.parametrize(
    "latest_survey, latest_audit, quarter",
    [
        ("2025-12", "2025-12", "2025-Q3"),  # December's surveys are still coming back
        ("2026-01", "2025-12", "2025-Q4"),
        ("2025-11", "2025-12", "2025-Q3"),
        ("2026-01", "2025-11", "2025-Q3"),  # the audit of December is not in yet
        ("2025-04", "2025-12", "2025-Q1"),
        ("2025-02", "2025-12", "2024-Q4"),
        (None, "2025-12", None),
        ("2025-12", None, None),
    ],
)
def test_the_latest_complete_quarter_is_over_in_both_sources(
    latest_survey, latest_audit, quarter
) -> None:
    assert complete_quarter(latest_survey, latest_audit) == quarter


def test_the_pack_section_lists_the_flagged_pairs_and_says_it_is_a_prompt() -> None:
    from audit.triangulation import pack_lines, pack_table, render_html

    notes = _quarter(
        [("tick", "2025-Q3", "goal_setting", 57, 60), ("ok", "2025-Q3", "goal_setting", 50, 60)]
    )
    surveys = _quarter(
        [("tick", "2025-Q3", "goal_setting", 30, 66), ("ok", "2025-Q3", "goal_setting", 52, 66)]
    )
    table = compare(notes, surveys, "2025-Q3").assign(team_name=lambda t: t["team"].str.upper())
    lines = pack_lines(table)
    assert lines[0].startswith("2025-Q3 (the latest complete quarter): 1 of 2")
    assert "not a verdict" in lines[1]
    shown = pack_table(table, {"goal_setting": "Goal setting"})
    assert shown["Team"].tolist() == ["TICK"] and shown["Enabler"].tolist() == ["Goal setting"]
    assert shown["Case notes (audit sample)"].iloc[0] == "95%"
    assert shown["95% interval from"].iloc[0].startswith("+")
    html = render_html(table)
    assert "<h2>Case notes and patient surveys</h2>" in html and "TICK" in html and "OK" not in html
    assert "nothing to triangulate" in render_html(table.iloc[0:0])
