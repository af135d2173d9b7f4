"""Patient-reported measures per team × period: the second source beside the case notes.

A survey answers each enabler yes / no / not_sure / doesnt_apply / blank. The patient-reported
rate is yes / (yes + no + not_sure): "doesn't apply" and blank say nothing about whether it
happened, so both are excluded, while "not sure" counts against it (a patient who cannot say a
goal was agreed did not experience one clearly). The bundle (contract id ``all_three``) is yes
when every enabler of the registry is yes, among returns that answer every one (no
doesnt_apply, no blank). The period is the month of
``returned_on``; a measure with fewer than 10 in its denominator is small; the latest month with
any return (programme-wide, as known at ``as_of``) is provisional, because forms for it are
still coming back. Everything reads ``rm_surveys`` only, filtered by ``recorded_at`` for as-of.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import Engine

from events.elements import ELEMENTS, Registry

from . import queries
from .measures import COLUMNS, report_records, to_quarter, with_intervals
from .queries import has_surveys as has_surveys  # the read-model reads live in queries
from .queries import latest_survey_period as latest_survey_period
from .queries import survey_version as survey_version

ANSWERS: tuple[str, ...] = ("yes", "no", "not_sure", "doesnt_apply", "blank")
COUNTED: tuple[str, ...] = ("yes", "no", "not_sure")
SURVEY_COLUMNS = [*COLUMNS, "provisional"]
QUESTIONS: dict[str, str] = ELEMENTS.questions
"""The patient-facing wording of each enabler's question (the default registry's; a wired
registry's are ``Registry.questions``)."""


def answer_counts(answers: tuple[str, ...]) -> list[tuple[int, int]]:
    """(numerator, denominator) of each measure for one return, in the registry's ``measures``
    order: the rule itself (yes / (yes + no + not_sure); the bundle among returns answering
    every enabler)."""
    out = [(int(a == "yes"), int(a in COUNTED)) for a in answers]
    answered_all = all(a in COUNTED for a in answers)
    out.append((int(answered_all and all(a == "yes" for a in answers)), int(answered_all)))
    return out


def tally(rows: list[tuple], elements: Registry = ELEMENTS) -> pd.DataFrame:
    """Counts per team × period × measure from ``(team, period, <one answer per enabler of
    elements>, returns)`` rows; a measure with nothing counted in a month is absent."""
    sums: dict[tuple[str, str, str], list[int]] = {}
    measures = elements.measures
    for team, period, *answers, k in rows:
        for measure, (num, den) in zip(measures, answer_counts(tuple(answers)), strict=True):
            if den:
                acc = sums.setdefault((team, period, measure), [0, 0])
                acc[0] += num * int(k)
                acc[1] += den * int(k)
    records = [(t, p, m, n, d) for (t, p, m), (n, d) in sums.items()]
    return pd.DataFrame(records, columns=["team", "period", "measure", "numerator", "denominator"])


def survey_counts(
    engine: Engine,
    *,
    as_of: datetime | None = None,
    team: str | None = None,
    elements: Registry = ELEMENTS,
) -> pd.DataFrame:
    """Numerator and denominator per team × month × measure of ``elements`` (months without
    any counted answer for a measure are absent)."""
    rows = queries.survey_answer_counts(engine, as_of=as_of, team=team, elements=elements)
    return tally(rows, elements)


def survey_measures(
    engine: Engine,
    *,
    as_of: datetime | None = None,
    quarterly: bool = False,
    team: str | None = None,
    elements: Registry = ELEMENTS,
) -> pd.DataFrame:
    """Patient-reported measures with Wilson intervals, small and provisional flags, sorted by
    team, period, measure (the same columns as the case-note measures, plus ``provisional``)."""
    counts = survey_counts(engine, as_of=as_of, team=team, elements=elements)
    return with_flags(counts, latest_survey_period(engine, as_of=as_of), quarterly=quarterly)


def with_flags(
    counts: pd.DataFrame, latest: str | None, *, quarterly: bool = False
) -> pd.DataFrame:
    """Monthly counts → measures: optionally by quarter, with Wilson intervals, ``small``
    (denominator < 10) and ``provisional`` (the period holding the newest month, ``latest``)."""
    if counts.empty:
        return pd.DataFrame(columns=SURVEY_COLUMNS)
    if quarterly:
        counts = (
            counts.assign(period=counts["period"].map(to_quarter))
            .groupby(["team", "period", "measure"], as_index=False)[["numerator", "denominator"]]
            .sum()
        )
        latest = to_quarter(latest) if latest else None
    out = with_intervals(counts)
    out["provisional"] = out["period"] == latest
    out = out[SURVEY_COLUMNS].sort_values(["team", "period", "measure"], kind="stable")
    return out.reset_index(drop=True)


def survey_report_records(df: pd.DataFrame) -> list[dict]:
    """``audit report --source surveys --format json``: the case-note report's shape, with
    ``provisional`` added."""
    records = report_records(df)
    for record, provisional in zip(records, df["provisional"], strict=True):
        record["provisional"] = bool(provisional)
    return records
