"""Statistical process control as NHS boards read it (NHS England "Making Data Count").

Three charts share one vocabulary of points and icons:

- ``xmr_chart``: mean ± 2.66 × mean moving range, the MDC default for any measure;
- ``p_chart``: p̄ ± 3·√(p̄(1−p̄)/nᵢ), the textbook chart for audit proportions;
- ``run_chart``: median centre line with Anhøj's runs rules, for short or early series.

The special-cause rules are small named functions over arrays so that each can be tested on
its own, and so that the chart functions read like the MDC rule book. Limits are never moved
automatically: baselines and recalculations are explicit arguments (set by events upstream).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

# The funnel statistics live in audit/funnel.py; these names stay importable from here.
from audit.funnel import Z_998 as Z_998
from audit.funnel import FunnelPosition as FunnelPosition
from audit.funnel import funnel_limits as funnel_limits
from audit.funnel import funnel_position as funnel_position
from audit.funnel import pooled_proportion as pooled_proportion
from audit.stats import anhoej_limits

Direction = Literal["up", "down", "neither"]
DIRECTIONS: tuple[str, ...] = ("up", "down", "neither")

COMMON_CAUSE = "common_cause"
IMPROVEMENT = "improvement"
CONCERN = "concern"
NEITHER = "neither"
POINT_TYPES: tuple[str, ...] = (COMMON_CAUSE, IMPROVEMENT, CONCERN, NEITHER)

POINT_COLOURS: dict[str, str] = {
    IMPROVEMENT: "#00B0F0",
    CONCERN: "#E46C0A",
    NEITHER: "#490092",
    COMMON_CAUSE: "#A6A6A6",
}
"""The MDC colours, so every chart (dashboard, review pack) paints points the same way."""

PASS = "pass"
FAIL = "fail"
HIT_OR_MISS = "hit_or_miss"

SINGLE_POINT = "single_point"
SHIFT = "shift"
TREND = "trend"
TWO_OF_THREE = "two_of_three"
LONG_RUN = "long_run"
RULE_NAMES: tuple[str, ...] = (SINGLE_POINT, SHIFT, TREND, TWO_OF_THREE, LONG_RUN)

XMR_LIMIT_FACTOR = 2.66
"""3 / d2 (d2 = 1.128 for moving ranges of two): MRbar × 2.66 ≈ 3σ."""

FRAME_COLUMNS: tuple[str, ...] = (
    "period",
    "value",
    "centre",
    "lower_limit",
    "upper_limit",
    "lower_2sigma",
    "upper_2sigma",
    "point_type",
    "numerator",
    "denominator",
    "signals",
)
CONTRACT_POINT_FIELDS: tuple[str, ...] = FRAME_COLUMNS[:8]
"""The per-point fields of the ``sipdash spc`` contract (CSV columns and JSON keys)."""


# --------------------------------------------------------------------------------------------
# Data shapes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpcSettings:
    """Rule settings; the defaults are the MDC Single Chart Tool's.

    ``two_of_three_counts_beyond_3sigma`` is the one point where MDC's own documents disagree
    (SQL v2.6 counts points beyond 3σ, the Single Chart Tool does not); default "not counted".
    """

    shift_points: int = 6
    trend_points: int = 6
    minimum_points: int = 13
    two_of_three_counts_beyond_3sigma: bool = False

    def __post_init__(self) -> None:
        for name in ("shift_points", "trend_points"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 6 <= value <= 8:
                raise ValueError(f"{name} must be between 6 and 8 (MDC), got {value}")
        if self.minimum_points < 2:
            raise ValueError(f"minimum_points must be at least 2, got {self.minimum_points}")


@dataclass(frozen=True)
class SpcPoint:
    """One plotted point: its value, the lines it is judged against and the verdict.

    Limits are None when the chart has too few points to show them. ``signals`` names the
    rules behind the point's colour: for an improvement or concern point, the rules that fired
    on that side; for a "neither" point, every rule that fired.
    """

    period: str
    value: float
    centre: float | None
    lower_limit: float | None
    upper_limit: float | None
    lower_2sigma: float | None
    upper_2sigma: float | None
    point_type: str
    numerator: int | None = None
    denominator: int | None = None
    signals: tuple[str, ...] = ()

    @property
    def colour(self) -> str:
        """The MDC colour of this point."""
        return POINT_COLOURS[self.point_type]

    def contract_dict(self) -> dict[str, Any]:
        """The point as the ``sipdash spc`` contract spells it."""
        return {name: getattr(self, name) for name in CONTRACT_POINT_FIELDS}


@dataclass(frozen=True)
class RunsAnalysis:
    """Anhøj's runs analysis: too long a run or too few crossings signals a non-random process.

    The two limits are None when no point is off the centre line (nothing to analyse).
    """

    n_useful: int
    longest_run: int
    longest_run_max: int | None
    crossings: int
    crossings_min: int | None
    signal: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_useful": self.n_useful,
            "longest_run": self.longest_run,
            "longest_run_max": self.longest_run_max,
            "crossings": self.crossings,
            "crossings_min": self.crossings_min,
            "signal": self.signal,
        }


@dataclass(frozen=True)
class SpcResult:
    """A whole chart: its points and the two summary icons taken from the last point."""

    chart: str
    improvement: str
    target: float | None
    points: list[SpcPoint] = field(hash=False)
    variation: str | None
    assurance: str | None
    runs: RunsAnalysis

    def to_frame(self) -> pd.DataFrame:
        """One row per point; missing limits are NaN, ``signals`` a comma-separated string."""
        rows = [
            {
                **point.contract_dict(),
                "numerator": point.numerator,
                "denominator": point.denominator,
                "signals": ", ".join(point.signals),
            }
            for point in self.points
        ]
        frame = pd.DataFrame(rows, columns=list(FRAME_COLUMNS))
        frame = frame.astype({"period": "string", "point_type": "string", "signals": "string"})
        for column in CONTRACT_POINT_FIELDS[1:7]:
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
        for column in ("numerator", "denominator"):
            frame[column] = frame[column].astype("Int64")
        return frame

    def to_dict(self) -> dict[str, Any]:
        """JSON-able output of ``sipdash spc --format json``."""
        return {
            "points": [point.contract_dict() for point in self.points],
            "summary": {
                "variation": self.variation,
                "assurance": self.assurance,
                "runs": self.runs.to_dict(),
            },
        }


class Sides(NamedTuple):
    """Per-point masks of a rule firing above (``high``) and below (``low``) the centre."""

    high: np.ndarray
    low: np.ndarray


@dataclass(frozen=True)
class _Lines:
    """Per-point centre, limits and 2σ lines (NaN where not defined)."""

    centre: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    lower_2sigma: np.ndarray
    upper_2sigma: np.ndarray


# --------------------------------------------------------------------------------------------
# The special-cause rules, one function each
# --------------------------------------------------------------------------------------------


def points_beyond_the_limits(values: ArrayLike, lower: ArrayLike, upper: ArrayLike) -> Sides:
    """Single point: a value strictly beyond a process limit (3σ)."""
    v, lo, hi = _floats(values), _floats(lower), _floats(upper)
    return Sides(high=v > hi, low=v < lo)


def shift_of_n_points_on_one_side(values: ArrayLike, centres: ArrayLike, n: int = 6) -> Sides:
    """Shift: n or more consecutive points strictly on one side of the centre line.

    A point on the centre line breaks the run; every point of a long enough run is flagged.
    """
    v, c = _floats(values), _floats(centres)
    return Sides(high=_runs_of_at_least(v > c, n), low=_runs_of_at_least(v < c, n))


def trend_of_n_points(values: ArrayLike, n: int = 6) -> Sides:
    """Trend: n or more consecutive points each strictly higher (or lower) than the last.

    A repeated value breaks it; every point of the run is flagged, and it may cross the mean
    and recalculations, since it does not look at the centre line at all.
    """
    v = _floats(values)
    steps = np.diff(v)
    return Sides(high=_trend_points(steps > 0, n), low=_trend_points(steps < 0, n))


def two_of_three_beyond_two_sigma(
    values: ArrayLike,
    centres: ArrayLike,
    lower_2sigma: ArrayLike,
    upper_2sigma: ArrayLike,
    lower: ArrayLike,
    upper: ArrayLike,
    *,
    count_beyond_3sigma: bool = False,
) -> Sides:
    """Two of three: in three consecutive points on one side, two or more beyond 2σ.

    Only the points beyond 2σ are flagged, never the third. Whether a point beyond the 3σ
    limit counts is a setting (MDC Single Chart Tool: it does not).
    """
    v, c = _floats(values), _floats(centres)
    beyond_high = v > _floats(upper_2sigma)
    beyond_low = v < _floats(lower_2sigma)
    if not count_beyond_3sigma:
        beyond_high &= ~(v > _floats(upper))
        beyond_low &= ~(v < _floats(lower))
    return Sides(
        high=_two_of_three_on_one_side(v > c, beyond_high),
        low=_two_of_three_on_one_side(v < c, beyond_low),
    )


def runs_longer_than(values: ArrayLike, centres: ArrayLike, longest_run_max: int) -> Sides:
    """Anhøj's long run: points of every run on one side longer than ``longest_run_max``.

    Points on the centre line are dropped first (they neither count nor break a run).
    """
    v = _floats(values)
    c = np.broadcast_to(_floats(centres), v.shape)
    high = np.zeros(len(v), dtype=bool)
    low = np.zeros(len(v), dtype=bool)
    useful = np.flatnonzero((v != c) & ~np.isnan(c))
    above = v[useful] > c[useful]
    for start, stop in _run_bounds(above):
        if stop - start > longest_run_max:
            side = high if above[start] else low
            side[useful[start:stop]] = True
    return Sides(high=high, low=low)


def anhoej_runs(values: ArrayLike, centre: ArrayLike) -> RunsAnalysis:
    """Anhøj's runs analysis of values against a centre line (scalar or one per point)."""
    v = _floats(values)
    c = np.broadcast_to(_floats(centre), v.shape)
    useful = (v != c) & ~np.isnan(c)
    above = v[useful] > c[useful]
    n_useful = int(above.size)
    if n_useful == 0:
        return RunsAnalysis(0, 0, None, 0, None, False)
    lengths = [stop - start for start, stop in _run_bounds(above)]
    longest_run_max, crossings_min = anhoej_limits(n_useful)
    longest_run = max(lengths)
    crossings = len(lengths) - 1
    signal = longest_run > longest_run_max or crossings < crossings_min
    return RunsAnalysis(n_useful, longest_run, longest_run_max, crossings, crossings_min, signal)


