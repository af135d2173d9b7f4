"""Run charts with Anhøj's rules (qicharts2's runs analysis)."""

from __future__ import annotations

import pytest

from audit.spc import anhoej_runs, run_chart
from audit.stats import anhoej_limits, qbinom

# domain-notes §3.5: n useful → (max longest run, min crossings)
PUBLISHED_TABLE = {
    10: (6, 2),
    11: (6, 2),
    12: (7, 3),
    13: (7, 3),
    14: (7, 4),
    15: (7, 4),
    16: (7, 4),
    17: (7, 5),
    18: (7, 5),
    19: (7, 6),
    20: (7, 6),
    21: (7, 6),
    22: (7, 7),
    23: (8, 7),
    24: (8, 8),
    25: (8, 8),
    26: (8, 8),
    27: (8, 9),
    28: (8, 9),
    29: (8, 10),
    30: (8, 10),
    36: (8, 13),
    40: (8, 14),
    48: (9, 18),
    50: (9, 19),
    60: (9, 23),
}


@pytest.mark.parametrize(("n", "expected"), sorted(PUBLISHED_TABLE.items()))
def test_anhoej_limits_match_the_published_table(n: int, expected: tuple[int, int]) -> None:
    assert anhoej_limits(n) == expected


@pytest.mark.parametrize(
    ("p", "size", "prob", "expected"),
    [
        (0.05, 23, 0.5, 8),
        (0.05, 59, 0.5, 23),
        (0.5, 10, 0.3, 3),
        (0.05, 1000, 0.5, 474),
        (0.3, 5, 0.2, 0),
        (0.0, 10, 0.5, 0),
        (1.0, 10, 0.5, 10),
        (0.5, 0, 0.5, 0),
    ],
)
def test_qbinom_agrees_with_r(p: float, size: int, prob: float, expected: int) -> None:
    assert qbinom(p, size, prob) == expected


def test_qbinom_treats_an_exactly_reached_probability_as_reached() -> None:
    # P(X ≤ 1) for Bin(2, 0.5) is exactly 0.75, so the 0.75 quantile is 1, not 2.
    assert qbinom(0.75, 2, 0.5) == 1


def test_the_centre_line_is_the_median() -> None:
    result = run_chart(list("abcde"), [5.0, 1.0, 4.0, 2.0, 100.0])
    assert {p.centre for p in result.points} == {4.0}


def test_a_run_chart_has_no_limits_and_no_assurance() -> None:
    result = run_chart(list("abcde"), [5.0, 1.0, 4.0, 2.0, 3.0], target=2.0)
    assert all(p.upper_limit is None and p.lower_2sigma is None for p in result.points)
    assert result.assurance is None


def test_twenty_four_points_signal_beyond_a_run_of_eight_or_fewer_than_eight_crossings() -> None:
    runs = anhoej_runs([1, 3] * 12, centre=2)
    assert (runs.n_useful, runs.longest_run_max, runs.crossings_min) == (24, 8, 8)
    assert runs.crossings == 23 and not runs.signal


def test_too_few_crossings_is_a_signal() -> None:
    values = [1.0] * 5 + [3.0] * 5 + [1.0] * 5 + [3.0] * 5
    runs = anhoej_runs(values, centre=2.0)
    assert runs.crossings == 3 and runs.crossings_min == 6
    assert runs.signal


def test_points_on_the_median_neither_count_nor_break_a_run() -> None:
    values = [1.0, 3.0, 1.0, 3.0, 2.0, 3.0, 1.0]
    runs = anhoej_runs(values, centre=2.0)
    assert runs.n_useful == 6
    assert runs.longest_run == 2
    assert runs.crossings == 4


def test_the_points_of_a_too_long_run_are_flagged() -> None:
    values = [2.0, 4.0] * 3 + [5.0] * 8 + [2.0, 4.0] * 3
    result = run_chart([f"m{i}" for i in range(20)], values)
    # The 4s sit on the median and are dropped: 14 useful points, runs of 3, 8 and 3.
    assert result.points[0].centre == 4.0
    flagged = [i for i, p in enumerate(result.points) if p.point_type != "common_cause"]
    assert result.runs.longest_run_max == 7
    assert flagged == list(range(6, 14))
    assert {result.points[i].point_type for i in flagged} == {"improvement"}
    assert {result.points[i].signals for i in flagged} == {("long_run",)}


def test_a_long_run_below_the_median_is_concern_when_up_is_good_and_improvement_when_down() -> None:
    values = [5.0, 3.0] * 3 + [1.0] * 8 + [5.0, 3.0] * 3
    up = run_chart([f"m{i}" for i in range(20)], values, improvement="up")
    down = run_chart([f"m{i}" for i in range(20)], values, improvement="down")
    neither = run_chart([f"m{i}" for i in range(20)], values, improvement="neither")
    assert {up.points[i].point_type for i in range(6, 14)} == {"concern"}
    assert {down.points[i].point_type for i in range(6, 14)} == {"improvement"}
    assert {neither.points[i].point_type for i in range(6, 14)} == {"neither"}


def test_too_few_crossings_alone_flags_no_points() -> None:
    values = [1.0] * 5 + [3.0] * 5 + [1.0] * 5 + [3.0] * 5
    result = run_chart([f"m{i}" for i in range(20)], values)
    assert result.runs.signal
    assert {p.point_type for p in result.points} == {"common_cause"}
    assert result.variation == "common_cause"


def test_an_empty_series_has_no_runs_and_no_icons() -> None:
    result = run_chart([], [])
    assert result.points == [] and result.variation is None
    assert result.runs.n_useful == 0 and not result.runs.signal
