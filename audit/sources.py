"""The team page's sources: case notes, patient surveys, or both on one time axis.

The SPC rules apply to each source separately. A survey series takes no decisions of its own:
no baseline or recalculation events exist for it, so its p-chart limits come from all its final
months; it is read against the team's target for the same enabler (the programme's aim is the
same whoever reports it). The provisional latest month is left out of the limits, runs and
icons, and drawn apart. The programme headline and the norm use case notes only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import Engine

from events.elements import ELEMENTS, Registry

from .spc import SpcResult
from .surveys import survey_measures
from .views import _settings, chart_for

SOURCE_LABELS: dict[str, str] = {
    "case_notes": "Case notes (audit sample)",
    "surveys": "Patients report (surveys)",
}


@dataclass(frozen=True)
class SurveyChart:
    team_id: str
    measure: str
    result: SpcResult | None  # None while there are no final months
    target: float
    #: per month: numerator, denominator, proportion, ci_low, ci_high, small, provisional
    table: pd.DataFrame


def survey_chart(
    engine: Engine,
    team_id: str,
    measure: str,
    *,
    as_of: datetime | None = None,
    elements: Registry = ELEMENTS,
) -> SurveyChart | None:
    """The p-chart of one team's patient-reported measure (final months only), or None."""
    m = survey_measures(engine, as_of=as_of, team=team_id, elements=elements)
    rows = m[(m["measure"] == measure) & (m["denominator"] > 0)].reset_index(drop=True)
    if rows.empty:
        return None
    settings = _settings(engine, team_id, measure, as_of)
    survey_settings = {"baseline_end": None, "recalculate_at": [], "target": settings["target"]}
    final = rows[~rows["provisional"]].reset_index(drop=True)
    result = chart_for(final, "p", survey_settings) if not final.empty else None
    table = rows.drop(columns=["team", "measure"])
    return SurveyChart(team_id, measure, result, settings["target"], table)


def both_frame(case_notes: pd.DataFrame | None, surveys: pd.DataFrame | None) -> pd.DataFrame:
    """Long frame for the "Both" chart: one row per source × month with the rate, its Wilson
    interval, n, small and provisional. ``case_notes``: a ``TeamChart.table``; ``surveys``: a
    ``SurveyChart.table``."""
    cols = [
        "source",
        "period",
        "proportion",
        "ci_low",
        "ci_high",
        "numerator",
        "denominator",
        "small",
        "provisional",
    ]
    frames = []
    for key, table in (("case_notes", case_notes), ("surveys", surveys)):
        if table is None or table.empty:
            continue
        part = table.copy()
        if "provisional" not in part:
            part["provisional"] = False
        part["source"] = SOURCE_LABELS[key]
        frames.append(part[cols])
    if not frames:
        return pd.DataFrame(columns=cols)
    out = pd.concat(frames, ignore_index=True)
    out["provisional"] = out["provisional"].fillna(False).astype(bool)
    out["small"] = out["small"].fillna(False).astype(bool)
    return out
