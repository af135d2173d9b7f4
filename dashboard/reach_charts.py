"""Altair charts of the reach lenses (pure: frames in, charts out; no streamlit).

Every point carries its n in the tooltip; strata with too few notes are left out of the lines
(a break, never a 0%) and listed as such in the tables beside the charts.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

TRAINED_COLOURS = {"trained": "#005EB8", "not yet trained": "#A6A6A6"}
QUINTILE_COLOURS = ["#E46C0A", "#F4A460", "#A6A6A6", "#7FB2E5", "#005EB8"]
VERDICT_COLOURS = {
    "less often": "#E46C0A",
    "no clear gap": "#A6A6A6",
    "more often": "#490092",
    "too few notes": "#D8DDE0",
}


def _next_month(period: str) -> str:
    """The month (``2024-12`` → ``2025-01``) or quarter (``2024-Q4`` → ``2025-Q1``) after."""
    year, part = period.split("-")
    if part.startswith("Q"):
        q = int(part[1:])
        return f"{int(year) + q // 4:04d}-Q{q % 4 + 1}"
    month = int(part)
    return f"{int(year) + month // 12:04d}-{month % 12 + 1:02d}"


def _segments(frame: pd.DataFrame, by: str) -> pd.DataFrame:
    """A ``segment`` id per run of consecutive months of each ``by`` value, so a line breaks
    at a month with no drawable point instead of bridging it (gaps are never bridged)."""
    frame = frame.sort_values([by, "period"])
    ids, previous, counter = [], {}, 0
    for key, period in zip(frame[by], frame["period"], strict=True):
        if previous.get(key) is None or _next_month(previous[key]) != period:
            counter += 1
        previous[key] = period
        ids.append(f"{key}-{counter}")
    return frame.assign(segment=ids)


def coverage_chart(cov: pd.DataFrame, *, height: int = 170) -> alt.Chart:
    """Share of the month's active clinicians trained, one bar per month."""
    frame = cov.assign(share=cov["share"].astype(float))
    return (
        alt.Chart(frame)
        .mark_bar(color="#005EB8", opacity=0.75)
        .encode(
            x=alt.X("period:O", title=None, axis=alt.Axis(labelAngle=-45)),
            y=alt.Y(
                "share:Q",
                title="Trained",
                axis=alt.Axis(format="%"),
                scale=alt.Scale(domain=[0, 1]),
            ),
            tooltip=[
                alt.Tooltip("period:O", title="Month"),
                alt.Tooltip("active:Q", title="Active clinicians"),
                alt.Tooltip("trained:Q", title="Trained"),
                alt.Tooltip("share:Q", title="Share", format=".0%"),
            ],
        )
        .properties(height=height)
    )


def groups_chart(groups: pd.DataFrame) -> alt.Chart:
    """Trained vs not-yet-trained clinicians' census rate per month, with Wilson intervals."""
    frame = _segments(groups[~groups["small"].astype(bool)].copy(), "group")
    for col in ("proportion", "ci_low", "ci_high"):
        frame[col] = frame[col].astype(float)
    colour = alt.Color(
        "group:N",
        title="Clinicians",
        scale=alt.Scale(domain=list(TRAINED_COLOURS), range=list(TRAINED_COLOURS.values())),
    )
    base = alt.Chart(frame).encode(x=alt.X("period:O", title=None, axis=alt.Axis(labelAngle=-45)))
    tooltip = [
        alt.Tooltip("period:O", title="Month"),
        alt.Tooltip("group:N", title="Clinicians"),
        alt.Tooltip("proportion:Q", title="Documented", format=".0%"),
        alt.Tooltip("ci_low:Q", title="95% from", format=".0%"),
        alt.Tooltip("ci_high:Q", title="95% to", format=".0%"),
        alt.Tooltip("denominator:Q", title="Notes (n)"),
        alt.Tooltip("clinicians:Q", title="Clinicians"),
    ]
    band = base.mark_area(opacity=0.15).encode(
        y=alt.Y("ci_low:Q", title="Notes documenting it", axis=alt.Axis(format="%")),
        y2="ci_high:Q",
        color=colour,
        detail="segment:N",
    )
    line = base.mark_line(point=True).encode(
        y="proportion:Q", color=colour, detail="segment:N", tooltip=tooltip
    )
    return (band + line).properties(height=260)