def classify_points(high: np.ndarray, low: np.ndarray, improvement: str) -> list[str]:
    """Turn high/low signals into point types; a point with both resolves to improvement."""
    _check_direction(improvement)
    types: list[str] = []
    for is_high, is_low in zip(high, low, strict=True):
        if not (is_high or is_low):
            types.append(COMMON_CAUSE)
        elif improvement == NEITHER:
            types.append(NEITHER)
        elif (is_high and improvement == "up") or (is_low and improvement == "down"):
            types.append(IMPROVEMENT)
        else:
            types.append(CONCERN)
    return types


def assurance_against_target(
    improvement: str, target: float | None, lower: float | None, upper: float | None
) -> str | None:
    """MDC assurance: will the process reliably meet the target? (limits of the last point)

    A target on a limit counts as pass/fail (SQL v2.1 onwards); no icon for "neither".
    """
    _check_direction(improvement)
    if improvement == NEITHER or target is None or lower is None or upper is None:
        return None
    if improvement == "up":
        return PASS if target <= lower else FAIL if target >= upper else HIT_OR_MISS
    return PASS if target >= upper else FAIL if target <= lower else HIT_OR_MISS


# --------------------------------------------------------------------------------------------
# Charts
# --------------------------------------------------------------------------------------------


def xmr_chart(
    periods: Sequence[Any],
    values: Sequence[float],
    *,
    improvement: str = "up",
    target: float | None = None,
    baseline: int | None = None,
    recalculate_at: Sequence[str] = (),
    baseline_overrides_recalculations: bool = True,
    settings: SpcSettings = SpcSettings(),
    gap_before: ArrayLike | None = None,
) -> SpcResult:
    """XmR chart per Making Data Count: mean ± 2.66 × mean moving range.

    Limits are computed per partition (a new one starts at each ``recalculate_at`` period, and
    moving ranges never cross a partition boundary), or from the first ``baseline`` points and
    carried forward, in which case recalculations are ignored as in the MDC tools.

    A moving range never spans a gap either: ``gap_before[i]`` says point i does not follow
    point i − 1 directly (default: found from ``YYYY-MM`` labels, see :func:`month_gaps`).
    """
    labels = _labels(periods)
    v = _checked_values(values, len(labels))
    _check_common(improvement, target)
    gaps = month_gaps(labels) if gap_before is None else np.asarray(gap_before, dtype=bool)
    if gaps.shape != (len(labels),):
        raise ValueError(f"got {len(labels)} periods but {gaps.size} gap flags")
    lines = _lines_per_partition(
        len(v),
        _partitions(labels, len(v), baseline, recalculate_at, baseline_overrides_recalculations),
        lambda calc, apply: _xmr_lines(v, calc, apply, gaps),
    )
    return _special_cause_chart("xmr", labels, v, lines, improvement, target, settings)


