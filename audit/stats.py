"""Small exact statistics used by the audit measures and SPC charts.

Everything here is pure and uses the standard library only, so the numbers can be checked by
hand against published tables (Wilson intervals, Cohen's kappa, R's ``qbinom``, Anhøj's limits).
"""

from __future__ import annotations

import math
import operator
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

Z_95 = 1.959964
"""Two-sided 95% normal quantile, as used in the audit measures and funnel plots."""

MIN_KAPPA_PAIRS = 20
"""The default minimum of paired notes for kappa; the programme's setting
(``ProgrammeSettings.kappa_minimum_pairs``, which may differ) is what the views pass."""

# R's qbinom shifts p down by this relative amount so that a CDF equal to p up to rounding
# still counts as reaching it ("fuzz to ensure left continuity").
_R_LEFT_FUZZ = Fraction(1) - 64 * Fraction(sys.float_info.epsilon)


def wilson_interval(yes: int, n: int, z: float = Z_95) -> tuple[float | None, float | None]:
    """Wilson score interval for yes/n.

    Wilson rather than the normal approximation because audit samples are small (often 20
    notes) and proportions sit near 0 or 1, where the Wald interval escapes [0, 1].
    Returns (None, None) when there is nothing to estimate (n == 0).
    """
    _check_count("yes", yes)
    _check_count("n", n)
    if yes > n:
        raise ValueError(f"yes ({yes}) cannot exceed n ({n})")
    if n == 0:
        return None, None
    return wilson_bounds(yes, n, z)


def wilson_bounds(yes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """:func:`wilson_interval` for n > 0, where both limits exist (typed as plain floats)."""
    _check_count("yes", yes)
    if n <= 0 or yes > n:
        raise ValueError(f"the Wilson bounds need 0 <= yes <= n and n > 0, got {yes}/{n}")
    p = yes / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half_width = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    # Exact at the ends (0/n starts at 0, n/n ends at 1) despite floating-point rounding.
    low = 0.0 if yes == 0 else min(p, max(0.0, centre - half_width))
    high = 1.0 if yes == n else max(p, min(1.0, centre + half_width))
    return low, high


@dataclass(frozen=True)
class Agreement:
    """Inter-rater agreement on a yes/no item.

    ``percent_agreement`` is on the 0–100 scale; ``kappa`` is None when there are too few
    pairs to report it, or when chance agreement is total (both raters gave one answer only).
    """

    n: int
    percent_agreement: float | None
    kappa: float | None


def cohens_kappa(pairs: Sequence[tuple[bool, bool]], min_pairs: int = MIN_KAPPA_PAIRS) -> Agreement:
    """Cohen's kappa for two raters' yes/no findings on the same notes.

    κ = (p_o − p_e)/(1 − p_e) with p_e = p₁q₁ + (1−p₁)(1−q₁). Kappa from a handful of pairs
    is noise, so below ``min_pairs`` only the percentage agreement is given.
    """
    n = len(pairs)
    if n == 0:
        return Agreement(n=0, percent_agreement=None, kappa=None)
    agree = sum(1 for first, second in pairs if bool(first) == bool(second))
    first_yes = sum(1 for first, _ in pairs if first) / n
    second_yes = sum(1 for _, second in pairs if second) / n
    p_o = agree / n
    p_e = first_yes * second_yes + (1 - first_yes) * (1 - second_yes)
    kappa = None
    if n >= min_pairs and not math.isclose(p_e, 1.0, rel_tol=0.0, abs_tol=1e-12):
        kappa = (p_o - p_e) / (1 - p_e)
    return Agreement(n=n, percent_agreement=100.0 * p_o, kappa=kappa)


def newcombe_difference(
    x1: int, n1: int, x2: int, n2: int, z: float = Z_95
) -> tuple[float, float, float] | None:
    """p1 − p2 with Newcombe's hybrid score interval (1998, method 10: Wilson limits, no
    continuity correction): d − √((p1−l1)² + (u2−p2)²) to d + √((u1−p1)² + (p2−l2)²).

    Chosen because it stays inside [−1, 1] and behaves at small n and near 0 or 1, where the
    Wald interval for a difference does not. None when either side has nothing to estimate
    (n = 0). The one implementation: triangulation and the reach lens both use it."""
    if n1 == 0 or n2 == 0:
        return None
    l1, u1 = wilson_bounds(x1, n1, z)
    l2, u2 = wilson_bounds(x2, n2, z)
    p1, p2 = x1 / n1, x2 / n2
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return d, max(-1.0, low), min(1.0, high)


def qbinom(p: float, size: int, prob: float) -> int:
    """Binomial quantile exactly as R's ``qbinom(p, size, prob)`` (lower tail).

    The smallest x with P(X ≤ x) ≥ p, computed in exact rational arithmetic (with R's tiny
    left-continuity fuzz) so Anhøj's crossing limits match R to the unit.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    if not 0.0 <= prob <= 1.0:
        raise ValueError(f"prob must be in [0, 1], got {prob}")
    _check_count("size", size)
    if p == 0.0 or size == 0 or prob == 0.0:
        return 0
    if p == 1.0 or prob == 1.0:
        return size
    success, denominator = Fraction(prob).as_integer_ratio()
    failure = denominator - success
    target = Fraction(p) * _R_LEFT_FUZZ
    # Compare cumulative sums of comb(n, k)·a^k·b^(n−k) against target·d^n, all integers.
    threshold = target * denominator**size
    cumulative = 0
    for k in range(size + 1):
        cumulative += math.comb(size, k) * success**k * failure ** (size - k)
        if cumulative >= threshold:
            return k
    return size


def anhoej_limits(n_useful: int) -> tuple[int, int]:
    """Anhøj's run-chart limits for n useful points: (longest run max, crossings min).

    A signal is a longest run above the first or fewer crossings than the second. Python's
    ``round`` is half-to-even like R's, so this matches qicharts2.
    """
    if n_useful < 1:
        raise ValueError(f"need at least one useful point, got {n_useful}")
    return round(math.log2(n_useful)) + 3, qbinom(0.05, n_useful - 1, 0.5)


def _check_count(name: str, value: int) -> None:
    try:
        whole = operator.index(value)
    except TypeError:
        whole = -1
    if isinstance(value, bool) or whole < 0:
        raise ValueError(f"{name} must be a whole number ≥ 0, got {value!r}")
