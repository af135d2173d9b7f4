"""The review pack's two "second version" sections: who the shift reaches (training and
deprivation, issue #18) and patient surveys (triangulation, issue #17).

Kept out of ``pack.py`` so the board paper's layout and these sections' words change
independently. Every number comes from ``audit.triangulation`` and ``audit.reach`` read at the
pack's as-of (never "now"), and every word from ``audit.labels`` or those modules, as the
overview and Reach pages use them; nothing here imports streamlit. Each section is plain text
and text tables, so ``pack._html`` and ``pack._pdf`` render them alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd
from sqlalchemy import Engine

from audit import labels, queries, reach, triangulation
from audit.surveys import latest_survey_period
from events.elements import ELEMENTS, Registry

SURVEYS_TITLE = "Case notes and patient surveys"
REACH_TITLE = "Who the shift reaches (observational)"
REACH_MEASURE = reach.ALL
"""The enabler of the reach section: the Reach page's first choice, the bundle (every enabler
of the registry; ``all_three`` is its contract id)."""
REACH_PROGRAMME = "ADP"

NO_SURVEYS_DEMO = (
    "No patient surveys in this log (reseed to see them: the demo was seeded before sipdash "
    "had surveys; `sipdash seed` into a new, empty database)."
)
NO_SURVEYS = (
    "No patient surveys in this log at this pack's as-of (import them with "
    "`sipdash import surveys FILE.csv`)."
)
NO_FLAGS = "No team's notes document an enabler more often than its patients report."
OBSERVATIONAL = (
    "Observational, no causal claim: a rise after training, or a gap between areas, may have "
    "other causes (teams train when they are ready to change; caseloads differ)."
)

VERDICT_LABELS = labels.REACH_VERDICT_LABELS


@dataclass(frozen=True)
class PackSection:
    """One section of the pack as paragraphs, then titled text tables."""

    anchor: str
    title: str
    lines: list[str]
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)


rate_text = labels.rate_text


def _names(engine: Engine, as_of: datetime | None) -> dict[str, str]:
    teams = queries.teams(engine, as_of=as_of)
    return dict(zip(teams["team_id"], teams["name"], strict=True)) if not teams.empty else {}


def surveys_section(
    engine: Engine,
    *,
    as_of: datetime | None,
    synthetic: bool = False,
    elements: Registry = ELEMENTS,
) -> PackSection:
    """The overview's programme table of triangulation flags, as of the pack: the latest
    complete quarter, how many team-enabler pairs are flagged, the flagged rows with both
    rates, their n and the Newcombe interval, and why a flag is a prompt, not a verdict.

    "No surveys" is judged at ``as_of`` (not "does the log hold any now"), so a pack as of a
    past moment keeps its bytes when surveys are imported later."""
    anchor = "triangulation"
    if latest_survey_period(engine, as_of=as_of) is None:
        return PackSection(anchor, SURVEYS_TITLE, [NO_SURVEYS_DEMO if synthetic else NO_SURVEYS])
    table = triangulation.triangulation(engine, as_of=as_of, elements=elements)
    lines = triangulation.pack_lines(table)
    if table.empty:
        return PackSection(anchor, SURVEYS_TITLE, lines)
    shown = flags_table(table, elements.labels)
    if shown.empty:
        return PackSection(anchor, SURVEYS_TITLE, [*lines, NO_FLAGS])
    return PackSection(
        anchor,
        SURVEYS_TITLE,
        lines,
        [(f"Flagged: {triangulation.FLAG_TEXT} ({table['quarter'].iloc[0]})", shown)],
    )


def flags_table(table: pd.DataFrame, names: dict[str, str] | None = None) -> pd.DataFrame:
    """The flagged pairs (``triangulation.pack_table``, the overview's columns and words) with
    each rate beside its n and the interval in one cell, so the table fits an A4 page;
    ``names``: each measure's label (the default registry's when None)."""
    shown = triangulation.pack_table(table, labels.MEASURE_LABELS if names is None else names)
    if shown.empty:
        return shown
    return pd.DataFrame(
        {
            "Team": shown["Team"],
            "Enabler": shown["Enabler"],
            "Case notes (audit sample)": shown["Case notes (audit sample)"]
            + ", n = "
            + shown["Notes n"].astype(str),
            "Patients report": shown["Patients report"] + ", n = " + shown["Surveys n"].astype(str),
            "Difference (notes − patients)": shown["Difference (notes − patients)"],
            "95% interval (Newcombe)": shown["95% interval from"]
            + " to "
            + shown["95% interval to"],
            "Screening flag": shown["Screening flag"].str.replace(
                f" {triangulation.FLAG_TEXT}", "", regex=False
            ),
        }
    )


def before_after_table(summary: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    """Trained clinicians against the same team's not-yet-trained clinicians over the same
    calendar months, before and after training, with n: the Reach page's table."""
    rows = []
    for (team, group), part in summary.groupby(["team", "group"], sort=False):
        w = part.set_index("window")
        b, a = w.loc["before"], w.loc["after"]
        change = b["change"]
        rows.append(
            {
                "Team": names.get(team, team),
                "Group": "trained clinicians"
                if group == "trained"
                else "not yet trained (same team, same months)",
                "Before": rate_text(b["proportion"], b["ci_low"], b["ci_high"], b["denominator"]),
                "After": rate_text(a["proportion"], a["ci_low"], a["ci_high"], a["denominator"]),
                "Change": "—" if pd.isna(change) else f"{reach.signed_points(change)} points",
                "Trained clinicians": str(int(b["trained_clinicians"])),
            }
        )
    return pd.DataFrame(rows)


