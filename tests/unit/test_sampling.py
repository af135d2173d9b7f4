"""Second-review selection: how many notes, as the docstring of ``second_review_ids`` says."""

from __future__ import annotations

from audit.sampling import second_review_ids

SEED = "round-seed"


def _sample(n: int) -> list[str]:
    return [f"c-{i:03d}" for i in range(n)]


def test_the_second_review_count_rounds_share_times_n_rather_than_taking_the_ceiling() -> None:
    assert len(second_review_ids(_sample(21), 0.10, SEED)) == 2  # ceil(2.1) would be 3
    assert len(second_review_ids(_sample(29), 0.10, SEED)) == 3  # 2.9 rounds up


def test_a_half_rounds_up_and_a_tiny_share_still_picks_one_note() -> None:
    assert len(second_review_ids(_sample(25), 0.10, SEED)) == 3  # 2.5 → 3, not banker's 2
    assert len(second_review_ids(_sample(3), 0.10, SEED)) == 1  # 0.3 → at least one


def test_no_share_or_no_sample_picks_nothing() -> None:
    assert second_review_ids(_sample(20), 0.0, SEED) == []
    assert second_review_ids([], 0.10, SEED) == []


def test_the_choice_is_a_subset_of_the_sample_and_reproducible() -> None:
    sample = _sample(40)
    chosen = second_review_ids(sample, 0.10, SEED)
    assert set(chosen) <= set(sample)
    assert chosen == second_review_ids(list(reversed(sample)), 0.10, SEED)
