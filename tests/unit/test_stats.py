"""Wilson intervals and Cohen's kappa against known values."""

from __future__ import annotations

import pytest

from audit import reach, stats, triangulation
from audit.stats import cohens_kappa, newcombe_difference, wilson_bounds, wilson_interval


@pytest.mark.parametrize(
    ("yes", "n", "expected"),
    [
        (8, 10, (0.4902, 0.9433)),
        (0, 10, (0.0, 0.2775)),
        (10, 10, (0.7225, 1.0)),
        (1, 20, (0.0089, 0.2361)),
        (50, 100, (0.4038, 0.5962)),
    ],
)
def test_wilson_interval_matches_known_values(
    yes: int, n: int, expected: tuple[float, float]
) -> None:
    low, high = wilson_interval(yes, n)
    assert low == pytest.approx(expected[0], abs=5e-5)
    assert high == pytest.approx(expected[1], abs=5e-5)


def test_wilson_interval_of_nothing_is_none() -> None:
    assert wilson_interval(0, 0) == (None, None)


def test_wilson_interval_rejects_more_yes_than_reviewed() -> None:
    with pytest.raises(ValueError, match="exceed"):
        wilson_interval(11, 10)


def test_wilson_interval_rejects_negative_counts() -> None:
    with pytest.raises(ValueError, match="whole number"):
        wilson_interval(-1, 10)


def pairs_from_table(both_yes: int, yes_no: int, no_yes: int, both_no: int) -> list:
    return (
        [(True, True)] * both_yes
        + [(True, False)] * yes_no
        + [(False, True)] * no_yes
        + [(False, False)] * both_no
    )


def test_kappa_matches_the_textbook_example() -> None:
    # 50 notes: p_o = 0.7, p_e = 0.5·0.6 + 0.5·0.4 = 0.5, κ = 0.4
    agreement = cohens_kappa(pairs_from_table(20, 5, 10, 15))
    assert agreement.n == 50
    assert agreement.percent_agreement == pytest.approx(70.0)
    assert agreement.kappa == pytest.approx(0.4)


def test_kappa_is_not_reported_for_fewer_than_twenty_pairs() -> None:
    agreement = cohens_kappa(pairs_from_table(8, 1, 2, 8))
    assert agreement.n == 19
    assert agreement.kappa is None
    assert agreement.percent_agreement == pytest.approx(100 * 16 / 19)


def test_kappa_is_not_reported_when_both_raters_only_ever_said_yes() -> None:
    agreement = cohens_kappa(pairs_from_table(25, 0, 0, 0))
    assert agreement.kappa is None
    assert agreement.percent_agreement == 100.0


def test_kappa_of_no_pairs_is_empty() -> None:
    assert cohens_kappa([]).percent_agreement is None


def test_kappa_can_be_negative_when_raters_systematically_disagree() -> None:
    agreement = cohens_kappa(pairs_from_table(0, 10, 10, 0))
    assert agreement.kappa == pytest.approx(-1.0)


def test_wilson_bounds_are_the_interval_of_a_non_empty_sample() -> None:
    for yes, n in ((0, 5), (3, 20), (20, 20)):
        assert wilson_bounds(yes, n) == wilson_interval(yes, n)


def test_wilson_bounds_refuse_an_empty_sample_instead_of_returning_none() -> None:
    with pytest.raises(ValueError, match="n > 0"):
        wilson_bounds(0, 0)


def test_newcombes_published_example_from_the_one_implementation() -> None:
    d, low, high = newcombe_difference(56, 70, 48, 80) or (None, None, None)
    assert (d, low, high) == pytest.approx((0.2, 0.0524, 0.3339), abs=5e-5)
    assert newcombe_difference(0, 0, 3, 10) is None


def test_triangulation_and_the_reach_lens_share_one_newcombe_interval() -> None:
    assert triangulation.newcombe_difference is stats.newcombe_difference
    assert reach.newcombe_difference(56, 70, 48, 80) == stats.newcombe_difference(56, 70, 48, 80)
    assert reach.newcombe_difference(0, 0, 3, 10) == (None, None, None)
