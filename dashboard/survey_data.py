"""Cached reads of the second source (patient surveys) and the triangulation.

The same caching seam as :mod:`dashboard.data` (keyed on the database URL, the log's head
position and the view's own arguments), kept in its own module so the survey pages' reads sit
together. Every number comes from ``audit.surveys``, ``audit.sources`` and
``audit.triangulation``; nothing is calculated here.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import streamlit as st

from audit import sources, surveys, triangulation
from audit.sources import SurveyChart
from dashboard import data

_CACHE = {"show_spinner": False, "max_entries": 256}

SOURCES: dict[str, str] = {
    "case_notes": "Case notes",
    "surveys": "Patient surveys",
    "both": "Both",
}
RESEED_NOTICE = (
    "This database holds no patient surveys. The demo was seeded before sipdash had surveys: "
    "**reseed to see surveys** (`sipdash seed` into a new, empty database), or import them "
    "with `sipdash import surveys FILE.csv`."
)
NO_SURVEYS_NOTICE = (
    "No patient surveys have been imported yet: `sipdash import surveys FILE.csv` or the "
    "Import page (anonymous returns: survey_id, team, returned_on and one answer per enabler)."
)


@st.cache_data(**_CACHE)
def _has_surveys(url: str, head: int) -> bool:
    return surveys.has_surveys(data._engine(url))


def has_surveys(snap: data.Snapshot) -> bool:
    return _has_surveys(snap.url, snap.position)


def missing_notice(snap: data.Snapshot) -> str:
    """What to say where surveys would show: a seeded demo without them needs a reseed."""
    return RESEED_NOTICE if data.is_synthetic(snap) else NO_SURVEYS_NOTICE


@st.cache_data(**_CACHE)
def _survey_chart(
    url: str, head: int, team_id: str, measure: str, as_of: datetime | None
) -> SurveyChart | None:
    return sources.survey_chart(
        data._engine(url), team_id, measure, as_of=as_of, elements=data._elements(url)
    )


def survey_chart(
    snap: data.Snapshot, team_id: str, measure: str, as_of: datetime | None = None
) -> SurveyChart | None:
    return _survey_chart(snap.url, data.read_position(snap, as_of), team_id, measure, as_of)


@st.cache_data(**_CACHE)
def _survey_quarters(url: str, version: int, as_of: datetime | None) -> pd.DataFrame:
    """Quarterly survey measures, keyed on the newest survey row rather than the head: a new
    review or note (most appends) leaves them cached."""
    return surveys.survey_measures(
        data._engine(url), as_of=as_of, quarterly=True, elements=data._elements(url)
    )


@st.cache_data(**_CACHE)
def _triangulation(url: str, head: int, as_of: datetime | None) -> pd.DataFrame:
    engine = data._engine(url)
    return triangulation.triangulation(
        engine,
        as_of=as_of,
        elements=data._elements(url),
        monthly=data._measures(url, head, as_of),
        surveys=_survey_quarters(url, surveys.survey_version(engine), as_of),
    )


def triangulation_table(snap: data.Snapshot, as_of: datetime | None = None) -> pd.DataFrame:
    """``audit.triangulation.triangulation``: every team × measure, latest complete quarter."""
    return _triangulation(snap.url, data.read_position(snap, as_of), as_of)


def survey_frame(chart: SurveyChart) -> pd.DataFrame:
    """Per-point frame for ``charts.spc_chart``: the final months' p-chart points with their
    intervals (the provisional month is not a point of the chart)."""
    if chart.result is None:
        return pd.DataFrame()
    points = chart.result.to_frame()
    extra = chart.table[["period", "ci_low", "ci_high", "small"]]
    return points.merge(extra, on="period", how="left")


def survey_period_table(chart: SurveyChart) -> pd.DataFrame:
    """The months of a survey chart as shown."""
    t = chart.table
    return pd.DataFrame(
        {
            "Month": t["period"],
            "Patients report": t["proportion"],
            "Saying yes": t["numerator"],
            "Answering (n)": t["denominator"],
            "95% interval from": t["ci_low"],
            "95% interval to": t["ci_high"],
            "Sample": t["small"].map(lambda s: "⚠ small (n < 10)" if s else ""),
            "Status": t["provisional"].map(lambda p: "provisional" if p else "final"),
        }
    )