def p_chart(
    periods: Sequence[Any],
    numerators: Sequence[int],
    denominators: Sequence[int],
    *,
    improvement: str = "up",
    target: float | None = None,
    baseline: int | None = None,
    recalculate_at: Sequence[str] = (),
    baseline_overrides_recalculations: bool = True,
    settings: SpcSettings = SpcSettings(),
) -> SpcResult:
    """p-chart: p̄ = Σyes/Σreviewed over the baseline or partition, limits per point's nᵢ.

    3σ and 2σ lines are p̄ ± k·√(p̄(1−p̄)/nᵢ) clipped to [0, 1]; the special-cause rules and
    the 13-point minimum are the XmR chart's, each point judged against its own lines.
    """
    labels = _labels(periods)
    num, den = _checked_counts(labels, numerators, denominators)
    _check_common(improvement, target)
    v = num / den
    lines = _lines_per_partition(
        len(v),
        _partitions(labels, len(v), baseline, recalculate_at, baseline_overrides_recalculations),
        lambda calc, apply: _p_lines(num, den, calc, apply),
    )
    return _special_cause_chart(
        "p", labels, v, lines, improvement, target, settings, numerators=num, denominators=den
    )


def run_chart(
    periods: Sequence[Any],
    values: Sequence[float],
    *,
    improvement: str = "up",
    target: float | None = None,
    baseline: int | None = None,
    recalculate_at: Sequence[str] = (),
    baseline_overrides_recalculations: bool = True,
) -> SpcResult:
    """Run chart: median centre line and Anhøj's rules; no limits, no assurance.

    With a baseline or recalculations the run chart uses the same partitions as the p-chart
    and XmR: each partition's median comes from its calculation points, and the runs rules are
    applied within each partition (so a pre-programme baseline is judged against itself, not
    against the median of the years after it). The summary ``runs`` is the last partition's.
    When a run is too long, the points of every over-long run are flagged.
    """
    labels = _labels(periods)
    v = _checked_values(values, len(labels))
    _check_common(improvement, target)
    parts = _partitions(labels, len(v), baseline, recalculate_at, baseline_overrides_recalculations)
    centres = np.full(v.shape, math.nan)
    high = np.zeros(v.shape, dtype=bool)
    low = np.zeros(v.shape, dtype=bool)
    runs = anhoej_runs(v, centres)
    for calc_idx, apply_idx in parts:
        centres[apply_idx] = float(np.median(v[calc_idx]))
        runs = anhoej_runs(v[apply_idx], centres[apply_idx])
        if runs.longest_run_max is not None and runs.longest_run > runs.longest_run_max:
            sides = runs_longer_than(v[apply_idx], centres[apply_idx], runs.longest_run_max)
            high[apply_idx] |= sides.high
            low[apply_idx] |= sides.low
    masks: dict[str, Sides] = {}
    if high.any() or low.any():
        masks[LONG_RUN] = Sides(high=high, low=low)
    nan = np.full(v.shape, math.nan)
    lines = _Lines(centres, nan, nan, nan, nan)
    points = _points(labels, v, lines, masks, improvement, show_limits=False)
    variation = points[-1].point_type if points else None
    return SpcResult("run", improvement, target, points, variation, None, runs)


