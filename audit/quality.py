"""Audit quality per team, for the pack: how many notes stand behind the numbers.

A board trusts a percentage only as far as the sample behind it: months audited, notes per
month, small months (fewer than 10 notes), months still provisional (their round is open),
and how often two reviewers agreed. Everything as known at ``as_of``.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import Engine

from events.elements import ALL, ELEMENTS, Registry

from . import queries, views
from .measures import audit_measures
from .queries import (
    provisional_months as provisional_months,  # the read-model reads live in queries
)

QUALITY_COLUMNS = [
    "team_id",
    "team",
    "months",
    "median_n",
    "smallest_n",
    "small_months",
    "provisional_months",
    "pairs",
    "paired_notes",
    "percent_agreement",
    "kappa",
]


def audit_quality(
    engine: Engine,
    *,
    as_of: datetime | None = None,
    measures: pd.DataFrame | None = None,
    elements: Registry = ELEMENTS,
) -> pd.DataFrame:
    """One row per team: months audited, median and smallest notes per month (every enabler
    of ``elements`` applicable), small months, provisional months, and second-review
    agreement (over every enabler of ``elements``)."""
    m = measures if measures is not None else audit_measures(engine, as_of=as_of, elements=elements)
    m = m[(m["measure"] == ALL) & (m["denominator"] > 0)]
    open_months = provisional_months(engine, as_of=as_of)
    records = []
    for team in queries.teams(engine, as_of=as_of).itertuples():
        mine = m[m["team"] == team.team_id]
        agreement = views.agreement(engine, team_id=team.team_id, as_of=as_of, elements=elements)
        records.append(
            {
                "team_id": team.team_id,
                "team": team.name,
                "months": len(mine),
                "median_n": float(mine["denominator"].median()) if not mine.empty else None,
                "smallest_n": int(mine["denominator"].min()) if not mine.empty else None,
                "small_months": int(mine["small"].sum()) if not mine.empty else 0,
                "provisional_months": int((open_months["team_id"] == team.team_id).sum()),
                "pairs": int(agreement["n"]),
                "paired_notes": int(agreement["notes"]),
                "percent_agreement": agreement["percent_agreement"],
                "kappa": agreement["kappa"],
            }
        )
    return pd.DataFrame(records, columns=QUALITY_COLUMNS)
