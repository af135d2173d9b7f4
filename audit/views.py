"""What each screen and the review pack show, calculated once, as tidy frames and dataclasses.

Pages and the pack call these and draw; no arithmetic lives in the UI. Everything reads the
read models only and honours ``as_of``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from events.types import MEASURES

from . import labels, queries
from .culture import culture_shift
from .measures import audit_measures, census_measures
from .spc import (
    SpcResult,
    funnel_limits,
    funnel_position,
    p_chart,
    pooled_proportion,
    run_chart,
    xmr_chart,
)
from .stats import cohens_kappa

DEFAULT_TARGET = 0.8
MIN_PAIRS = 20  # agreement is never reported from fewer paired findings
# One set of words for the dashboard and the pack (audit/labels.py).
MEASURE_LABELS = labels.MEASURE_LABELS
VARIATION_LABELS = labels.VARIATION_BADGES
ASSURANCE_LABELS = labels.ASSURANCE_BADGES
_CONCERN_ORDER = {"concern": 0, "neither": 1, "common_cause": 2, None: 3, "improvement": 4}


@dataclass(frozen=True)
class TeamChart:
    team_id: str
    measure: str
    result: SpcResult
    target: float
    baseline_end: str | None
    recalculate_at: tuple[str, ...]
    table: pd.DataFrame  # per period: numerator, denominator, proportion, ci, small, census


def _settings(engine: Engine, team_id: str, measure: str, as_of: datetime | None) -> dict:
    s = queries.limits_settings(engine, team_id, measure, as_of=as_of)
    s["target"] = s["target"] if s["target"] is not None else DEFAULT_TARGET
    return s


def chart_for(rows: pd.DataFrame, chart: str, settings: dict) -> SpcResult:
    """SPC for one team's measure rows (period, numerator, denominator, proportion)."""
    periods = rows["period"].tolist()
    baseline = None
    if settings.get("baseline_end") is not None:
        baseline = sum(1 for p in periods if p <= settings["baseline_end"]) or None
    recalcs = [p for p in settings.get("recalculate_at", []) if p in periods]
    if chart == "run":
        return run_chart(periods, rows["proportion"].tolist(), target=settings["target"])
    if chart == "xmr":
        return xmr_chart(
            periods,
            rows["proportion"].tolist(),
            target=settings["target"],
            baseline=baseline,
            recalculate_at=recalcs,
            baseline_overrides_recalculations=False,
        )
    return p_chart(
        periods,
        rows["numerator"].astype(int).tolist(),
        rows["denominator"].astype(int).tolist(),
        target=settings["target"],
        baseline=baseline,
        recalculate_at=recalcs,
        baseline_overrides_recalculations=False,
    )


@dataclass(frozen=True)
class TeamJudgement:
    """One team's measure judged on its own series up to a period: the single verdict behind
    the overview's icons and norm, the headline and the culture-shift curve."""

    period: str
    result: SpcResult
    target: float
    is_norm: bool
    first_improvement: str | None
    reason: str
    counted: bool


def settings_in_force(decisions: list[dict], up_to: str) -> dict:
    """Baseline, recalculations and target as decided for periods up to ``up_to``.

    ``decisions`` are one team-measure's ``BaselineFixed`` / ``LimitsRecalculated`` /
    ``TargetSet`` facts in log order (already cut at the request's as-of); a decision about a
    later period was not in force at ``up_to``, so a past month is judged as it stood then."""
    out = queries._no_settings()
    for d in decisions:
        typ = d["type"]
        if typ == "BaselineFixed" and d["period"] <= up_to:
            out["baseline_end"] = d["period"]
        elif typ == "LimitsRecalculated" and d["period"] <= up_to:
            out["recalculate_at"].append(d["period"])
        elif typ == "TargetSet" and d["from_period"] <= up_to:
            out["target"] = float(d["target"])
    if out["target"] is None:
        out["target"] = DEFAULT_TARGET
    return out