def gap_table(gaps: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    """The latest quarter's Q1 − Q5 gap per team with its interval, verdict and n."""
    rows = []
    for r in gaps.itertuples(index=False):
        gap = (
            reach.points_interval_text(r.gap, r.gap_low, r.gap_high) if not pd.isna(r.gap) else "—"
        )
        missing = getattr(r, "share_missing", None)
        rows.append(
            {
                "Team": names.get(r.team, r.team),
                "Quarter": r.period,
                "Q1 − Q5 gap (95% interval)": gap,
                "Verdict": VERDICT_LABELS.get(r.verdict, r.verdict),
                "Q1 notes": str(int(r.q1_notes)),
                "Q5 notes": str(int(r.q5_notes)),
                "No quintile": "" if missing is None or pd.isna(missing) else f"{missing:.0%}",
            }
        )
    return pd.DataFrame(rows)


def _all_teams_first(frame: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    """All teams first, then teams by name (the order of ``reach.pack_lines``)."""
    if frame.empty:
        return frame
    key = frame["team"].map(lambda t: (t != reach.ALL_TEAMS, names.get(t, t)))
    return frame.assign(_k=key).sort_values("_k", kind="stable").drop(columns="_k")


def reach_section(
    engine: Engine, *, as_of: datetime | None, elements: Registry = ELEMENTS
) -> PackSection:
    """Training coverage, trained against not-yet-trained clinicians' rates before and after
    training, and the Q1 − Q5 deprivation gap with its interval and flag, every figure with its
    n, for the bundle (every enabler of ``elements``) and the ADP programme as of the pack
    (census of the case notes, observational)."""
    tables = reach.pack_tables(
        engine, as_of=as_of, measure=REACH_MEASURE, programme=REACH_PROGRAMME, elements=elements
    )
    names = _names(engine, as_of)
    named = {
        k: v.assign(team=v["team"].map(lambda t: names.get(t, t))) if not v.empty else v
        for k, v in tables.items()
    }
    measure = elements.labels[REACH_MEASURE]
    lines = [
        OBSERVATIONAL,
        f"Enabler: {measure} (every enabler documented); training programme: "
        f"{REACH_PROGRAMME}; training as of the latest month, deprivation as of the latest "
        "complete quarter, both at the pack's as-of.",
        *reach.pack_lines(named, programme=REACH_PROGRAMME),
    ]
    if tables["coverage"].empty:
        lines.append("No consultations yet.")
    if tables["deprivation"].empty:
        lines.append(
            "No consultation carries an IMD quintile: import consultations with the optional "
            "imd_quintile column (a demo seeded before deprivation existed needs reseeding)."
        )
    out: list[tuple[str, pd.DataFrame]] = []
    summary = _all_teams_first(tables["before_after"], names)
    if not summary.empty:
        out.append(
            (
                f"Before and after training ({reach.WINDOW_MONTHS} calendar months either side of "
                "the training month, which is left out; notes-weighted; complete windows only)",
                before_after_table(summary, names),
            )
        )
    else:
        lines.append("No trained clinician has a complete before and after window yet.")
    gaps = _all_teams_first(tables["deprivation"], names)
    if not gaps.empty:
        out.append(
            (
                "Deprivation: Q1 (most deprived) − Q5 (least), Newcombe 95% interval",
                gap_table(gaps, names),
            )
        )
    return PackSection("reach", REACH_TITLE, lines, out)


def collect_sections(
    engine: Engine,
    *,
    as_of: datetime | None,
    synthetic: bool = False,
    elements: Registry = ELEMENTS,
) -> list[PackSection]:
    """Both sections, in the order the pack prints them (after audit quality, before the
    appendix): who the shift reaches, then case notes beside patient surveys, which stays on
    the page just before the appendix; for the enablers of ``elements``."""
    return [
        reach_section(engine, as_of=as_of, elements=elements),
        surveys_section(engine, as_of=as_of, synthetic=synthetic, elements=elements),
    ]
