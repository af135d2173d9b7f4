"""The Reach page's caching seam and display tables (training and deprivation lenses).

Reads go through ``audit.reach`` (per-team-month aggregates, never the log) and are cached on
the database URL, the log's head position and the as-of cut-off, as every read in
:mod:`dashboard.data`. The display tables spell every rate with its interval and n, and a
stratum with too few notes as "too few notes (n = …)", never as 0%.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import streamlit as st

from audit import labels, reach
from dashboard import data, pack_sections
from dashboard.chart_cache import altair_chart

_CACHE = {"show_spinner": False, "max_entries": 64}
GROUPS = ("trained", "not yet trained")
VERDICT_LABELS = labels.REACH_VERDICT_LABELS


@dataclass(frozen=True)
class ReachCounts:
    clinicians: pd.DataFrame
    quintiles: pd.DataFrame
    training: pd.DataFrame


@st.cache_data(**_CACHE)
def _counts(url: str, head: int, as_of: datetime | None) -> ReachCounts:
    engine, elements = data._engine(url), data._elements(url)  # the wired registry's columns
    return ReachCounts(
        reach.clinician_counts(engine, as_of=as_of, elements=elements),
        reach.imd_counts(engine, as_of=as_of, elements=elements),
        reach.training_records(engine, as_of=as_of),
    )


def counts(snap: data.Snapshot, as_of: datetime | None = None) -> ReachCounts:
    """The reach aggregates as known at ``as_of`` (cached per head position)."""
    return _counts(snap.url, data._at(snap, as_of), as_of)


def programmes(rc: ReachCounts) -> list[str]:
    """Training programmes in the log, ADP first."""
    found = sorted(set(rc.training["programme"])) if not rc.training.empty else []
    return sorted(found, key=lambda p: (p.upper() != "ADP", p)) or ["ADP"]


@dataclass(frozen=True)
class ReachTables:
    """Every figure of the page for one team (or all teams), enabler and programme."""

    coverage: pd.DataFrame
    groups: pd.DataFrame
    before_after: pd.DataFrame
    per_clinician: pd.DataFrame
    quintiles: pd.DataFrame
    gaps: pd.DataFrame
    has_quintiles: bool
    complete_quarter: str | None = None
    """The latest quarter that is over (the newest one may still be running)."""

    def latest_gap(self) -> pd.Series | None:
        """The gap of the latest complete quarter: the one the page gives a verdict for."""
        done = reach.complete_gaps(self.gaps, self.complete_quarter)
        return done.iloc[-1] if not done.empty else None

    def running_quarter(self) -> str | None:
        """The newest quarter in the tables if it is not over yet, else None."""
        if self.gaps.empty:
            return None
        last = str(self.gaps["period"].iloc[-1])
        return last if self.complete_quarter is None or last > self.complete_quarter else None


@st.cache_data(**_CACHE)
def _tables(
    url: str, head: int, as_of: datetime | None, team: str, measure: str, programme: str
) -> ReachTables:
    return tables(_counts(url, head, as_of), team, measure, programme, as_of=as_of)


def cached_tables(
    snap: data.Snapshot, as_of: datetime | None, team: str, measure: str, programme: str
) -> ReachTables:
    return _tables(snap.url, data._at(snap, as_of), as_of, team, measure, programme)


def tables(
    rc: ReachCounts, team: str, measure: str, programme: str, *, as_of: datetime | None = None
) -> ReachTables:
    """The lenses computed for ``team`` (a team id or :data:`reach.ALL_TEAMS`)."""
    cov = reach.coverage(rc.clinicians, rc.training, programme=programme)
    groups = reach.trained_vs_untrained(rc.clinicians, rc.training, measure, programme=programme)
    per = reach.before_after(rc.clinicians, rc.training, measure, programme=programme)
    summary = reach.before_after_summary(per)
    rates = reach.quintile_rates(rc.quintiles, measure)
    gaps = reach.quintile_gap(rates)
    complete = reach.latest_complete_quarter(as_of)
    has_q = bool((rc.quintiles["imd_quintile"] > 0).any()) if not rc.quintiles.empty else False

    def mine(frame: pd.DataFrame) -> pd.DataFrame:
        if frame.empty:
            return frame
        return frame[frame["team"] == team].reset_index(drop=True)

    per_mine = per if team == reach.ALL_TEAMS else mine(per)
    return ReachTables(
        mine(cov), mine(groups), mine(summary), per_mine, mine(rates), mine(gaps), has_q, complete
    )


# ----------------------------------------------------------------------------- display


rate_text = labels.rate_text


def coverage_table(cov: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Month": cov["period"],
            "Active clinicians": cov["active"].astype(int),
            "Trained by the month's end": cov["trained"].astype(int),
            "Share trained": cov["share"].astype(float),
        }
    )


def groups_table(groups: pd.DataFrame) -> pd.DataFrame:
    if groups.empty:
        return pd.DataFrame(columns=["Month", "Trained", "Not yet trained"])
    out: dict[str, dict] = {}
    for r in groups.itertuples(index=False):
        row = out.setdefault(r.period, {"Month": r.period})
        label = "Trained" if r.group == "trained" else "Not yet trained"
        row[label] = rate_text(r.proportion, r.ci_low, r.ci_high, r.denominator)
        row[f"{label}: clinicians"] = int(r.clinicians)
    frame = pd.DataFrame(list(out.values()))
    for col in ("Trained", "Not yet trained"):
        if col not in frame:
            frame[col] = "no notes"
            frame[f"{col}: clinicians"] = 0
    frame = frame.fillna({"Trained": "no notes", "Not yet trained": "no notes"})
    return frame[
        [
            "Month",
            "Trained",
            "Trained: clinicians",
            "Not yet trained",
            "Not yet trained: clinicians",
        ]
    ].fillna(0)


def before_after_table(summary: pd.DataFrame, names: dict[str, str] | None = None) -> pd.DataFrame:
    """Before and after training per team (by its name, from ``names``: id → name): the pack's
    table (:func:`dashboard.pack_sections.before_after_table`, one builder for both), with the
    clinician count as a number for the page's sortable table."""
    if summary.empty:
        return pd.DataFrame(
            columns=["Team", "Group", "Before", "After", "Change", "Trained clinicians"]
        )
    table = pack_sections.before_after_table(summary, names or {})
    table["Trained clinicians"] = table["Trained clinicians"].astype(int)
    return table