def judge_team(
    rows: pd.DataFrame,
    decisions: list[dict],
    *,
    up_to: str | None = None,
    first_improvement: bool = True,
) -> TeamJudgement | None:
    """Judge one team's measure on its own series up to period ``up_to`` (all of it when None).

    ``rows``: the team-measure's audited periods (period, numerator, denominator, proportion,
    small), oldest first. Returns None when nothing was audited up to that period."""
    if up_to is not None:
        rows = rows[rows["period"] <= up_to]
    rows = rows[rows["denominator"] > 0].reset_index(drop=True)
    if rows.empty:
        return None
    last_period = str(rows["period"].iloc[-1])
    settings = settings_in_force(decisions, up_to or last_period)
    result = chart_for(rows, "p", settings)
    shift = culture_shift(result, target=settings["target"])
    first = None
    if first_improvement:  # the curve needs only the norm: skip the second chart
        # The culture shift is judged against the baseline alone: a later recalculation
        # re-centres the limits on the new process and would hide the rise that made it.
        against_baseline = chart_for(rows, "p", {**settings, "recalculate_at": []})
        first = culture_shift(against_baseline, target=settings["target"])
    return TeamJudgement(
        period=last_period,
        result=result,
        target=settings["target"],
        is_norm=shift.is_norm,
        first_improvement=first.first_improvement_period if first else None,
        reason=shift.reason,
        counted=True,
    )


def team_chart(
    engine: Engine,
    team_id: str,
    measure: str,
    *,
    chart: str = "p",
    as_of: datetime | None = None,
    measures: pd.DataFrame | None = None,
) -> TeamChart | None:
    """The SPC chart of one team's measure, with the settings its events fixed."""
    all_rows = (
        measures if measures is not None else audit_measures(engine, as_of=as_of, team=team_id)
    )
    rows = all_rows[
        (all_rows["team"] == team_id)
        & (all_rows["measure"] == measure)
        & (all_rows["denominator"] > 0)
    ].reset_index(drop=True)
    if rows.empty:
        return None
    settings = _settings(engine, team_id, measure, as_of)
    result = chart_for(rows, chart, settings)
    census = census_measures(engine, as_of=as_of, team=team_id)
    census = census[census["measure"] == measure][["period", "proportion", "denominator"]].rename(
        columns={"proportion": "census_proportion", "denominator": "census_n"}
    )
    table = rows.drop(columns=["team", "measure"]).merge(census, on="period", how="left")
    table = table.merge(
        result.to_frame()[["period", "centre", "lower_limit", "upper_limit", "point_type"]],
        on="period",
        how="left",
    )
    return TeamChart(
        team_id,
        measure,
        result,
        settings["target"],
        settings["baseline_end"],
        tuple(settings["recalculate_at"]),
        table,
    )


def overview(engine: Engine, *, as_of: datetime | None = None) -> pd.DataFrame:
    """One row per team × measure: latest %, n, icons, norm, sparkline; concern first."""
    measures = audit_measures(engine, as_of=as_of)
    team_list = queries.teams(engine, as_of=as_of)
    # one query for every team's settings and one split of the measures, not one per pair
    decisions = queries.limit_decisions(engine, as_of=as_of)
    shown = measures[measures["denominator"] > 0]
    by_pair = {key: grp for key, grp in shown.groupby(["team", "measure"], sort=False)}
    records = []
    for team in team_list.itertuples():
        for measure in MEASURES:
            rows = by_pair.get((team.team_id, measure))
            if rows is None or rows.empty:
                continue
            rows = rows.reset_index(drop=True)
            judged = judge_team(rows, decisions.get((team.team_id, measure), []))
            if judged is None:
                continue
            result = judged.result
            last = rows.iloc[-1]
            records.append(
                {
                    "team_id": team.team_id,
                    "team": team.name,
                    "site": team.site,
                    "service": team.service,
                    "measure": measure,
                    "measure_label": MEASURE_LABELS[measure],
                    "latest_period": last["period"],
                    "latest": float(last["proportion"]),
                    "n": int(last["denominator"]),
                    "small": bool(last["small"]),
                    "variation": result.variation,
                    "variation_label": VARIATION_LABELS[result.variation],
                    "assurance": result.assurance,
                    "assurance_label": ASSURANCE_LABELS[result.assurance],
                    "target": judged.target,
                    "is_norm": judged.is_norm,
                    "first_improvement": judged.first_improvement,
                    "reason": judged.reason,
                    "sparkline": [float(x) for x in rows["proportion"].tail(12)],
                }
            )
    df = pd.DataFrame(records)
    if df.empty:
        return df
    df["_order"] = df["variation"].map(lambda v: _CONCERN_ORDER.get(v, 3))
    df["_ass"] = df["assurance"].map({"fail": 0, "hit_or_miss": 1, None: 2, "pass": 3})
    df = df.sort_values(["_order", "_ass", "team", "measure"], kind="stable")
    return df.drop(columns=["_order", "_ass"]).reset_index(drop=True)


