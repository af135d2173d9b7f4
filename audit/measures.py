"""Audit measures per team × period, from the read models, exactly as known at ``as_of``.

Numerator = "yes", denominator = "yes" + "no" (not applicable is excluded), first reviews
only; "all three" (the bundle, contract id ``all_three``) is yes when every enabler of the
registry is yes and is excluded when any is not applicable.
Each proportion carries a Wilson 95% interval; fewer than 10 reviewed notes is marked small.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import Engine

from events.elements import ALL, ELEMENTS, Registry

from . import queries
from .queries import first_reviews as first_reviews  # the read-model reads live in queries
from .queries import open_periods as open_periods
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


def _counts(reviews: pd.DataFrame, group: str, elements: Registry = ELEMENTS) -> pd.DataFrame:
    """Numerator and denominator per team x ``group`` x measure, sorted by those keys. A note
    counts in a measure's denominator unless that enabler (for ``all_three``: any enabler) is
    not applicable, and in its numerator when that enabler (every enabler) is "yes".

    Counted in plain Python over the columns' lists: one team's page holds a few hundred
    notes, and pandas' masks, concat and groupby cost more than counting them (issue #12)."""
    columns = ["team", "period", "measure", "numerator", "denominator"]
    if reviews.empty or not elements.measures:
        return pd.DataFrame(columns=columns)
    names = list(elements.names)
    at = {name: i for i, name in enumerate(names)}
    measures = [(m, None if m == ALL else at[m]) for m in elements.measures]
    sums: dict[tuple[str, str, str], list[int]] = {}
    for team, period, *findings in zip(
        reviews["team"].tolist(),
        reviews[group].tolist(),
        *(reviews[n].tolist() for n in names),
        strict=True,
    ):
        for measure, i in measures:
            if i is None:  # every enabler yes; out when any is not applicable
                applicable = "not_applicable" not in findings
                yes = applicable and all(f == "yes" for f in findings)
            else:
                applicable = findings[i] != "not_applicable"
                yes = applicable and findings[i] == "yes"
            acc = sums.get((team, period, measure))
            if acc is None:
                acc = sums[team, period, measure] = [0, 0]
            acc[0] += yes
            acc[1] += applicable
    keys = sorted(sums)
    return pd.DataFrame(
        {
            "team": [k[0] for k in keys],
            "period": [k[1] for k in keys],
            "measure": [k[2] for k in keys],
            "numerator": pd.array([sums[k][0] for k in keys], dtype="int64"),
            "denominator": pd.array([sums[k][1] for k in keys], dtype="int64"),
        },
        columns=columns,
    )


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


def audit_measures(
    engine: Engine,
    *,
    as_of: datetime | None = None,
    quarterly: bool = False,
    team: str | None = None,
    small_sample: int = SMALL_SAMPLE,
    elements: Registry = ELEMENTS,
) -> pd.DataFrame:
    """Sample (audit) measures per team × period × measure, sorted by team, period, measure.

    ``provisional`` marks a period with a round still open at ``as_of`` (a quarter: any of its
    months); ``small`` a denominator below ``small_sample`` (a programme setting).
    """
    reviews = first_reviews(engine, as_of=as_of, team=team, elements=elements)
    group = "period"
    if quarterly:
        reviews = reviews.assign(quarter=reviews["period"].map(to_quarter))
        group = "quarter"
    counts = _counts(reviews, group, elements)
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
    elements: Registry = ELEMENTS,
) -> pd.DataFrame:
    """Every consultation's documentation (the census), as known at ``as_of``.

    Without ``as_of`` it reads the running totals; with it, the per-day totals of earlier days
    plus the exact changes of the cutoff's own day, so the cost does not grow with the log.
    """
    rows = queries.census_counts(engine, as_of=as_of, team=team, elements=elements)
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
