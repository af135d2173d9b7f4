"""The window a comparison of teams pools, decided once in audit so the page and the pack say
the same thing.

The default is the latest complete quarter of *final* data (a quarter all of whose months are
at or before the programme's last final month): three years pooled would mix the
pre-programme baseline with the programme and read 44% where this year reads 70%. Other
windows: one month, a chosen quarter, since each team's own programme start (its ``sip_start``
milestone), or a custom range. Whatever the window, a team's months before its programme
start are left out and the window says so: the baseline is never pooled silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from .measures import to_quarter

MODES = ("quarter", "month", "since_start", "custom")
MODE_LABELS = {
    "quarter": "Latest complete quarter",
    "month": "One month",
    "since_start": "Since each team's programme start",
    "custom": "Custom months",
}


@dataclass(frozen=True)
class CompareWindow:
    """The months pooled per team, and the sentence that says which."""

    mode: str
    period_from: str | None
    period_to: str | None
    label: str
    team_from: dict[str, str] = field(default_factory=dict)  # per team: first month pooled
    excluded_baseline: tuple[str, ...] = ()  # teams whose pre-programme months were left out

    def select(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Rows (team, period, …) inside the window, each team from its own first month."""
        keep = pd.Series(True, index=rows.index)
        if self.period_from:
            keep &= rows["period"] >= self.period_from
        if self.period_to:
            keep &= rows["period"] <= self.period_to
        if self.team_from:
            starts = rows["team"].map(self.team_from).fillna("0000-00")
            keep &= rows["period"] >= starts
        return rows[keep]

    @property
    def text(self) -> str:
        """The window as printed on the page and in the pack."""
        if not self.excluded_baseline:
            return self.label
        return (
            f"{self.label}; months before a team's programme start left out "
            f"({len(self.excluded_baseline)} team{'s' if len(self.excluded_baseline) > 1 else ''})"
        )


def quarter_bounds(quarter: str) -> tuple[str, str]:
    """``2025-Q2`` → (``2025-04``, ``2025-06``)."""
    year, q = quarter.split("-Q")
    first = (int(q) - 1) * 3 + 1
    return f"{year}-{first:02d}", f"{year}-{first + 2:02d}"


def latest_complete_quarter(last_final: str) -> str:
    """The latest quarter whose three months are all at or before ``last_final``."""
    year, month = int(last_final[:4]), int(last_final[5:7])
    if month % 3 == 0:
        return to_quarter(last_final)
    q = (month - 1) // 3  # the previous quarter, 0 means Q4 of the year before
    return f"{year}-Q{q}" if q else f"{year - 1}-Q4"


def last_final_period(measures: pd.DataFrame) -> str | None:
    rows = measures[measures["denominator"] > 0]
    if "provisional" in rows:
        rows = rows[~rows["provisional"].astype(bool)]
    return None if rows.empty else str(rows["period"].max())


def compare_window(
    measures: pd.DataFrame,
    sip_starts: dict[str, str],
    mode: str = "quarter",
    *,
    period: str | None = None,
    period_from: str | None = None,
    period_to: str | None = None,
) -> CompareWindow:
    """Decide the window. ``measures``: the audit measures (team, period, denominator,
    provisional); ``sip_starts``: team → first programme month (``YYYY-MM``). ``period`` is the
    month (mode month) or quarter ``YYYY-Qn`` (mode quarter; default the latest complete one)."""
    if mode not in MODES:
        raise ValueError(f"window must be one of {', '.join(MODES)}, got {mode!r}")
    last = last_final_period(measures)
    if last is None:
        return CompareWindow(mode, None, None, "no final audited month yet")
    team_from: dict[str, str] = {}
    lo: str | None  # None: from the first month
    hi: str | None  # None: to the last final month
    if mode == "quarter":
        quarter = period or latest_complete_quarter(last)
        lo, hi = quarter_bounds(quarter)
        label = f"{quarter} ({lo} to {hi})"
        if not period:
            label = f"the latest complete quarter of final data, {label}"
    elif mode == "month":
        lo = hi = period or last
        label = f"the month {lo}"
    elif mode == "since_start":
        lo, hi = None, last
        label = f"since each team's programme start, to {last}"
    else:
        lo, hi = period_from, period_to
        label = f"{lo or 'the first month'} to {hi or last}"
    teams = sorted(set(measures["team"])) if not measures.empty else []
    excluded = []
    for team in teams:
        start = sip_starts.get(team)
        if start is None:
            continue
        if lo is None or lo < start:
            team_from[team] = start
            rows = measures[(measures["team"] == team) & (measures["period"] < start)]
            if lo is not None:
                rows = rows[rows["period"] >= lo]
            if hi is not None:
                rows = rows[rows["period"] <= hi]
            if not rows.empty:
                excluded.append(team)
    return CompareWindow(mode, lo, hi, label, team_from, tuple(excluded))


def sip_starts_from_facts(facts: pd.DataFrame) -> dict[str, str]:
    """team → month of its first ``sip_start`` milestone (``queries.team_facts`` rows)."""
    if facts.empty or "kind" not in facts:
        return {}
    starts = facts[(facts["type"] == "MilestoneLogged") & (facts["kind"] == "sip_start")]
    out: dict[str, str] = {}
    for row in starts.itertuples():
        month = str(row.on)[:7]
        out[row.team_id] = min(out.get(row.team_id, month), month)
    return out
