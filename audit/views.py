"""What each screen and the review pack show, calculated once, as tidy frames and dataclasses.

Pages and the pack call these and draw; no arithmetic lives in the UI. Everything reads the
read models only and honours ``as_of``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from events.elements import ELEMENTS, Registry

from . import labels, queries
from .compare import CompareWindow, compare_window, sip_starts_from_facts
from .funnel import funnel_limits, funnel_position, pooled_proportion
from .judgement import Decisions, Judgement, judge_team
from .measures import audit_measures, census_measures
from .settings import DEFAULT_SETTINGS, ProgrammeSettings, load_settings_from_engine
from .spc import (
    SpcResult,
    p_chart,
    run_chart,
    xmr_chart,
)
from .stats import cohens_kappa

DEFAULT_TARGET = 0.8
# One set of words for the dashboard and the pack (audit/labels.py).
MEASURE_LABELS = labels.MEASURE_LABELS
VARIATION_LABELS = labels.VARIATION_BADGES
ASSURANCE_NOT_ASSESSABLE = "not_assessable"
ASSURANCE_LABELS = labels.ASSURANCE_BADGES
_CONCERN_ORDER = {"concern": 0, "neither": 1, "common_cause": 2, None: 3, "improvement": 4}


@dataclass(frozen=True)
class TeamChart:
    team_id: str
    measure: str
    result: SpcResult | None  # None while every month is provisional (``frame`` still draws)
    target: float
    baseline_end: str | None
    recalculate_at: tuple[str, ...]
    table: pd.DataFrame  # per period: numerator, denominator, proportion, ci, small, census
    judgement: Judgement | None = None  # the one verdict (p-chart), whatever chart is drawn
    frame: pd.DataFrame | None = None  # the drawn points: final and provisional, with targets
    settings: ProgrammeSettings = DEFAULT_SETTINGS


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


def team_chart(
    engine: Engine,
    team_id: str,
    measure: str,
    *,
    chart: str = "p",
    as_of: datetime | None = None,
    measures: pd.DataFrame | None = None,
    settings: ProgrammeSettings | None = None,
    elements: Registry = ELEMENTS,
) -> TeamChart | None:
    """The SPC chart of one team's measure, with the settings its events fixed.

    The verdict (``judgement``) always comes from the p-chart of the final points; ``result``
    is the chart drawn (``chart``), an alternative view for xmr and run."""
    settings = settings or load_settings_from_engine(engine, as_of=as_of)
    all_rows = (
        measures
        if measures is not None
        else audit_measures(
            engine,
            as_of=as_of,
            team=team_id,
            small_sample=settings.small_sample,
            elements=elements,
        )
    )
    rows = all_rows[
        (all_rows["team"] == team_id)
        & (all_rows["measure"] == measure)
        & (all_rows["denominator"] > 0)
    ].reset_index(drop=True)
    if rows.empty:
        return None
    limits = _settings(engine, team_id, measure, as_of)
    decisions = Decisions.from_settings(limits)
    census = census_measures(engine, as_of=as_of, team=team_id, elements=elements)
    census = census[census["measure"] == measure][["period", "proportion", "denominator"]].rename(
        columns={"proportion": "census_proportion", "denominator": "census_n"}
    )
    # everything below is a pure function of what was just read: memoised on exactly that
    # (like the overview's verdicts), so a page shown again draws nothing again
    key = (
        team_id,
        measure,
        chart,
        decisions,
        settings,
        limits["baseline_end"],
        tuple(limits["recalculate_at"]),
        limits["target"],
        tuple(rows.columns),
        tuple(rows.itertuples(index=False, name=None)),
        tuple(census.itertuples(index=False, name=None)),
    )
    hit = _TEAM_CHARTS.get(key)
    if hit is not None:
        return hit
    out = _draw_team_chart(team_id, measure, chart, rows, census, limits, decisions, settings)
    if len(_TEAM_CHARTS) >= _TEAM_CHARTS_MAX:
        _TEAM_CHARTS.clear()
    _TEAM_CHARTS[key] = out
    return out


_TEAM_CHARTS: dict[tuple, TeamChart] = {}
_TEAM_CHARTS_MAX = 1_000
"""Memoised team charts (:func:`team_chart`), cleared whole when full. Callers only read a
``TeamChart``'s frames (and copy them before changing anything)."""