def quintile_table(rates: pd.DataFrame) -> pd.DataFrame:
    if rates.empty:
        return pd.DataFrame(columns=["Quarter"])
    out: dict[str, dict] = {}
    for r in rates.itertuples(index=False):
        row = out.setdefault(r.period, {"Quarter": r.period})
        if r.quintile == "missing":
            row["No quintile recorded"] = (
                "—"
                if pd.isna(r.share_missing)
                else f"{r.share_missing:.0%} of notes (n = {int(r.denominator)})"
            )
        else:
            label = f"Q{r.quintile}" + (
                " (most deprived)"
                if r.quintile == 1
                else " (least deprived)"
                if r.quintile == 5
                else ""
            )
            row[label] = rate_text(r.proportion, r.ci_low, r.ci_high, r.denominator)
    return pd.DataFrame(list(out.values()))


def gap_table(gaps: pd.DataFrame) -> pd.DataFrame:
    if gaps.empty:
        return pd.DataFrame(columns=["Quarter", "Q1 − Q5 gap", "Verdict"])
    rows = []
    for r in gaps.itertuples(index=False):
        gap = (
            reach.points_interval_text(r.gap, r.gap_low, r.gap_high) if not pd.isna(r.gap) else "—"
        )
        rows.append(
            {
                "Quarter": r.period,
                "Q1 − Q5 gap": gap,
                "Verdict": VERDICT_LABELS.get(r.verdict, r.verdict),
                "Q1 notes": int(r.q1_notes),
                "Q5 notes": int(r.q5_notes),
            }
        )
    return pd.DataFrame(rows)


def _safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Text cells that a spreadsheet would run as a formula, neutralised."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or str(out[col].dtype).startswith("str"):
            out[col] = out[col].map(
                lambda v: "'" + v if isinstance(v, str) and v[:1] in ("=", "+", "-", "@") else v
            )
    return out


def workbook(sheets: dict[str, pd.DataFrame], about: list[tuple[str, str]]) -> bytes:
    """One xlsx with every table of the page (numbers as numbers) and an "About" sheet."""
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as xl:
        _safe(pd.DataFrame(about, columns=["What", "Value"])).to_excel(
            xl, sheet_name="About", index=False
        )
        for name, frame in sheets.items():
            _safe(frame).to_excel(xl, sheet_name=name[:31], index=False)
    return buf.getvalue()


@st.cache_data(**_CACHE)
def _team_coverage(
    url: str, head: int, as_of: datetime | None, team_id: str
) -> tuple[str, pd.DataFrame]:
    """One team's training coverage (first programme), cached: switching back to a team
    does not fold every clinician-month again."""
    rc = _counts(url, head, as_of)
    programme = programmes(rc)[0]
    cov = reach.coverage(
        rc.clinicians[rc.clinicians["team"] == team_id], rc.training, programme=programme
    )
    return programme, cov[cov["team"] == team_id]


def coverage_strip(
    snap: data.Snapshot,
    team_id: str,
    as_of: datetime | None,
    period_from: str | None = None,
    period_to: str | None = None,
) -> None:
    """Under a team's chart: the share of that month's active clinicians trained (ADP first),
    over the same window of months, with the n in the caption and tooltips."""
    from dashboard import reach_charts

    programme, cov = _team_coverage(snap.url, data._at(snap, as_of), as_of, team_id)
    if period_from:
        cov = cov[cov["period"] >= period_from]
    if period_to:
        cov = cov[cov["period"] <= period_to]
    if cov.empty:
        return
    last = cov.iloc[-1]
    altair_chart(
        ("coverage", snap.url, data._at(snap, as_of), as_of, team_id, period_from, period_to),
        lambda: reach_charts.coverage_chart(cov, height=150),
    )
    st.caption(
        f"Bars: share of the month's active clinicians (≥ 1 consultation) trained in {programme} "
        f"by the month's end; {last['period']}: {int(last['trained'])} of {int(last['active'])}. "
        "More on the Reach page."
    )
