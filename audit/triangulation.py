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


def _sums(frame: pd.DataFrame, quarter: str, *, monthly: bool) -> dict[tuple, list[int]]:
    """(team, measure) → [numerator, denominator] over ``quarter``: a quarterly frame's rows
    of that quarter, or a monthly frame's months in it pooled (first reviews are counted once
    per team-month, so the sums equal ``audit_measures(quarterly=True)``). Plain lists: a
    pandas groupby and merge cost more than the few hundred rows they add up (issue #19)."""
    sums: dict[tuple, list[int]] = {}
    for team, period, measure, num, den in zip(
        frame["team"].tolist(),
        frame["period"].tolist(),
        frame["measure"].tolist(),
        frame["numerator"].tolist(),
        frame["denominator"].tolist(),
        strict=True,
    ):
        if (to_quarter(period) if monthly else period) != quarter:
            continue
        acc = sums.setdefault((team, measure), [0, 0])
        acc[0] += int(num)
        acc[1] += int(den)
    return sums


def compare(
    notes: pd.DataFrame, surveys: pd.DataFrame, quarter: str, elements: Registry = ELEMENTS
) -> pd.DataFrame:
    """Pair quarterly case-note and survey counts (team, period, measure, numerator,
    denominator) for ``quarter``, with the difference interval and the flag; measures in the
    order of ``elements``."""
    return _paired(
        _sums(notes, quarter, monthly=False),
        _sums(surveys, quarter, monthly=False),
        quarter,
        elements,
    )


def _paired(
    notes: dict[tuple, list[int]],
    surveys: dict[tuple, list[int]],
    quarter: str,
    elements: Registry,
) -> pd.DataFrame:
    order = {m: i for i, m in enumerate(elements.measures)}
    records = []
    for team, measure in sorted(
        notes.keys() & surveys.keys(), key=lambda k: (k[0], order.get(k[1], len(order)), k[1])
    ):
        x1, n1 = notes[team, measure]
        x2, n2 = surveys[team, measure]
        diff = newcombe_difference(x1, n1, x2, n2)
        if diff is None:
            continue
        d, lo, hi = diff
        records.append(
            (team, measure, quarter, x1, n1, x1 / n1, x2, n2, x2 / n2, d, lo, hi, lo > 0)
        )
    return pd.DataFrame.from_records(records, columns=[c for c in COLUMNS if c != "team_name"])


def triangulation(
    engine: Engine,
    *,
    as_of: datetime | None = None,
    quarter: str | None = None,
    elements: Registry = ELEMENTS,
    monthly: pd.DataFrame | None = None,
    surveys: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per team × measure of ``elements``: case-note (audit sample) vs patient-reported rate
    over the latest complete quarter (or ``quarter``), the Newcombe interval of the difference
    and the flag. ``monthly``: the ``audit_measures`` rows as of ``as_of`` when the caller has
    read them already (only their counts and ``provisional`` are used); ``surveys``: likewise
    ``survey_measures(..., quarterly=True)`` as of ``as_of``."""
    # read once: the quarter and its counts
    if monthly is None:
        monthly = audit_measures(engine, as_of=as_of, elements=elements)
    quarter = quarter or complete_quarter(
        latest_survey_period(engine, as_of=as_of), _latest_final(monthly)
    )
    if quarter is None or monthly.empty:
        return pd.DataFrame(columns=COLUMNS)
    if surveys is None:
        surveys = survey_measures(engine, as_of=as_of, quarterly=True, elements=elements)
    if surveys.empty:
        return pd.DataFrame(columns=COLUMNS)
    out = _paired(
        _sums(monthly, quarter, monthly=True),
        _sums(surveys, quarter, monthly=False),
        quarter,
        elements,
    )
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
