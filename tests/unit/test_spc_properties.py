"""Properties that must hold for any series, checked with generated data."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from audit.spc import POINT_TYPES, SpcResult, p_chart, run_chart, xmr_chart
from audit.stats import cohens_kappa, wilson_interval

# No deadline (the machine is shared and noisy) and no example database (unit tests do no I/O).
PROPERTY = settings(deadline=None, max_examples=150, database=None)

values_strategy = st.lists(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False),
    min_size=1,
    max_size=40,
)


@st.composite
def proportion_series(draw: st.DrawFn) -> tuple[list[int], list[int]]:
    denominators = draw(st.lists(st.integers(1, 60), min_size=1, max_size=40))
    numerators = [draw(st.integers(0, n)) for n in denominators]
    return numerators, denominators


def labels(n: int) -> list[str]:
    return [f"m{i:02d}" for i in range(n)]


def assert_lines_are_ordered(result: SpcResult) -> None:
    for p in result.points:
        assert p.point_type in POINT_TYPES
        if p.upper_limit is None:
            continue
        assert p.lower_limit <= p.lower_2sigma <= p.centre <= p.upper_2sigma <= p.upper_limit


@PROPERTY
@given(values_strategy, st.sampled_from(["up", "down", "neither"]))
def test_xmr_lower_limit_le_centre_le_upper_limit(values: list[float], direction: str) -> None:
    assert_lines_are_ordered(xmr_chart(labels(len(values)), values, improvement=direction))


@PROPERTY
@given(values_strategy)
def test_xmr_limits_and_icons_appear_from_thirteen_points(values: list[float]) -> None:
    result = xmr_chart(labels(len(values)), values)
    enough = len(values) >= 13
    assert all((p.upper_limit is not None) == enough for p in result.points)
    assert (result.variation is not None) == enough
    if not enough:
        assert {p.point_type for p in result.points} == {"common_cause"}


@PROPERTY
@given(proportion_series(), st.one_of(st.none(), st.integers(1, 20)))
def test_p_chart_limits_lie_in_zero_one_around_the_centre(
    series: tuple[list[int], list[int]], baseline: int | None
) -> None:
    numerators, denominators = series
    result = p_chart(labels(len(numerators)), numerators, denominators, baseline=baseline)
    assert_lines_are_ordered(result)
    for p in result.points:
        assert 0.0 <= p.value <= 1.0
        for line in (p.lower_limit, p.upper_limit, p.lower_2sigma, p.upper_2sigma):
            assert line is None or 0.0 <= line <= 1.0


@PROPERTY
@given(values_strategy)
def test_run_chart_runs_analysis_is_consistent(values: list[float]) -> None:
    result = run_chart(labels(len(values)), values)
    runs = result.runs
    assert runs.n_useful <= len(values)
    assert 0 <= runs.crossings <= max(0, runs.n_useful - 1)
    assert runs.longest_run <= runs.n_useful


@PROPERTY
@given(st.lists(proportion_series(), min_size=2, max_size=5), st.randoms())
def test_a_teams_result_does_not_depend_on_the_other_teams(
    teams: list[tuple[list[int], list[int]]], rnd: random.Random
) -> None:
    def chart_all(order: list[int]) -> dict[int, dict]:
        charts = {}
        for team in order:
            numerators, denominators = teams[team]
            charts[team] = p_chart(labels(len(numerators)), numerators, denominators).to_dict()
            charts[-team - 1] = xmr_chart(
                labels(len(numerators)), [n / d for n, d in zip(*teams[team], strict=True)]
            ).to_dict()
        return charts

    order = list(range(len(teams)))
    shuffled = order[:]
    rnd.shuffle(shuffled)
    assert chart_all(order) == chart_all(shuffled)


@PROPERTY
@given(st.integers(0, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_bounds_lie_in_zero_one_and_contain_the_proportion(case: tuple[int, int]) -> None:
    yes, n = case
    low, high = wilson_interval(yes, n)
    if n == 0:
        assert (low, high) == (None, None)
        return
    assert 0.0 <= low <= yes / n <= high <= 1.0


@PROPERTY
@given(st.lists(st.booleans(), min_size=20, max_size=200).filter(lambda r: len(set(r)) == 2))
def test_kappa_of_identical_ratings_is_one_when_both_answers_occur(ratings: list[bool]) -> None:
    agreement = cohens_kappa([(r, r) for r in ratings])
    assert agreement.kappa == 1.0
    assert agreement.percent_agreement == 100.0