def _draw_team_chart(
    team_id: str,
    measure: str,
    chart: str,
    rows: pd.DataFrame,
    census: pd.DataFrame,
    limits: dict,
    decisions: Decisions,
    settings: ProgrammeSettings,
) -> TeamChart:
    """The judged, drawn and merged part of :func:`team_chart`, from what it read."""
    judgement = judge_team(
        rows, decisions, settings=settings, team_id=team_id, measure=measure, chart=chart
    )
    final = rows[~rows["provisional"]].reset_index(drop=True) if "provisional" in rows else rows
    from .judgement import draw_chart

    result = draw_chart(final, decisions, chart, settings) if len(final) else judgement.result
    if result is not None:
        # one verdict: whatever chart is drawn, its icons are the p-chart's
        result = replace(result, variation=judgement.variation, assurance=judgement.assurance)
    table = rows.drop(columns=["team", "measure"]).merge(census, on="period", how="left")
    table = table.merge(
        judgement.frame[["period", "centre", "lower_limit", "upper_limit", "point_type", "target"]],
        on="period",
        how="left",
    )
    frame = judgement.frame.merge(census[["period", "census_proportion"]], on="period", how="left")
    target_now = judgement.target_now
    if target_now is None:
        target_now = decisions.target_for(rows["period"].iloc[-1]) or limits["target"]
    return TeamChart(
        team_id,
        measure,
        result,
        target_now,
        limits["baseline_end"],
        tuple(limits["recalculate_at"]),
        table,
        judgement,
        frame,
        settings,
    )


def latest_period(measures: pd.DataFrame) -> str | None:
    """The programme's latest audited month (the "now" the headline counts teams against)."""
    shown = measures[measures["denominator"] > 0] if not measures.empty else measures
    return None if shown.empty else str(shown["period"].max())


def programme_measures(
    engine: Engine,
    *,
    as_of: datetime | None = None,
    settings: ProgrammeSettings | None = None,
    elements: Registry = ELEMENTS,
) -> pd.DataFrame:
    """``audit_measures`` as of ``as_of`` with the programme's small-sample setting: the rows
    the overview grid, the culture-shift curve and the triangulation all start from (read once
    and passed to each when they are drawn together)."""
    settings = settings or load_settings_from_engine(engine, as_of=as_of)
    return audit_measures(
        engine, as_of=as_of, small_sample=settings.small_sample, elements=elements
    )


