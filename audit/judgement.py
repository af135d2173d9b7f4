"""One team's judgement on one measure: the one verdict every page, the pack and the curve use.

The p-chart of a team's *final* points gives the verdict (icons, the norm, the headline); the
run chart and XmR are alternative views over the same partitions. The rules, from the design:

- a month without reviewed notes is a gap: never bridged, counted and reported;
- a month whose round is still open is provisional: drawn, but out of centre lines, runs,
  icons, the norm and the headline;
- a month whose measure has fewer than ``small_sample`` notes is small: on the chart and in
  the limits, but the icons and the norm come from the last final, non-small point;
- every point is judged against the target in force for its period (``TargetSet.from_period``),
  and assurance against the target in force at that last point;
- a team whose last final, non-small point is older than 3 months up to P is "not audited
  recently" and is counted neither way in the headline.

:func:`judge_team` takes an ``up_to`` period so the programme's culture-shift curve can judge
every team at every month P with the decisions in force at P.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import pandas as pd

from .settings import DEFAULT_SETTINGS, STALE_MONTHS, ProgrammeSettings
from .spc import (
    COMMON_CAUSE,
    CONCERN,
    IMPROVEMENT,
    LONG_RUN,
    NEITHER,
    PASS,
    SHIFT,
    TREND,
    SpcResult,
    assurance_against_target,
    month_gaps,
    p_chart,
    partitions,
    run_chart,
    xmr_chart,
)

DEFAULT_TARGET = 0.8
NOT_ASSESSABLE = "not_assessable"
"""Assurance while the last point is part of a sustained special cause against old limits."""
SUSTAINED = frozenset({SHIFT, TREND, LONG_RUN})


@dataclass(frozen=True)
class Decisions:
    """A team's explicit decisions for one measure (events), in the order recorded."""

    baseline_end: str | None = None
    recalculate_at: tuple[str, ...] = ()
    targets: tuple[tuple[str, float], ...] = ()  # (from_period, target)
    default_target: float = DEFAULT_TARGET

    @classmethod
    def from_settings(cls, settings: dict | None) -> Decisions:
        """From ``queries.limits_settings`` (or ``all_limits_settings``) output."""
        s = settings or {}
        targets = tuple(s.get("targets") or ())
        if not targets and s.get("target") is not None:
            targets = (("0000-00", float(s["target"])),)
        return cls(
            baseline_end=s.get("baseline_end"),
            recalculate_at=tuple(s.get("recalculate_at") or ()),
            targets=targets,
        )

    def up_to(self, period: str | None) -> Decisions:
        """Only the decisions whose period is at or before ``period`` (as the curve needs)."""
        if period is None:
            return self
        return replace(
            self,
            baseline_end=self.baseline_end
            if self.baseline_end is not None and self.baseline_end <= period
            else None,
            recalculate_at=tuple(p for p in self.recalculate_at if p <= period),
            targets=tuple(t for t in self.targets if t[0] <= period),
        )

    def target_for(self, period: str) -> float | None:
        """The target in force for ``period``: the latest decision whose from-period has come.

        With no target decision at all the programme default applies; before the first one,
        no target was in force (None)."""
        if not self.targets:
            return self.default_target
        found = None
        for start, target in self.targets:
            if start <= period:
                found = target
        return found


@dataclass(frozen=True)
class Partition:
    """One stretch of points sharing a centre line and limits."""

    kind: str  # "baseline", "recalculated" or "whole series"
    calc_from: str
    calc_to: str
    applies_from: str
    applies_to: str
    n_calc: int
    provisional_limits: bool  # fewer points than the minimum behind them