def quintile_chart(rates: pd.DataFrame) -> alt.Chart:
    """Rate per IMD quintile per quarter (quintiles with too few notes left out)."""
    frame = rates[(rates["quintile"] != "missing") & ~rates["small"].astype(bool)].copy()
    frame = _segments(frame.assign(q=frame["quintile"].astype(str)), "q")
    frame["Quintile"] = frame["quintile"].map(
        lambda q: f"Q{q}" + (" most deprived" if q == 1 else " least deprived" if q == 5 else "")
    )
    for col in ("proportion", "ci_low", "ci_high"):
        frame[col] = frame[col].astype(float)
    domain = ["Q1 most deprived", "Q2", "Q3", "Q4", "Q5 least deprived"]
    return (
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            x=alt.X("period:O", title=None),
            y=alt.Y("proportion:Q", title="Notes documenting it", axis=alt.Axis(format="%")),
            color=alt.Color(
                "Quintile:N", scale=alt.Scale(domain=domain, range=QUINTILE_COLOURS), title="IMD"
            ),
            detail="segment:N",
            tooltip=[
                alt.Tooltip("period:O", title="Quarter"),
                "Quintile:N",
                alt.Tooltip("proportion:Q", title="Documented", format=".0%"),
                alt.Tooltip("ci_low:Q", title="95% from", format=".0%"),
                alt.Tooltip("ci_high:Q", title="95% to", format=".0%"),
                alt.Tooltip("denominator:Q", title="Notes (n)"),
            ],
        )
        .properties(height=260)
    )


def gap_chart(gaps: pd.DataFrame, milestones: pd.DataFrame | None = None) -> alt.Chart:
    """The Q1 − Q5 gap per quarter with its Newcombe 95% interval; below 0 = the most deprived
    get it less often. Quarters with too few notes at either end have no point."""
    frame = gaps.dropna(subset=["gap"]).copy()
    for col in ("gap", "gap_low", "gap_high"):
        frame[col] = frame[col].astype(float)
    colour = alt.Color(
        "verdict:N",
        title="Verdict",
        scale=alt.Scale(domain=list(VERDICT_COLOURS), range=list(VERDICT_COLOURS.values())),
    )
    base = alt.Chart(frame).encode(x=alt.X("period:O", title=None))
    tooltip = [
        alt.Tooltip("period:O", title="Quarter"),
        alt.Tooltip("gap:Q", title="Q1 − Q5", format="+.0%"),
        alt.Tooltip("gap_low:Q", title="95% from", format="+.0%"),
        alt.Tooltip("gap_high:Q", title="95% to", format="+.0%"),
        alt.Tooltip("q1_notes:Q", title="Q1 notes"),
        alt.Tooltip("q5_notes:Q", title="Q5 notes"),
        alt.Tooltip("verdict:N", title="Verdict"),
    ]
    rules = base.mark_rule(strokeWidth=2).encode(
        y=alt.Y("gap_low:Q", title="Q1 − Q5 (points)", axis=alt.Axis(format="+%")),
        y2="gap_high:Q",
        color=colour,
    )
    points = base.mark_point(filled=True, size=70).encode(y="gap:Q", color=colour, tooltip=tooltip)
    zero = alt.Chart(pd.DataFrame({"y": [0.0]})).mark_rule(color="#212B32").encode(y="y:Q")
    layers = [zero, rules, points]
    if milestones is not None and not milestones.empty:
        marks = milestones.assign(period=milestones["quarter"])
        marks = marks[marks["period"].isin(frame["period"])]
        if not marks.empty:
            layers.append(
                alt.Chart(marks)
                .mark_rule(color="#490092", strokeDash=[4, 3])
                .encode(x="period:O", tooltip=[alt.Tooltip("title:N", title="Change idea")])
            )
    return alt.layer(*layers).properties(height=240)