def overview(
    engine: Engine,
    *,
    as_of: datetime | None = None,
    settings: ProgrammeSettings | None = None,
    elements: Registry = ELEMENTS,
    measures: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per team × measure (every measure of ``elements``): latest final %, n, icons,
    norm, sparkline; concern first.

    Icons and the norm come from each team's last final, non-small point (``judge_team``);
    ``counted`` is False for a team not audited recently (left out of the headline).
    ``measures``: the ``audit_measures`` rows as of ``as_of`` (with the programme's
    ``small_sample``) when the caller has read them already (the dashboard shares one read
    between the grid, the curve and the triangulation)."""
    settings = settings or load_settings_from_engine(engine, as_of=as_of)
    if measures is None:
        measures = programme_measures(engine, as_of=as_of, settings=settings, elements=elements)
    team_list = queries.teams(engine, as_of=as_of)
    # one query for every team's settings and one split of the measures, not one per pair
    all_settings = queries.all_limits_settings(engine, as_of=as_of)
    shown = measures[measures["denominator"] > 0]
    now = latest_period(shown)
    # One pass over the measures as plain tuples, split per team x measure: the memo key and
    # every field shown are read from them, and a pair's DataFrame is only cut (iloc) when its
    # verdict is not memoised yet. Cutting 64 frames and slicing each with pandas cost more
    # than judging them did (issue #12, "overview slower than 75f4e0d").
    cols = tuple(shown.columns)
    col = {c: i for i, c in enumerate(cols)}
    i_team, i_measure, i_period = col["team"], col["measure"], col["period"]
    i_prop, i_den, i_small, i_prov = (
        col["proportion"],
        col["denominator"],
        col["small"],
        col["provisional"],
    )
    by_pair: dict[tuple[str, str], tuple[list[int], list[tuple]]] = {}
    for at, tup in enumerate(shown.itertuples(index=False, name=None)):
        pair = by_pair.get((tup[i_team], tup[i_measure]))
        if pair is None:
            pair = by_pair[tup[i_team], tup[i_measure]] = ([], [])
        pair[0].append(at)
        pair[1].append(tup)
    records = []
    for team in team_list.itertuples():
        for measure in elements.measures:
            pair = by_pair.get((team.team_id, measure))
            if pair is None:
                continue
            at_rows, rows = pair
            limits = dict(all_settings.get((team.team_id, measure)) or queries._no_settings())
            j = _judged(
                rows,
                _rows_of(shown, at_rows),
                cols,
                Decisions.from_settings(limits),
                now,
                settings,
                team.team_id,
                measure,
            )
            final = [r for r in rows if not r[i_prov]]
            last = (final or rows)[-1]
            shown_row = next((r for r in rows if r[i_period] == j.last_period), last)
            records.append(
                {
                    "team_id": team.team_id,
                    "team": team.name,
                    "site": team.site,
                    "service": team.service,
                    "measure": measure,
                    "measure_label": elements.labels[measure],
                    "latest_period": shown_row[i_period],
                    "latest": float(shown_row[i_prop]),
                    "n": int(shown_row[i_den]),
                    "small": bool(last[i_small]),
                    "small_period": last[i_period] if bool(last[i_small]) else None,
                    "provisional_period": rows[-1][i_period] if bool(rows[-1][i_prov]) else None,
                    "variation": j.variation,
                    "variation_label": VARIATION_LABELS.get(j.variation, str(j.variation)),
                    "assurance": j.assurance,
                    "assurance_label": ASSURANCE_LABELS.get(j.assurance, str(j.assurance)),
                    "target": j.target_now if j.target_now is not None else DEFAULT_TARGET,
                    "is_norm": j.is_norm,
                    "counted": j.counted,
                    "first_improvement": j.first_improvement,
                    "culture": j.culture_text,
                    "reason": j.norm_reason,
                    "sparkline": [float(r[i_prop]) for r in final[-12:]],
                }
            )
    df = pd.DataFrame(records)
    if df.empty:
        return df
    df["_order"] = df["variation"].map(lambda v: _CONCERN_ORDER.get(v, 3))
    df["_ass"] = df["assurance"].map({"fail": 0, "hit_or_miss": 1, None: 2, "pass": 3})
    df = df.sort_values(["_order", "_ass", "team", "measure"], kind="stable")
    return df.drop(columns=["_order", "_ass"]).reset_index(drop=True)


_JUDGED: dict[tuple, Judgement] = {}
_JUDGED_MAX = 5_000
"""Memoised overview judgements: cleared whole when full (a few KB each)."""


def _rows_of(frame: pd.DataFrame, at: Any) -> Callable[[], pd.DataFrame]:
    """A builder of ``frame``'s rows ``at`` (called only when a verdict is not memoised)."""
    return lambda: frame.iloc[at].reset_index(drop=True)


def _judged(
    rows: list[tuple],
    frame: Callable[[], pd.DataFrame],
    columns: tuple[str, ...],
    decisions: Decisions,
    up_to: str | None,
    settings: ProgrammeSettings,
    team_id: str,
    measure: str,
) -> Judgement:
    """``judge_team`` (verdict only: the overview draws no chart) memoised on exactly what it
    depends on: the team's whole series as read (``rows``: its plain tuples in ``columns``
    order), its decisions, ``up_to`` and the settings. ``frame`` builds the series' DataFrame,
    only on a miss. A new event changes the series (or decisions) of the team it touches, so
    only that team is judged again after an append; every other team's key, and so its
    verdict, is equal."""
    key = (team_id, measure, up_to, decisions, settings, columns, tuple(rows))
    hit = _JUDGED.get(key)
    if hit is not None:
        return hit
    out = judge_team(
        frame(),
        decisions,
        up_to=up_to,
        settings=settings,
        team_id=team_id,
        measure=measure,
        with_frame=False,
    )
    if len(_JUDGED) >= _JUDGED_MAX:
        _JUDGED.clear()
    _JUDGED[key] = out
    return out


@dataclass(frozen=True)
class Headline:
    measure: str
    label: str
    norm: int
    teams: int
    not_recent: tuple[str, ...] = ()  # teams not audited recently: counted neither way

    @property
    def text(self) -> str:
        return f"{self.norm} of {self.teams} teams have made {self.label.lower()} the norm"


def headlines(grid: pd.DataFrame, elements: Registry = ELEMENTS) -> list[Headline]:
    """Programme headline per measure: "k of n teams have made … the norm".

    n counts only teams with a final, non-small point in the last 3 months; the others are
    listed as not audited recently. Provisional and small months never move it."""
    out = []
    for measure in elements.measures:
        rows = grid[grid["measure"] == measure] if not grid.empty else grid
        if not rows.empty and "counted" in rows:
            counted = rows[rows["counted"].astype(bool)]
            stale = tuple(rows.loc[~rows["counted"].astype(bool), "team"])
        else:
            counted, stale = rows, ()
        out.append(
            Headline(
                measure,
                elements.labels[measure],
                int(counted["is_norm"].sum()) if not counted.empty else 0,
                len(counted),
                stale,
            )
        )
    return out


@dataclass(frozen=True)
class Comparison:
    """Teams compared over one window: pooled proportions with flags, the funnel's curves,
    θ, the window (printed with the chart) and which n was used."""

    teams: pd.DataFrame
    curves: pd.DataFrame
    theta: float
    window: CompareWindow
    n_source: str  # "sample" (audit sample) or "census" (every consultation)


N_SOURCES = {"sample": "audit sample (notes reviewed)", "census": "census (every consultation)"}


def compare(
    engine: Engine,
    measure: str,
    *,
    mode: str = "quarter",
    period: str | None = None,
    period_from: str | None = None,
    period_to: str | None = None,
    n_source: str = "sample",
    as_of: datetime | None = None,
    target: float | None = None,
    elements: Registry = ELEMENTS,
) -> Comparison:
    """Teams compared over a window (default: the latest complete quarter of final data);
    months before a team's programme start are never pooled."""
    if n_source not in N_SOURCES:
        raise ValueError(f"n_source must be one of {', '.join(N_SOURCES)}, got {n_source!r}")
    sample = audit_measures(engine, as_of=as_of, elements=elements)
    sample = sample[sample["measure"] == measure]
    facts = queries.team_facts(engine, types=("MilestoneLogged",), as_of=as_of)
    window = compare_window(
        sample,
        sip_starts_from_facts(facts),
        mode,
        period=period,
        period_from=period_from,
        period_to=period_to,
    )
    if n_source == "census":
        m = census_measures(engine, as_of=as_of, elements=elements)
        m = m[m["measure"] == measure]
    else:
        m = sample[~sample["provisional"]] if "provisional" in sample else sample
    m = window.select(m)
    teams, curves, theta = _funnel_of(engine, m, as_of=as_of, target=target)
    return Comparison(teams, curves, theta, window, n_source)


def funnel(
    engine: Engine,
    measure: str,
    *,
    period_from: str | None = None,
    period_to: str | None = None,
    as_of: datetime | None = None,
    target: float | None = None,
    elements: Registry = ELEMENTS,
) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    """Teams' pooled proportions over a window, their funnel flags, and the limit curves.

    Without a window: the latest complete quarter of final data (``compare``), never the
    whole series with its pre-programme baseline."""
    if period_from is None and period_to is None:
        c = compare(engine, measure, as_of=as_of, target=target)
        return c.teams, c.curves, c.theta
    c = compare(
        engine,
        measure,
        mode="custom",
        period_from=period_from,
        period_to=period_to,
        as_of=as_of,
        target=target,
        elements=elements,
    )
    return c.teams, c.curves, c.theta


def _funnel_of(
    engine: Engine, m: pd.DataFrame, *, as_of: datetime | None, target: float | None
) -> tuple[pd.DataFrame, pd.DataFrame, float]:
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
    elements: Registry = ELEMENTS,
) -> dict:
    """% agreement and Cohen's kappa of second reviews, pooled and per enabler of ``elements``.

    The design's rule is about *notes*: kappa needs at least the programme's kappa minimum of
    paired notes (``kappa_minimum_pairs``, 20 by default) and is reported per enabler. Counting
    note x enabler findings instead would let 7 doubly reviewed notes pass as 21 "pairs". So
    every figure is withheld while fewer notes than the minimum were reviewed twice: pooled
    (``n`` findings from ``notes`` notes) and for each enabler in ``by_enabler`` (one finding
    per note, notes where either reviewer said "not applicable" left out).
    """
    pairs = queries.review_pairs(engine, team_id=team_id, as_of=as_of, elements=elements)
    if window and not pairs.empty:
        periods = sorted(pairs["period"].unique())[-window:]
        pairs = pairs[pairs["period"].isin(periods)]
    # the kappa minimum is a programme decision (SpcSettingsChanged), 20 by default
    minimum = load_settings_from_engine(engine, as_of=as_of).kappa_minimum_pairs

    def _figures(frame: pd.DataFrame) -> dict:
        notes = int(frame["consultation_id"].nunique()) if not frame.empty else 0
        result = cohens_kappa(list(zip(frame["first"], frame["second"], strict=True)), min_pairs=0)
        enough = notes >= minimum and notes > 0
        return {
            "n": result.n,
            "notes": notes,
            "percent_agreement": result.percent_agreement if enough else None,
            "kappa": result.kappa if enough else None,
        }

    out = _figures(pairs)
    out["minimum_notes"] = minimum
    out["by_enabler"] = {
        element: _figures(pairs[pairs["element"] == element])
        for element in dict.fromkeys([*elements.names, *pairs["element"]])
    }
    return out