@dataclass(frozen=True)
class Judgement:
    """Everything said about one team's measure up to a period, from one p-chart."""

    team_id: str
    measure: str
    up_to: str | None
    result: SpcResult | None  # the p-chart of the final points
    frame: pd.DataFrame  # every present point, final and provisional (see ``_frame``)
    missing: tuple[str, ...]  # months without reviewed notes between the first and the last
    partitions: tuple[Partition, ...]
    last_period: str | None  # the last final, non-small point: icons and the norm come from it
    variation: str | None
    assurance: str | None
    target_now: float | None
    is_norm: bool
    norm_reason: str
    first_improvement: str | None
    state: str | None  # point type of the last final, non-small point
    state_since: str | None
    counted: bool  # audited recently: counted in the headline (norm or not)
    small_months: tuple[str, ...] = field(default=())
    provisional_months: tuple[str, ...] = field(default=())

    @property
    def culture_text(self) -> str:
        """The culture shift in words, e.g. "improved from 2024-02; concern since 2025-04": both
        the first sustained improvement and the state now."""
        first = (
            f"improved from {self.first_improvement}"
            if self.first_improvement
            else "no sustained improvement"
        )
        return f"{first}; {state_text(self.state, self.state_since)}"


def state_text(state: str | None, since: str | None) -> str:
    if state is None:
        return "no verdict yet (too few final points)"
    if state == COMMON_CAUSE:
        return f"common cause since {since}" if since else "common cause now"
    words = {IMPROVEMENT: "improvement", CONCERN: "concern", NEITHER: "special cause"}[state]
    return f"{words} since {since}"


def month_index(period: str) -> int:
    return int(period[:4]) * 12 + int(period[5:7]) - 1