@dataclass(frozen=True)
class Headline:
    measure: str
    label: str
    norm: int
    teams: int

    @property
    def text(self) -> str:
        return f"{self.norm} of {self.teams} teams have made {self.label.lower()} the norm"


def headlines(grid: pd.DataFrame) -> list[Headline]:
    """Programme headline per measure: "k of n teams have made … the norm"."""
    out = []
    for measure in MEASURES:
        rows = grid[grid["measure"] == measure] if not grid.empty else grid
        out.append(
            Headline(
                measure,
                MEASURE_LABELS[measure],
                int(rows["is_norm"].sum()) if not rows.empty else 0,
                int(len(rows)),
            )
        )
    return out


def funnel(
    engine: Engine,
    measure: str,
    *,
    period_from: str | None = None,
    period_to: str | None = None,
    as_of: datetime | None = None,
    target: float | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    """Teams' pooled proportions over a window, their funnel flags, and the limit curves."""
    m = audit_measures(engine, as_of=as_of)
    m = m[m["measure"] == measure]
    if period_from:
        m = m[m["period"] >= period_from]
    if period_to:
        m = m[m["period"] <= period_to]
    teams = m.groupby("team", as_index=False)[["numerator", "denominator"]].sum()
    teams = teams[teams["denominator"] > 0].reset_index(drop=True)
    if teams.empty:
        return teams, pd.DataFrame(), float("nan")
    theta = (
        target
        if target is not None
        else pooled_proportion(teams["numerator"], teams["denominator"])
    )
    flags = [
        funnel_position(int(r.numerator), int(r.denominator), theta) for r in teams.itertuples()
    ]
    names = queries.teams(engine, as_of=as_of).set_index("team_id")["name"].to_dict()
    teams["team_name"] = teams["team"].map(names).fillna(teams["team"])
    teams["proportion"] = [f.proportion for f in flags]
    teams["outside_95"] = [f.alert for f in flags]
    teams["outside_998"] = [f.alarm for f in flags]
    teams["side"] = [f.side for f in flags]
    from .stats import wilson_interval

    ci = [wilson_interval(int(r.numerator), int(r.denominator)) for r in teams.itertuples()]
    teams["ci_low"] = [c[0] for c in ci]
    teams["ci_high"] = [c[1] for c in ci]
    n_max = int(teams["denominator"].max())
    # a fixed number of points on a log scale draws the curves smoothly at any window size
    grid = sorted({max(1, round(x)) for x in np.geomspace(1, n_max * 1.1 + 1, 300)})
    curves = funnel_limits(theta, grid)
    return teams.sort_values("proportion", ascending=False).reset_index(drop=True), curves, theta


def agreement(
    engine: Engine,
    *,
    team_id: str | None = None,
    as_of: datetime | None = None,
    window: int | None = 12,
) -> dict:
    """% agreement and Cohen's kappa of second reviews (never for fewer than 20 pairs)."""
    pairs = queries.review_pairs(engine, team_id=team_id, as_of=as_of)
    if window and not pairs.empty:
        periods = sorted(pairs["period"].unique())[-window:]
        pairs = pairs[pairs["period"].isin(periods)]
    result = cohens_kappa(list(zip(pairs["first"], pairs["second"], strict=True)))
    enough = result.n >= MIN_PAIRS
    return {
        "n": result.n,
        "percent_agreement": result.percent_agreement if enough else None,
        "kappa": result.kappa if enough else None,
        "notes": int(pairs["consultation_id"].nunique()) if not pairs.empty else 0,
    }
