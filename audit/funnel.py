"""Funnel plots for comparing teams (Spiegelhalter's normal approximation).

A funnel compares many teams at one time, which is a different question from SPC's "has this
team changed over time", so it lives apart from the control charts in ``audit.spc`` (which
re-exports these names for older callers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from audit.stats import Z_95

Z_998 = 3.090232
"""Two-sided 99.8% normal quantile: the funnel plot's "alarm" limit."""


@dataclass(frozen=True)
class FunnelPosition:
    """Where one team's proportion falls on the funnel.

    ``alert`` = outside the 95% limits, ``alarm`` = outside the 99.8% limits; ``side`` is
    "above" or "below" when outside the 95% limits, else None.
    """

    proportion: float
    n: int
    lower_95: float
    upper_95: float
    lower_998: float
    upper_998: float
    alert: bool
    alarm: bool
    side: str | None


def pooled_proportion(numerators: Sequence[int], denominators: Sequence[int]) -> float:
    """The funnel's θ when no target is set: Σyes / Σreviewed over all teams."""
    total = sum(denominators)
    if total <= 0:
        raise ValueError("the denominators sum to zero: no pooled proportion")
    return sum(numerators) / total


def funnel_limits(
    theta: float, denominators: Sequence[int], z: tuple[float, float] = (Z_95, Z_998)
) -> pd.DataFrame:
    """Funnel limits θ ± z·√(θ(1−θ)/n) for each denominator, clipped to [0, 1].

    Spiegelhalter's normal approximation; columns n, lower_95, upper_95, lower_998, upper_998.
    """
    _check_proportion("theta", theta)
    n = np.asarray(list(denominators), dtype=float)
    if np.any(n <= 0):
        raise ValueError("funnel denominators must be greater than 0")
    sd = np.sqrt(theta * (1 - theta) / n) if n.size else n
    frame = pd.DataFrame({"n": n.astype("int64")})
    for label, zz in zip(("95", "998"), z, strict=True):
        frame[f"lower_{label}"] = np.clip(theta - zz * sd, 0.0, 1.0)
        frame[f"upper_{label}"] = np.clip(theta + zz * sd, 0.0, 1.0)
    return frame


def funnel_position(
    numerator: int,
    denominator: int,
    theta: float,
    z: tuple[float, float] = (Z_95, Z_998),
) -> FunnelPosition:
    """Flag a team's (numerator, denominator) against the funnel around θ (strictly outside)."""
    if denominator <= 0:
        raise ValueError("denominator must be greater than 0")
    if not 0 <= numerator <= denominator:
        raise ValueError("numerator must be between 0 and the denominator")
    row = funnel_limits(theta, [denominator], z).iloc[0]
    p = numerator / denominator
    above, below = p > row["upper_95"], p < row["lower_95"]
    alarm = bool(p > row["upper_998"] or p < row["lower_998"])
    return FunnelPosition(
        proportion=p,
        n=int(denominator),
        lower_95=float(row["lower_95"]),
        upper_95=float(row["upper_95"]),
        lower_998=float(row["lower_998"]),
        upper_998=float(row["upper_998"]),
        alert=bool(above or below),
        alarm=alarm,
        side="above" if above else "below" if below else None,
    )


def _check_proportion(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a proportion between 0 and 1, got {value}")