def month_label(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def missing_months(periods: list[str]) -> tuple[str, ...]:
    """Months between the first and last present period with no point."""
    if not periods:
        return ()
    have = {month_index(p) for p in periods}
    lo, hi = min(have), max(have)
    return tuple(month_label(i) for i in range(lo, hi + 1) if i not in have)


def _prepare(series: pd.DataFrame, up_to: str | None) -> pd.DataFrame:
    rows = series[series["denominator"] > 0]
    if up_to is not None:
        rows = rows[rows["period"] <= up_to]
    rows = rows.sort_values("period").reset_index(drop=True)
    if "provisional" not in rows:
        rows = rows.assign(provisional=False)
    rows["provisional"] = rows["provisional"].fillna(False).astype(bool)
    return rows


def chart_args(periods: list[str], decisions: Decisions) -> dict:
    """Baseline (as a number of points) and recalculations mapped onto the present points.

    A recalculation whose month has no point (a gap, or not yet final) starts at the next
    present point, so the limits change where the data resumes, never inside a gap."""
    baseline = None
    if decisions.baseline_end is not None:
        baseline = sum(1 for p in periods if p <= decisions.baseline_end) or None
    starts = []
    for r in decisions.recalculate_at:
        later = [p for p in periods if p >= r]
        if later and later[0] not in starts and later[0] != (periods[0] if periods else None):
            starts.append(later[0])
    return {
        "baseline": baseline,
        "recalculate_at": starts,
        "baseline_overrides_recalculations": False,
    }


def draw_chart(
    final: pd.DataFrame, decisions: Decisions, chart: str, settings: ProgrammeSettings
) -> SpcResult:
    """The chart of the final points (p for the verdict; xmr and run are alternative views
    with the same partitions)."""
    periods = final["period"].tolist()
    args = chart_args(periods, decisions)
    if chart == "run":
        return run_chart(periods, final["proportion"].astype(float).tolist(), **args)
    if chart == "xmr":
        return xmr_chart(
            periods,
            final["proportion"].astype(float).tolist(),
            settings=settings.spc,
            gap_before=month_gaps(periods),
            **args,
        )
    return p_chart(
        periods,
        final["numerator"].astype(int).tolist(),
        final["denominator"].astype(int).tolist(),
        settings=settings.spc,
        **args,
    )


def _partitions(
    periods: list[str], decisions: Decisions, settings: ProgrammeSettings
) -> tuple[Partition, ...]:
    if not periods:
        return ()
    args = chart_args(periods, decisions)
    out = []
    parts = partitions(periods, **args)
    for i, (calc, apply) in enumerate(parts):
        if i == 0 and args["baseline"] is not None:
            kind = "baseline"
        elif i == 0:
            kind = "whole series" if len(parts) == 1 else "first limits"
        else:
            kind = "recalculated"
        out.append(
            Partition(
                kind=kind,
                calc_from=periods[calc[0]],
                calc_to=periods[calc[-1]],
                applies_from=periods[apply[0]],
                applies_to=periods[apply[-1]],
                n_calc=len(calc),
                provisional_limits=len(calc) < settings.minimum_points,
            )
        )
    return tuple(out)


def _frame(
    rows: pd.DataFrame, result: SpcResult | None, decisions: Decisions, chart: str
) -> pd.DataFrame:
    """Per present point: counts, interval, flags, the target in force, the chart's lines and
    verdict; provisional points take the lines of the partition they fall in (for a p-chart
    at their own n) and no verdict."""
    spc = (
        result.to_frame().drop(columns=["numerator", "denominator"])
        if result is not None and result.points
        else pd.DataFrame(columns=["period"])
    )
    out = rows.merge(spc, on="period", how="left")
    if "value" not in out or out["value"].isna().any():
        out["value"] = out["proportion"].astype(float)
    last = {}
    for i, row in out.iterrows():
        if not row["provisional"]:
            last = row
            continue
        if len(last) == 0:
            out.loc[i, "point_type"] = COMMON_CAUSE
            out.loc[i, "signals"] = ""
            continue
        for col in ("centre", "lower_limit", "upper_limit", "lower_2sigma", "upper_2sigma"):
            out.loc[i, col] = last[col]
        centre = last["centre"]
        if chart == "p" and not pd.isna(last["lower_limit"]) and not pd.isna(centre):
            sigma = math.sqrt(centre * (1 - centre) / float(row["denominator"]))
            out.loc[i, "lower_limit"] = max(0.0, centre - 3 * sigma)
            out.loc[i, "upper_limit"] = min(1.0, centre + 3 * sigma)
            out.loc[i, "lower_2sigma"] = max(0.0, centre - 2 * sigma)
            out.loc[i, "upper_2sigma"] = min(1.0, centre + 2 * sigma)
        out.loc[i, "point_type"] = COMMON_CAUSE
        out.loc[i, "signals"] = ""
    out["target"] = [decisions.target_for(p) for p in out["period"]]
    out["gap_before"] = month_gaps(out["period"].tolist()) if len(out) else []
    return out


def judge_team(
    series: pd.DataFrame,
    decisions: Decisions,
    *,
    up_to: str | None = None,
    settings: ProgrammeSettings = DEFAULT_SETTINGS,
    team_id: str = "",
    measure: str = "",
    improvement: str = "up",
    chart: str = "p",
    with_frame: bool = True,
) -> Judgement:
    """Judge one team's measure on its own series up to ``up_to`` (inclusive).

    ``series``: one row per period with ``period``, ``numerator``, ``denominator`` and
    optionally ``proportion``, ``ci_low``, ``ci_high``, ``provisional`` (others are kept).
    ``decisions`` are cut to those with period ≤ ``up_to``. ``chart`` only changes the drawn
    lines of ``frame`` (an alternative view); the verdict is always the p-chart's.
    ``with_frame=False`` skips the drawing frame (the culture-shift curve judges every team
    at every month and needs only the verdict; about 3× faster).
    """
    rows = _prepare(series, up_to)
    if "proportion" not in rows:
        rows["proportion"] = rows["numerator"] / rows["denominator"]
    rows["small"] = rows["denominator"] < settings.small_sample
    decisions = decisions.up_to(up_to)
    final = rows[~rows["provisional"]].reset_index(drop=True)
    result = draw_chart(final, decisions, "p", settings) if len(final) else None
    frame = pd.DataFrame()
    if with_frame:
        drawn = result
        if chart != "p" and len(final):
            drawn = draw_chart(final, decisions, chart, settings)
        frame = _frame(rows, drawn, decisions, chart)
    final_periods = final["period"].tolist()
    parts = _partitions(final_periods, decisions, settings)
    v = verdict(
        final_periods,
        final["proportion"].tolist(),
        final["small"].tolist(),
        result,
        decisions,
        settings,
        improvement,
    )
    first = _first_sustained_improvement(final, decisions, settings)
    reference = up_to or (rows["period"].iloc[-1] if len(rows) else None)
    counted = is_counted(v.last_period, reference)
    present = rows["period"].tolist()
    return Judgement(
        team_id=team_id,
        measure=measure,
        up_to=up_to,
        result=result,
        frame=frame,
        missing=missing_months(present),
        partitions=parts,
        last_period=v.last_period,
        variation=v.variation,
        assurance=v.assurance,
        target_now=v.target_now,
        is_norm=v.is_norm and counted,
        norm_reason=v.norm_reason if counted else "not audited recently: counted neither way",
        first_improvement=first,
        state=v.variation,
        state_since=v.state_since,
        counted=counted,
        small_months=tuple(rows.loc[rows["small"] & ~rows["provisional"], "period"]),
        provisional_months=tuple(rows.loc[rows["provisional"], "period"]),
    )


@dataclass(frozen=True)
class Verdict:
    """The verdict of one p-chart of final points: what the icons, the norm and the headline
    say (before the "audited recently" rule, which depends on the month it is judged at)."""

    last_period: str | None  # the last final, non-small point
    variation: str | None  # its point type (also the state)
    assurance: str | None
    target_now: float | None
    state_since: str | None
    is_norm: bool
    norm_reason: str


def verdict(
    periods: list[str],
    proportions: list[float],
    small: list[bool],
    result: SpcResult | None,
    decisions: Decisions,
    settings: ProgrammeSettings = DEFAULT_SETTINGS,
    improvement: str = "up",
) -> Verdict:
    """The verdict from the p-chart ``result`` of the final points (``periods``,
    ``proportions``, ``small`` flags), with ``decisions`` already cut to the month judged.

    Plain lists, no pandas: :func:`judge_team` and the culture-shift curve (which judges every
    team at every month) share this one rule."""
    eligible = [i for i, s in enumerate(small) if not s]
    j = eligible[-1] if eligible else None
    variation = assurance = since = target_now = None
    last_period = None
    if j is not None and result is not None:
        point = result.points[j]
        last_period = point.period
        target_now = decisions.target_for(point.period)
        if result.variation is not None:  # enough points for limits and icons
            variation = point.point_type
            assurance = assurance_against_target(
                improvement, target_now, point.lower_limit, point.upper_limit
            )
            if _against_old_limits(j, periods, decisions) and SUSTAINED.intersection(point.signals):
                assurance = NOT_ASSESSABLE
            since = point.period
            for k in range(j - 1, -1, -1):
                if result.points[k].point_type != variation:
                    break
                since = result.points[k].period
    is_norm, why = _norm(
        result, periods, proportions, eligible, decisions, assurance, settings, improvement
    )
    return Verdict(last_period, variation, assurance, target_now, since, is_norm, why)


def is_counted(last_period: str | None, reference: str | None) -> bool:
    """Audited recently at ``reference``: the last final, non-small point is less than
    ``STALE_MONTHS`` months older (else counted neither way in the headline)."""
    return (
        last_period is not None
        and reference is not None
        and month_index(reference) - month_index(last_period) < STALE_MONTHS
    )


def _against_old_limits(j: int, periods: list[str], decisions: Decisions) -> bool:
    """Point j is judged against limits calculated from earlier points only."""
    for calc, apply in partitions(periods, **chart_args(periods, decisions)):
        if j in apply:
            return j not in calc
    return False


def _norm(
    result: SpcResult | None,
    periods: list[str],
    values: list[float],
    eligible: list[int],
    decisions: Decisions,
    assurance: str | None,
    settings: ProgrammeSettings,
    improvement: str,
) -> tuple[bool, str]:
    window = settings.norm_window
    if result is None or not eligible:
        return False, "not yet the norm: no final month with enough notes"
    if assurance == PASS:
        return True, "the norm: the process limits consistently meet the target in force"
    recent = eligible[-window:]
    if len(recent) < window:
        return False, f"not yet the norm: fewer than {window} final months with enough notes"
    met = []
    for i in recent:
        target = decisions.target_for(str(periods[i]))
        value = float(values[i])
        met.append(
            target is not None and (value >= target if improvement == "up" else value <= target)
        )
    if all(met):
        return True, f"the norm: the last {window} final months all met the target in force"
    return False, f"not yet the norm: not all of the last {window} final months met the target"


def _first_sustained_improvement(
    final: pd.DataFrame, decisions: Decisions, settings: ProgrammeSettings
) -> str | None:
    """Judged against the baseline alone: a later recalculation re-centres the limits on the
    new process and would hide the rise that made it."""
    if final.empty:
        return None
    base = replace(decisions, recalculate_at=())
    result = draw_chart(final, base, "p", settings)
    for point in result.points:
        if point.point_type == IMPROVEMENT and SUSTAINED.intersection(point.signals):
            return point.period
    return None


def limits_text(j: Judgement) -> list[str]:
    """The team page's and the pack's explanation of the limits, from the same partitions the
    chart was drawn with (never a sentence the chart contradicts)."""
    out = []
    for part in j.partitions:
        span = f"{part.calc_from} to {part.calc_to} ({part.n_calc} months)"
        if part.kind == "baseline":
            text = f"Limits from the baseline {span}"
            if part.applies_to > part.calc_to:
                text += f", carried forward to {part.applies_to}"
        elif part.kind == "recalculated":
            text = f"Limits recalculated from {part.applies_from}: calculated from {span}"
        else:
            text = f"Limits from {span}"
        if part.provisional_limits:
            text += " — provisional: fewer than 13 points behind them"
        out.append(text + ".")
    return out


def gap_text(j: Judgement) -> str | None:
    """How many months are missing, and which (never silently bridged)."""
    if not j.missing:
        return None
    n = len(j.missing)
    months = ", ".join(j.missing) if n <= 4 else f"{j.missing[0]} to {j.missing[-1]}"
    noun = "month has" if n == 1 else "months have"
    return f"{n} {noun} no reviewed notes ({months}): the line breaks there, never bridged."


def flags_text(j: Judgement, small_sample: int = 10) -> list[str]:
    """Small and provisional months, said in words (page and pack)."""
    out = []
    if j.provisional_months:
        out.append(
            f"Provisional (round still open): {', '.join(j.provisional_months)} — drawn hollow, "
            "left out of the centre line, the runs, the icons, the norm and the headline."
        )
    if j.small_months:
        recent = j.small_months[-6:]
        more = "" if len(j.small_months) <= 6 else f" and {len(j.small_months) - 6} earlier"
        out.append(
            f"Small (fewer than {small_sample} notes): {', '.join(recent)}{more} — marked ▼, "
            "left out of the icons, the norm rule and the headline."
        )
    return out


def summary_lines(j: Judgement, small_sample: int = 10) -> list[str]:
    """Everything a page or the pack says under a team's chart, from the judgement alone:
    the culture shift and the norm, the limits' partitions, gaps, small and provisional months."""
    verdict = f"Verdict from {j.last_period}" if j.last_period else "No verdict yet"
    lines = [f"{verdict}: {j.culture_text}; {j.norm_reason}."]
    lines += limits_text(j)
    gap = gap_text(j)
    if gap:
        lines.append(gap)
    return lines + flags_text(j, small_sample)


def headline_counts(judgements: list[Judgement]) -> tuple[int, int, list[str]]:
    """(teams where it is the norm, teams counted, teams not audited recently)."""
    norm = sum(1 for j in judgements if j.counted and j.is_norm)
    total = sum(1 for j in judgements if j.counted)
    stale = [j.team_id for j in judgements if not j.counted]
    return norm, total, stale


__all__ = [
    "NOT_ASSESSABLE",
    "Decisions",
    "Judgement",
    "Partition",
    "chart_args",
    "flags_text",
    "gap_text",
    "headline_counts",
    "judge_team",
    "limits_text",
    "missing_months",
    "state_text",
    "summary_lines",
]
