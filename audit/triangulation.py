"""Triangulation: do patients report what the case notes say happened?

Per team and measure, over the latest complete quarter, the audit-sample case-note rate is set
beside the patient-reported rate with a Newcombe (1998, method 10) 95% interval for the
difference notes − patients. Where that interval's lower bound is above 0 the notes document
the enabler more often than patients report it: a screening prompt to look closer (who fills
the survey in, which question, a tick-box template), never a verdict.

The latest complete quarter is the newest quarter that is over in both sources: its last month
is earlier than the newest survey month (still provisional: forms are still coming back) and
no later than the newest audited month.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import Engine

from events.elements import ELEMENTS, Registry

from . import queries
from .measures import audit_measures, to_quarter
from .stats import newcombe_difference as newcombe_difference
from .surveys import latest_survey_period, survey_measures

FLAG_TEXT = "documented more often than patients report"
PROMPT_TEXT = (
    "A screening prompt, not a verdict: the flag marks a team whose case notes document an "
    "enabler more often than its patients report it (the 95% Newcombe interval of the "
    "difference lies above 0). It asks for a closer look, not a conclusion."
)
COLUMNS = [
    "team",
    "team_name",
    "measure",
    "quarter",
    "notes_yes",
    "notes_n",
    "notes_rate",
    "survey_yes",
    "survey_n",
    "survey_rate",
    "difference",
    "diff_low",
    "diff_high",
    "flagged",
]


def _previous_month(period: str) -> str:
    year, month = (int(x) for x in period.split("-"))
    year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return f"{year:04d}-{month:02d}"


def complete_quarter(latest_survey: str | None, latest_audit: str | None) -> str | None:
    """The newest quarter over in both sources (see the module note), or None."""
    if not latest_survey or not latest_audit:
        return None
    last = min(_previous_month(latest_survey), latest_audit)
    year, month = (int(x) for x in last.split("-"))
    if month % 3:  # not a quarter's last month: that quarter is not over yet
        last = f"{year:04d}-{month - month % 3:02d}" if month > 3 else f"{year - 1:04d}-12"
    return to_quarter(last)


def _latest_final(monthly: pd.DataFrame) -> str | None:
    if "provisional" in monthly:  # a month whose round is still open is not over yet
        monthly = monthly[~monthly["provisional"].astype(bool)]
    return monthly["period"].max() if not monthly.empty else None


def latest_complete_quarter(
    engine: Engine, *, as_of: datetime | None = None, elements: Registry = ELEMENTS
) -> str | None:
    return complete_quarter(
        latest_survey_period(engine, as_of=as_of),
        _latest_final(audit_measures(engine, as_of=as_of, elements=elements)),
    )


def _by_quarter(monthly: pd.DataFrame) -> pd.DataFrame:
    """Monthly counts pooled by quarter (first reviews are counted once per team-month, so the
    sums equal ``audit_measures(quarterly=True)``)."""
    return (
        monthly.assign(period=monthly["period"].map(to_quarter))
        .groupby(["team", "period", "measure"], as_index=False)[["numerator", "denominator"]]
        .sum()
    )


def compare(
    notes: pd.DataFrame, surveys: pd.DataFrame, quarter: str, elements: Registry = ELEMENTS
) -> pd.DataFrame:
    """Pair quarterly case-note and survey counts (team, period, measure, numerator,
    denominator) for ``quarter``, with the difference interval and the flag; measures in the
    order of ``elements``."""
    key = ["team", "measure"]
    left = notes[notes["period"] == quarter][[*key, "numerator", "denominator"]]
    right = surveys[surveys["period"] == quarter][[*key, "numerator", "denominator"]]
    both = left.merge(right, on=key, suffixes=("_notes", "_survey"))
    records = []
    for row in both.itertuples(index=False):
        x1, n1 = int(row.numerator_notes), int(row.denominator_notes)
        x2, n2 = int(row.numerator_survey), int(row.denominator_survey)
        diff = newcombe_difference(x1, n1, x2, n2)
        if diff is None:
            continue
        d, lo, hi = diff
        records.append(
            {
                "team": row.team,
                "measure": row.measure,
                "quarter": quarter,
                "notes_yes": x1,
                "notes_n": n1,
                "notes_rate": x1 / n1,
                "survey_yes": x2,
                "survey_n": n2,
                "survey_rate": x2 / n2,
                "difference": d,
                "diff_low": lo,
                "diff_high": hi,
                "flagged": lo > 0,
            }
        )
    out = pd.DataFrame(records, columns=[c for c in COLUMNS if c != "team_name"])
    order = {m: i for i, m in enumerate(elements.measures)}
    out["_m"] = out["measure"].map(order)
    return out.sort_values(["team", "_m"]).drop(columns="_m").reset_index(drop=True)


def triangulation(
    engine: Engine,
    *,
    as_of: datetime | None = None,
    quarter: str | None = None,
    elements: Registry = ELEMENTS,
) -> pd.DataFrame:
    """Per team × measure of ``elements``: case-note (audit sample) vs patient-reported rate
    over the latest complete quarter (or ``quarter``), the Newcombe interval of the difference
    and the flag."""
    # read once: the quarter and its counts
    monthly = audit_measures(engine, as_of=as_of, elements=elements)
    quarter = quarter or complete_quarter(
        latest_survey_period(engine, as_of=as_of), _latest_final(monthly)
    )
    if quarter is None or monthly.empty:
        return pd.DataFrame(columns=COLUMNS)
    surveys = survey_measures(engine, as_of=as_of, quarterly=True, elements=elements)
    if surveys.empty:
        return pd.DataFrame(columns=COLUMNS)
    out = compare(_by_quarter(monthly), surveys, quarter, elements)
    names = queries.teams(engine, as_of=as_of).set_index("team_id")["name"].to_dict()
    out.insert(1, "team_name", out["team"].map(names).fillna(out["team"]))
    return out[COLUMNS]


def flags(table: pd.DataFrame) -> pd.DataFrame:
    """Only the flagged rows: the programme table on the overview and in the pack."""
    if table.empty:
        return table
    return table[table["flagged"]].reset_index(drop=True)


def display_table(table: pd.DataFrame, labels: dict[str, str] | None = None) -> pd.DataFrame:
    """The triangulation as people read it: rates, the difference and its interval, the flag."""
    labels = labels or {}
    cols = [
        "Team",
        "Enabler",
        "Quarter",
        "Case notes (audit sample)",
        "Notes n",
        "Patients report",
        "Surveys n",
        "Difference (notes − patients)",
        "95% interval from",
        "95% interval to",
        "Screening flag",
    ]
    if table.empty:
        return pd.DataFrame(columns=cols)
    return pd.DataFrame(
        {
            "Team": table["team_name"],
            "Enabler": table["measure"].map(lambda m: labels.get(m, m)),
            "Quarter": table["quarter"],
            "Case notes (audit sample)": table["notes_rate"],
            "Notes n": table["notes_n"],
            "Patients report": table["survey_rate"],
            "Surveys n": table["survey_n"],
            "Difference (notes − patients)": table["difference"],
            "95% interval from": table["diff_low"],
            "95% interval to": table["diff_high"],
            "Screening flag": table["flagged"].map(lambda f: f"⚑ {FLAG_TEXT}" if f else "—"),
        }
    )[cols]


def pack_lines(table: pd.DataFrame) -> list[str]:
    """The pack section's text: which quarter, how many pairs flagged, and what a flag means."""
    if table.empty:
        return [
            "No complete quarter with both case-note audits and patient surveys: "
            "nothing to triangulate."
        ]
    flagged = flags(table)
    return [
        f"{table['quarter'].iloc[0]} (the latest complete quarter): {len(flagged)} of "
        f"{len(table)} team-enabler pairs flagged as {FLAG_TEXT}.",
        PROMPT_TEXT,
    ]


def pack_table(table: pd.DataFrame, labels: dict[str, str] | None = None) -> pd.DataFrame:
    """The flagged rows as text cells (percentages), for the pack's PDF and HTML tables."""
    shown = display_table(flags(table), labels)
    for col in shown.columns:
        if col in (
            "Case notes (audit sample)",
            "Patients report",
            "Difference (notes − patients)",
            "95% interval from",
            "95% interval to",
        ):
            signed = col.startswith(("Difference", "95%"))
            shown[col] = shown[col].map(lambda v, s=signed: f"{v:+.0%}" if s else f"{v:.0%}")
    return shown


def render_html(table: pd.DataFrame, labels: dict[str, str] | None = None) -> str:
    """A short, self-contained HTML section for the review pack (flagged rows only)."""
    import html

    parts = ["<section id='triangulation'><h2>Case notes and patient surveys</h2>"]
    parts.extend(f"<p>{html.escape(line)}</p>" for line in pack_lines(table))
    shown = pack_table(table, labels) if not table.empty else pd.DataFrame()
    if not shown.empty:
        parts.append(shown.to_html(index=False, escape=True))
    parts.append("</section>")
    return "".join(parts)
