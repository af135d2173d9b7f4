"""Culture shift: has an enabler improved for good, and is it now the norm?

A senior clinical leader's question per team, answered from one SPC chart: when did a
sustained improvement start (a shift or trend, not a single lucky month), and does the team
now reliably meet the target.
"""

from __future__ import annotations

from dataclasses import dataclass

from audit.spc import (
    IMPROVEMENT,
    LONG_RUN,
    PASS,
    SHIFT,
    TREND,
    SpcResult,
    assurance_against_target,
)

SUSTAINED_SIGNALS = frozenset({SHIFT, TREND, LONG_RUN})
"""Rules that need several points in a row; a run chart's long run is its shift."""


@dataclass(frozen=True)
class CultureShift:
    """The first period of sustained improvement (or None) and whether it is the norm."""

    first_improvement_period: str | None
    is_norm: bool
    reason: str


def culture_shift(result: SpcResult, target: float = 0.8, last_n: int = 6) -> CultureShift:
    """Judge a team's chart: first sustained improvement, and norm = assurance pass against
    ``target`` or the last ``last_n`` points all at (or better than) the target.

    Assurance is re-judged against ``target`` from the last point's limits so that the answer
    does not depend on whether the chart itself was drawn with a target.
    """
    if last_n < 1:
        raise ValueError(f"last_n must be at least 1, got {last_n}")
    first = _first_sustained_improvement(result)
    is_norm, why = _norm(result, target, last_n)
    found = f"sustained improvement from {first}" if first else "no sustained improvement"
    return CultureShift(first_improvement_period=first, is_norm=is_norm, reason=f"{found}; {why}")


def _first_sustained_improvement(result: SpcResult) -> str | None:
    for point in result.points:
        if point.point_type == IMPROVEMENT and SUSTAINED_SIGNALS.intersection(point.signals):
            return point.period
    return None


def _norm(result: SpcResult, target: float, last_n: int) -> tuple[bool, str]:
    if result.improvement == "neither":
        return False, "no norm without an improvement direction"
    shown = _format(result, target)
    if result.points and result.chart != "run":
        last = result.points[-1]
        assurance = assurance_against_target(
            result.improvement, target, last.lower_limit, last.upper_limit
        )
        if assurance == PASS:
            return True, f"the norm: the process limits consistently meet the target {shown}"
    recent = result.points[-last_n:]
    better = "at or above" if result.improvement == "up" else "at or below"
    if len(recent) == last_n and all(_meets(p.value, target, result.improvement) for p in recent):
        return True, f"the norm: the last {last_n} points are all {better} the target {shown}"
    if len(recent) < last_n:
        return False, f"not yet the norm: fewer than {last_n} points"
    return False, f"not yet the norm: not all of the last {last_n} points are {better} {shown}"


def _meets(value: float, target: float, improvement: str) -> bool:
    return value >= target if improvement == "up" else value <= target


def _format(result: SpcResult, target: float) -> str:
    return f"{target:.0%}" if result.chart == "p" else f"{target:g}"
