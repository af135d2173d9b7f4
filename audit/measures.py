"""Audit measures per team × period, from the read models, exactly as known at ``as_of``.

Numerator = "yes", denominator = "yes" + "no" (not applicable is excluded), first reviews
only; "all three" is yes when every enabler is yes and is excluded when any is not applicable.
Each proportion carries a Wilson 95% interval; fewer than 10 reviewed notes is marked small.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import Engine

from events.store import format_ts
from events.types import ELEMENTS, MEASURES

from .stats import wilson_interval

SMALL_SAMPLE = 10
COLUMNS = [
    "team",
    "period",
    "measure",
    "numerator",
    "denominator",
    "proportion",
    "ci_low",
    "ci_high",
    "small",
]


def to_quarter(period: str) -> str:
    """``2024-05`` → ``2024-Q2``."""
    year, month = period.split("-")
    return f"{year}-Q{(int(month) - 1) // 3 + 1}"


def _ph(engine: Engine) -> str:
    return "?" if engine.dialect.name == "sqlite" else "%s"


def first_reviews(
    engine: Engine, *, as_of: datetime | None = None, team: str | None = None
) -> pd.DataFrame:
    """One row per reviewed note: its first (non-second) review as known at ``as_of``."""
    ph = _ph(engine)
    where = ["second_review = " + ("0" if engine.dialect.name == "sqlite" else "false")]
    params: list = []
    if as_of is not None:
        where.append(f"recorded_at <= {ph}")
        params.append(format_ts(as_of))
    if team is not None:
        where.append(f"team_id = {ph}")
        params.append(team)
    sql = (
        "SELECT position, round_id, team_id, period, consultation_id, reviewer_id, "
        "agenda_setting, goal_setting, follow_up, recorded_at FROM rm_reviews "
        f"WHERE {' AND '.join(where)} ORDER BY position"
    )
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(sql, tuple(params)).fetchall()
    df = pd.DataFrame(
        rows,
        columns=[
            "position",
            "round_id",
            "team",
            "period",
            "consultation_id",
            "reviewer_id",
            *ELEMENTS,
            "recorded_at",
        ],
    )
    # A note reviewed again in a later round of the same team-month counts once: the first.
    return df.drop_duplicates(["team", "period", "consultation_id"], keep="first")


def _counts(reviews: pd.DataFrame, group: str) -> pd.DataFrame:
    frames = []
    for measure in MEASURES:
        if measure == "all_three":
            findings = reviews[list(ELEMENTS)]
            applicable = ~(findings == "not_applicable").any(axis=1)
            yes = (findings == "yes").all(axis=1) & applicable
        else:
            applicable = reviews[measure] != "not_applicable"
            yes = (reviews[measure] == "yes") & applicable
        frame = pd.DataFrame(
            {
                "team": reviews["team"],
                "period": reviews[group],
                "measure": measure,
                "numerator": yes.astype(int),
                "denominator": applicable.astype(int),
            }
        )
        frames.append(frame)
    if not frames or reviews.empty:
        return pd.DataFrame(columns=["team", "period", "measure", "numerator", "denominator"])
    tall = pd.concat(frames, ignore_index=True)
    return tall.groupby(["team", "period", "measure"], as_index=False)[
        ["numerator", "denominator"]
    ].sum()


def with_intervals(counts: pd.DataFrame) -> pd.DataFrame:
    """Add proportion, Wilson 95% interval and the small-sample flag."""
    out = counts.copy()
    props, lows, highs = [], [], []
    for num, den in zip(out["numerator"], out["denominator"], strict=True):
        lo, hi = wilson_interval(int(num), int(den))
        props.append(num / den if den else None)
        lows.append(lo)
        highs.append(hi)
    out["proportion"] = props
    out["ci_low"] = lows
    out["ci_high"] = highs
    out["small"] = out["denominator"] < SMALL_SAMPLE
    return out


def open_periods(
    engine: Engine, *, as_of: datetime | None = None, team: str | None = None
) -> set[tuple[str, str]]:
    """(team, period) pairs with an audit round still open at ``as_of``: their figures are
    provisional (the round may yet add or change reviews)."""
    ph = _ph(engine)
    where, params = ["1 = 1"], []
    if as_of is not None:
        where.append(f"opened_at <= {ph}")
        params.append(format_ts(as_of))
    if team is not None:
        where.append(f"team_id = {ph}")
        params.append(team)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            f"SELECT team_id, period, closed_at FROM rm_audit_rounds WHERE {' AND '.join(where)}",
            tuple(params),
        ).fetchall()
    cutoff = format_ts(as_of) if as_of is not None else None
    return {
        (t, p)
        for t, p, closed in rows
        if closed is None or (cutoff is not None and closed > cutoff)
    }


def audit_measures(
    engine: Engine,
    *,
    as_of: datetime | None = None,
    quarterly: bool = False,
    team: str | None = None,
    small_sample: int = SMALL_SAMPLE,
) -> pd.DataFrame:
    """Sample (audit) measures per team × period × measure, sorted by team, period, measure.

    ``provisional`` marks a period with a round still open at ``as_of`` (a quarter: any of its
    months); ``small`` a denominator below ``small_sample`` (a programme setting).
    """
    reviews = first_reviews(engine, as_of=as_of, team=team)
    group = "period"
    if quarterly:
        reviews = reviews.assign(quarter=reviews["period"].map(to_quarter))
        group = "quarter"
    counts = _counts(reviews, group)
    out = with_intervals(counts) if not counts.empty else pd.DataFrame(columns=COLUMNS)
    out = out[COLUMNS].sort_values(["team", "period", "measure"], kind="stable")
    out = out.reset_index(drop=True)
    if not out.empty:
        out["small"] = out["denominator"] < small_sample
    still_open = open_periods(engine, as_of=as_of, team=team)
    if quarterly:
        still_open = {(t, to_quarter(p)) for t, p in still_open}
    out["provisional"] = [
        (t, p) in still_open for t, p in zip(out["team"], out["period"], strict=True)
    ]
    return out


def census_measures(
    engine: Engine,
    *,
    as_of: datetime | None = None,
    quarterly: bool = False,
    team: str | None = None,
) -> pd.DataFrame:
    """Every consultation's documentation (the census), as known at ``as_of``.

    Without ``as_of`` it reads the running totals; with it, the per-day totals of earlier days
    plus the exact changes of the cutoff's own day, so the cost does not grow with the log.
    """
    ph = _ph(engine)
    team_sql = f" AND team_id = {ph}" if team is not None else ""
    team_params = (team,) if team is not None else ()
    with engine.connect() as conn:
        if as_of is None:
            rows = conn.exec_driver_sql(
                "SELECT team_id, period, measure, numerator, denominator FROM rm_census "
                f"WHERE 1 = 1{team_sql}",
                team_params,
            ).fetchall()
        else:
            cutoff = format_ts(as_of)
            day = cutoff[:10]
            # the cutoff's own day: a position range (rm_days), then the exact cutoff
            window = (
                f"position >= (SELECT first_position FROM rm_days WHERE day = {ph}) "
                f"AND position <= (SELECT last_position FROM rm_days WHERE day = {ph}) "
                f"AND recorded_at >= {ph} AND recorded_at <= {ph}{team_sql}"
            )
            wparams = (day, day, day, cutoff, *team_params)
            parts = [
                "SELECT team_id, period, measure, numerator, denominator FROM rm_census_daily "
                f"WHERE day < {ph}{team_sql}"
            ]
            params: list = [day, *team_params]
            for measure in MEASURES:
                parts.append(
                    f"SELECT team_id, period, '{measure}', init_{measure}, 1 - init_na_{measure} "
                    "FROM rm_case_notes "
                    f"WHERE {window}"
                )
                params.extend(wparams)
            # the element facts: each row's own element column, then the bundle as 'all_three'
            for label, column in (("element", "element"), ("'all_three'", "all_three")):
                parts.append(
                    f"SELECT team_id, period, {label}, d_{column}, d_den_{column} "
                    f"FROM rm_element_facts "
                    f"WHERE {window} AND (d_{column} <> 0 OR d_den_{column} <> 0)"
                )
                params.extend(wparams)
            rows = conn.exec_driver_sql(
                "SELECT team_id, period, measure, SUM(numerator), SUM(denominator) FROM ("
                + " UNION ALL ".join(parts)
                + ") AS c "
                "GROUP BY team_id, period, measure",
                tuple(params),
            ).fetchall()
    counts = pd.DataFrame(rows, columns=["team", "period", "measure", "numerator", "denominator"])
    counts = counts[counts["denominator"] > 0]
    if quarterly and not counts.empty:
        counts = (
            counts.assign(period=counts["period"].map(to_quarter))
            .groupby(["team", "period", "measure"], as_index=False)[["numerator", "denominator"]]
            .sum()
        )
    if counts.empty:
        return pd.DataFrame(columns=COLUMNS)
    out = with_intervals(counts.astype({"numerator": int, "denominator": int}))
    return out[COLUMNS].sort_values(["team", "period", "measure"]).reset_index(drop=True)


def report_records(df: pd.DataFrame) -> list[dict]:
    """The ``audit report --format json`` shape: plain values, no timestamp of its own."""
    records = []
    for row in df.itertuples(index=False):
        records.append(
            {
                "team": row.team,
                "period": row.period,
                "measure": row.measure,
                "numerator": int(row.numerator),
                "denominator": int(row.denominator),
                "proportion": None if row.proportion is None else float(row.proportion),
                "ci_low": None if row.ci_low is None else float(row.ci_low),
                "ci_high": None if row.ci_high is None else float(row.ci_high),
                "small": bool(row.small),
            }
        )
        if "provisional" in df.columns:
            records[-1]["provisional"] = bool(row.provisional)
    return records