def month_gaps(labels: Sequence[str]) -> np.ndarray:
    """``gap_before[i]``: point i is a month that does not directly follow point i − 1.

    Only for ``YYYY-MM`` labels in rising order; any other labels have no gaps (rows are taken
    as given)."""
    out = np.zeros(len(labels), dtype=bool)
    index = [_month_index(str(label)) for label in labels]
    for i in range(1, len(index)):
        a, b = index[i - 1], index[i]
        if a is not None and b is not None and b > a + 1:
            out[i] = True
    return out


def _month_index(label: str) -> int | None:
    if len(label) != 7 or label[4] != "-" or not (label[:4] + label[5:]).isdigit():
        return None
    month = int(label[5:])
    return int(label[:4]) * 12 + month - 1 if 1 <= month <= 12 else None


def partitions(
    periods: Sequence[Any],
    baseline: int | None = None,
    recalculate_at: Sequence[str] = (),
    baseline_overrides_recalculations: bool = True,
) -> list[tuple[list[int], list[int]]]:
    """(indices the limits are calculated from, indices they apply to) per partition: the one
    partition rule every chart type (p, XmR, run) uses, for the text that explains them."""
    labels = _labels(periods)
    parts = _partitions(
        labels, len(labels), baseline, recalculate_at, baseline_overrides_recalculations
    )
    return [(calc.tolist(), apply.tolist()) for calc, apply in parts]


# --------------------------------------------------------------------------------------------
# Internals
# --------------------------------------------------------------------------------------------


def _special_cause_chart(
    chart: str,
    labels: list[str],
    v: np.ndarray,
    lines: _Lines,
    improvement: str,
    target: float | None,
    settings: SpcSettings,
    *,
    numerators: np.ndarray | None = None,
    denominators: np.ndarray | None = None,
) -> SpcResult:
    """Apply the MDC rules (XmR and p alike) and take the icons from the last point."""
    runs = anhoej_runs(v, lines.centre)
    enough = len(v) >= settings.minimum_points
    masks = _special_cause_masks(v, lines, settings) if enough else {}
    points = _points(
        labels, v, lines, masks, improvement, show_limits=enough, num=numerators, den=denominators
    )
    variation = assurance = None
    if enough:
        last = points[-1]
        variation = last.point_type
        assurance = assurance_against_target(
            improvement, target, last.lower_limit, last.upper_limit
        )
    return SpcResult(chart, improvement, target, points, variation, assurance, runs)


def _special_cause_masks(v: np.ndarray, lines: _Lines, settings: SpcSettings) -> dict[str, Sides]:
    """Every MDC rule over the whole series (multi-point rules cross recalculations)."""
    return {
        SINGLE_POINT: points_beyond_the_limits(v, lines.lower, lines.upper),
        SHIFT: shift_of_n_points_on_one_side(v, lines.centre, settings.shift_points),
        TREND: trend_of_n_points(v, settings.trend_points),
        TWO_OF_THREE: two_of_three_beyond_two_sigma(
            v,
            lines.centre,
            lines.lower_2sigma,
            lines.upper_2sigma,
            lines.lower,
            lines.upper,
            count_beyond_3sigma=settings.two_of_three_counts_beyond_3sigma,
        ),
    }


def _points(
    labels: list[str],
    v: np.ndarray,
    lines: _Lines,
    masks: dict[str, Sides],
    improvement: str,
    *,
    show_limits: bool,
    num: np.ndarray | None = None,
    den: np.ndarray | None = None,
) -> list[SpcPoint]:
    n = len(v)
    high = np.zeros(n, dtype=bool)
    low = np.zeros(n, dtype=bool)
    for sides in masks.values():
        high |= sides.high
        low |= sides.low
    types = classify_points(high, low, improvement)
    shown = lines if show_limits else None
    return [
        SpcPoint(
            period=labels[i],
            value=float(v[i]),
            centre=_maybe(lines.centre[i]),
            lower_limit=_shown(shown, "lower", i),
            upper_limit=_shown(shown, "upper", i),
            lower_2sigma=_shown(shown, "lower_2sigma", i),
            upper_2sigma=_shown(shown, "upper_2sigma", i),
            point_type=types[i],
            numerator=None if num is None else int(num[i]),
            denominator=None if den is None else int(den[i]),
            signals=_signals_behind(types[i], masks, i, improvement),
        )
        for i in range(n)
    ]


def _shown(lines: _Lines | None, name: str, i: int) -> float | None:
    """A limit of point i, or None when the chart has too few points to show limits."""
    return None if lines is None else _maybe(getattr(lines, name)[i])


def _signals_behind(
    point_type: str, masks: dict[str, Sides], i: int, improvement: str
) -> tuple[str, ...]:
    """The rules that gave the point its colour (see ``SpcPoint``)."""
    if point_type == COMMON_CAUSE:
        return ()
    improving_side_is_high = improvement == "up"
    names = []
    for name, sides in masks.items():
        if point_type == NEITHER:
            fired = sides.high[i] or sides.low[i]
        elif (point_type == IMPROVEMENT) == improving_side_is_high:
            fired = sides.high[i]
        else:
            fired = sides.low[i]
        if fired:
            names.append(name)
    return tuple(names)


def _partitions(
    labels: list[str],
    n: int,
    baseline: int | None,
    recalculate_at: Sequence[str],
    baseline_overrides: bool = True,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(points used for the calculation, points the lines apply to) per partition.

    With ``baseline_overrides`` (the MDC tools' rule) a baseline ignores recalculations;
    without it the baseline fixes the first partition's limits and each recalculation starts
    a new partition, as a team's explicit BaselineFixed and LimitsRecalculated events mean.
    """
    if baseline is not None and baseline < 1:
        raise ValueError(f"baseline must be at least 1 point, got {baseline}")
    everything = np.arange(n)
    if n == 0:
        return []
    if baseline is not None and (baseline_overrides or not recalculate_at):
        return [(everything[: min(baseline, n)], everything)]
    starts = sorted({0, *(_position_of(labels, label) for label in recalculate_at)})
    bounds = [*starts, n]
    parts = [everything[a:b] for a, b in itertools.pairwise(bounds) if b > a]
    out = [(part, part) for part in parts]
    if baseline is not None:
        first = out[0][1]
        out[0] = (first[: min(baseline, len(first))], first)
    return out


def _position_of(labels: list[str], label: str) -> int:
    hits = [i for i, candidate in enumerate(labels) if candidate == str(label)]
    if not hits:
        raise ValueError(f"recalculation period {label!r} is not one of the chart's periods")
    if len(hits) > 1:
        raise ValueError(f"recalculation period {label!r} appears more than once in the series")
    return hits[0]


def _lines_per_partition(
    n: int,
    partitions: list[tuple[np.ndarray, np.ndarray]],
    compute: Callable[[np.ndarray, np.ndarray], tuple],
) -> _Lines:
    """Fill per-point lines from each partition's calculation.

    ``compute(calc_idx, apply_idx)`` returns (centre, lower, upper, lower 2σ, upper 2σ) for
    the points it applies to, as scalars (XmR) or arrays matching ``apply_idx`` (p-chart).
    """
    arrays = [np.full(n, math.nan) for _ in range(5)]
    for calc_idx, apply_idx in partitions:
        for array, values in zip(arrays, compute(calc_idx, apply_idx), strict=True):
            array[apply_idx] = values
    return _Lines(*arrays)


def _xmr_lines(
    v: np.ndarray, calc_idx: np.ndarray, apply_idx: np.ndarray, gaps: np.ndarray | None = None
) -> tuple:
    """Mean and limits of one XmR partition; no limits without a moving range.

    Moving ranges are taken only between neighbours (no gap between them)."""
    sample = v[calc_idx]
    mean = math.fsum(sample) / len(sample)
    ranges = np.abs(np.diff(sample))
    if gaps is not None and len(calc_idx) > 1:
        ranges = ranges[~gaps[calc_idx[1:]]]
    if ranges.size == 0:
        return mean, math.nan, math.nan, math.nan, math.nan
    mr_bar = math.fsum(ranges) / ranges.size
    width = XMR_LIMIT_FACTOR * mr_bar
    width_2sigma = width * 2 / 3
    return mean, mean - width, mean + width, mean - width_2sigma, mean + width_2sigma


def _p_lines(
    num: np.ndarray, den: np.ndarray, calc_idx: np.ndarray, apply_idx: np.ndarray
) -> tuple:
    """p̄ of one partition and each applied point's own limits, clipped to [0, 1]."""
    p_bar = float(num[calc_idx].sum()) / float(den[calc_idx].sum())
    sigma = np.sqrt(p_bar * (1 - p_bar) / den[apply_idx])

    def clip(x: np.ndarray) -> np.ndarray:
        return np.clip(x, 0.0, 1.0)

    return (
        p_bar,
        clip(p_bar - 3 * sigma),
        clip(p_bar + 3 * sigma),
        clip(p_bar - 2 * sigma),
        clip(p_bar + 2 * sigma),
    )


def _runs_of_at_least(mask: np.ndarray, n: int) -> np.ndarray:
    """Flag every member of a run of True at least n long."""
    flagged = np.zeros(len(mask), dtype=bool)
    for start, stop in _run_bounds(mask):
        if mask[start] and stop - start >= n:
            flagged[start:stop] = True
    return flagged


def _trend_points(steps: np.ndarray, n: int) -> np.ndarray:
    """Points covered by n − 1 or more consecutive steps in one direction (n points)."""
    flagged = np.zeros(len(steps) + 1, dtype=bool)
    for start, stop in _run_bounds(steps):
        if steps[start] and stop - start >= n - 1:
            flagged[start : stop + 1] = True
    return flagged


def _two_of_three_on_one_side(side: np.ndarray, beyond: np.ndarray) -> np.ndarray:
    flagged = np.zeros(len(side), dtype=bool)
    for i in range(len(side) - 2):
        window = slice(i, i + 3)
        if side[window].all() and beyond[window].sum() >= 2:
            flagged[window] |= beyond[window]
    return flagged


def _run_bounds(key: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of the maximal stretches over which ``key`` stays the same."""
    bounds = []
    start = 0
    for i in range(1, len(key) + 1):
        if i == len(key) or key[i] != key[start]:
            bounds.append((start, i))
            start = i
    return bounds


def _floats(values: ArrayLike) -> np.ndarray:
    return np.asarray(values, dtype=float)


def _maybe(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def _labels(periods: Sequence[Any]) -> list[str]:
    return [str(period) for period in periods]


def _checked_values(values: Sequence[float], n: int) -> np.ndarray:
    v = _floats(list(values))
    if v.shape != (n,):
        raise ValueError(f"got {n} periods but {v.size} values")
    if not np.all(np.isfinite(v)):
        raise ValueError("values must be finite numbers (no blanks, NaN or infinity)")
    return v


def _checked_counts(
    labels: list[str], numerators: Sequence[int], denominators: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    num, den = list(numerators), list(denominators)
    if not len(labels) == len(num) == len(den):
        raise ValueError(
            f"got {len(labels)} periods, {len(num)} numerators and {len(den)} denominators"
        )
    for label, yes, total in zip(labels, num, den, strict=True):
        if total <= 0:
            raise ValueError(f"period {label}: the denominator must be greater than 0")
        if yes < 0:
            raise ValueError(f"period {label}: the numerator cannot be negative")
        if yes > total:
            raise ValueError(f"period {label}: the numerator exceeds the denominator")
    return np.asarray(num, dtype=float), np.asarray(den, dtype=float)


def _check_common(improvement: str, target: float | None) -> None:
    _check_direction(improvement)
    if target is not None and not math.isfinite(target):
        raise ValueError("target must be a finite number")


def _check_direction(improvement: str) -> None:
    if improvement not in DIRECTIONS:
        raise ValueError(f"improvement must be one of {', '.join(DIRECTIONS)}, got {improvement!r}")
