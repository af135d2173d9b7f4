"""Who the shift reaches: the training lens and the deprivation lens (DESIGN: "Who the shift
reaches"; "Decisions for the second version" → "Surveys, training, deprivation").

Both lenses are census-based (every consultation's notes, not the audit sample: strata are too
small for it) and read the per-team-month aggregates ``rm_reach_clinician`` and
``rm_reach_imd`` plus ``rm_training``, exactly as known at ``as_of`` (the same day-plus-window
method as the census), so their cost depends on teams × months × clinicians, never on the size
of the log. Everything after the reads is pure and unit-tested.

Observational figures: a rate that rises after training is not evidence that training caused
it (teams train when they are ready to change; other things change at the same time). Every
figure carries its n.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import Engine

from events.elements import ALL, ELEMENTS, Registry
from events.types import IMD_VERSION

from . import queries, stats
from .csv_rows import parse_imd_quintile  # the one reading of the CSV cell
from .measures import to_quarter
from .queries import training_records as training_records  # the read-model reads live in queries
from .stats import Z_95, wilson_interval

__all__ = [
    "ALL_TEAMS",
    "IMD_VERSION",
    "MIN_STRATUM",
    "WINDOW_MONTHS",
    "before_after",
    "before_after_summary",
    "clinician_counts",
    "complete_gaps",
    "coverage",
    "imd_counts",
    "latest_complete_quarter",
    "newcombe_difference",
    "parse_imd_quintile",
    "points_interval_text",
    "quintile_gap",
    "quintile_rates",
    "shift_period",
    "signed_points",
    "trained_vs_untrained",
    "training_records",
]

#: A stratum (a quintile, a group of clinicians in a month) with fewer notes than this is shown
#: as "too few notes", never as a rate (and never as 0%).
MIN_STRATUM = 10
#: Calendar months either side of the training month (which is excluded) for before/after.
WINDOW_MONTHS = 3
#: The label of the programme-wide aggregate in every table.
ALL_TEAMS = "All teams"


def count_columns(elements: Registry = ELEMENTS) -> list[str]:
    """The count columns of the reach read models for ``elements`` (their layout derives from
    the registry): each measure's numerator; ``notes``, which counts activity (active
    clinicians); each measure's ``den_<measure>``, its denominator: notes less those with the
    element (any, for the bundle) not applicable."""
    return [*elements.measures, "notes", *(f"den_{m}" for m in elements.measures)]


# ------------------------------------------------------------------------------------ reads


def _stratum_counts(
    engine: Engine,
    stratum: str,
    table: str,
    as_of: datetime | None,
    team: str | None,
    elements: Registry,
) -> pd.DataFrame:
    """Census counts per team × month × stratum as known at ``as_of``: running totals, or the
    per-day totals of earlier days plus the exact changes of the cutoff's own day."""
    columns = count_columns(elements)
    rows = queries.stratum_counts(
        engine, stratum, table, columns, as_of=as_of, team=team, elements=elements
    )
    out = pd.DataFrame(rows, columns=["team", "period", stratum, *columns])
    out = out[out["notes"] > 0] if not out.empty else out
    out = out.astype({c: int for c in columns})
    return out.sort_values(["team", "period", stratum]).reset_index(drop=True)


def clinician_counts(
    engine: Engine,
    *,
    as_of: datetime | None = None,
    team: str | None = None,
    elements: Registry = ELEMENTS,
) -> pd.DataFrame:
    """Census counts per team × month × clinician (a clinician with ≥ 1 note that month is
    active): team, period, clinician_id, each measure's numerator, notes, each denominator."""
    return _stratum_counts(engine, "clinician_id", "rm_reach_clinician", as_of, team, elements)


def imd_counts(
    engine: Engine,
    *,
    as_of: datetime | None = None,
    team: str | None = None,
    elements: Registry = ELEMENTS,
) -> pd.DataFrame:
    """Census counts per team × month × IMD quintile (0 = not given)."""
    return _stratum_counts(engine, "imd_quintile", "rm_reach_imd", as_of, team, elements)


# ------------------------------------------------------------------------------- helpers


def shift_period(period: str, months: int) -> str:
    """``2024-11`` shifted by ``months`` calendar months (``shift_period("2024-11", 3)`` is
    ``2025-02``)."""
    year, month = (int(x) for x in period.split("-"))
    total = year * 12 + month - 1 + months
    return f"{total // 12:04d}-{total % 12 + 1:02d}"


def _rate(num: int, den: int) -> dict:
    """Proportion and Wilson 95% interval, or None for each when the stratum is too small."""
    small = den < MIN_STRATUM
    lo, hi = wilson_interval(int(num), int(den)) if den else (None, None)
    return {
        "numerator": int(num),
        "denominator": int(den),
        "proportion": None if small else num / den,
        "ci_low": None if small else lo,
        "ci_high": None if small else hi,
        "small": small,
    }


def _denominator(counts: pd.DataFrame, measure: str) -> pd.Series:
    """The measure's denominator per row: ``den_<measure>`` (not-applicable notes left out, as
    in the census), or ``notes`` for a frame without it (made before the column existed)."""
    column = f"den_{measure}"
    return counts[column] if column in counts.columns else counts["notes"]


def _trained_month(training: pd.DataFrame, programme: str | None) -> dict[str, str]:
    """Each clinician's training month (the earliest, for the chosen programme or any)."""
    if training.empty:
        return {}
    rows = training if programme is None else training[training["programme"] == programme]
    first = rows.groupby("clinician_id")["trained_on"].min()
    return {cid: on[:7] for cid, on in first.items()}


def _with_all_teams(frame: pd.DataFrame, keys: list[str], values: list[str]) -> pd.DataFrame:
    """``frame`` plus its sum over teams, labelled :data:`ALL_TEAMS`."""
    if frame.empty:
        return frame
    if keys:
        total = frame.groupby(keys, as_index=False)[values].sum()
    else:
        total = pd.DataFrame([frame[values].sum()])
    total.insert(0, "team", ALL_TEAMS)
    return pd.concat([frame, total], ignore_index=True)


# --------------------------------------------------------------------------- training lens


def coverage(
    counts: pd.DataFrame, training: pd.DataFrame, *, programme: str | None = None
) -> pd.DataFrame:
    """Per team-month (and programme-wide): active clinicians (≥ 1 consultation that month),
    how many of them were trained by the end of the month, and the share."""
    trained = _trained_month(training, programme)
    columns = ["team", "period", "active", "trained", "share"]
    if counts.empty:
        return pd.DataFrame(columns=columns)
    per: dict[tuple[str, str], list[int]] = {}
    for team, period, cid, notes in zip(
        counts["team"], counts["period"], counts["clinician_id"], counts["notes"], strict=True
    ):
        if notes <= 0:
            continue
        is_trained = int(trained.get(cid, "9999-99") <= period)
        for key in ((team, period), (ALL_TEAMS, period)):
            acc = per.setdefault(key, [0, 0])
            acc[0] += 1
            acc[1] += is_trained
    frame = pd.DataFrame([(t, p, a, n, n / a) for (t, p), (a, n) in per.items()], columns=columns)
    return frame[columns].sort_values(["team", "period"]).reset_index(drop=True)


def _status(periods: pd.Series, clinicians: pd.Series, trained: dict[str, str]) -> list[str]:
    """trained (in an earlier month), training month (this one), or not yet trained."""
    out = []
    for period, cid in zip(periods, clinicians, strict=True):
        month = trained.get(cid)
        if month is None or month > period:
            out.append("not yet trained")
        elif month == period:
            out.append("training month")
        else:
            out.append("trained")
    return out


def trained_vs_untrained(
    counts: pd.DataFrame,
    training: pd.DataFrame,
    measure: str,
    *,
    programme: str | None = None,
) -> pd.DataFrame:
    """Per team-month (and programme-wide), the documentation rate of the notes of clinicians
    trained in an earlier month and of clinicians not yet trained, each with its Wilson
    interval, notes and clinicians. A clinician's training month counts in neither group."""
    columns = ["team", "period", "group", "clinicians", *_rate(0, 0)]
    if counts.empty:
        return pd.DataFrame(columns=columns)
    trained = _trained_month(training, programme)
    groups = _status(counts["period"], counts["clinician_id"], trained)
    per: dict[tuple[str, str, str], list[int]] = {}
    dens = _denominator(counts, measure)
    for team, period, group, x, n in zip(
        counts["team"], counts["period"], groups, counts[measure], dens, strict=True
    ):
        if group == "training month":
            continue
        for key in ((team, period, group), (ALL_TEAMS, period, group)):
            acc = per.setdefault(key, [0, 0, 0])
            acc[0] += int(x)
            acc[1] += int(n)
            acc[2] += 1
    rows = [
        {"team": t, "period": p, "group": g, "clinicians": c} | _rate(x, n)
        for (t, p, g), (x, n, c) in per.items()
    ]
    out = pd.DataFrame(rows, columns=columns)
    return out.sort_values(["team", "period", "group"]).reset_index(drop=True)


def before_after(
    counts: pd.DataFrame,
    training: pd.DataFrame,
    measure: str,
    *,
    programme: str | None = None,
    last_period: str | None = None,
) -> pd.DataFrame:
    """Per trained clinician: notes-weighted rates in the 3 calendar months before and the 3
    after the training month (excluded), and the same calendar months' rates of the clinicians
    of the same team not yet trained by the end of the after-window (the comparison).

    ``complete`` is False when the after-window runs past ``last_period`` (default: the latest
    month with notes) or either window has no notes of the clinician: such rows are listed but
    left out of :func:`before_after_summary`."""
    columns = [
        "team", "clinician_id", "trained_month",
        "before_num", "before_den", "after_num", "after_den",
        "comp_before_num", "comp_before_den", "comp_after_num", "comp_after_den",
        "comparison_clinicians", "complete",
    ]  # fmt: skip
    months = _trained_month(training, programme)
    if counts.empty or not months:
        return pd.DataFrame(columns=columns)
    last = last_period or counts["period"].max()
    team_of = training.drop_duplicates("clinician_id").set_index("clinician_id")["team"]
    by = {
        (t, c, p): (int(x), int(n))
        for t, c, p, x, n in zip(
            counts["team"],
            counts["clinician_id"],
            counts["period"],
            counts[measure],
            _denominator(counts, measure),
            strict=True,
        )
    }
    per_team = counts.groupby("team")["clinician_id"].unique()

    def _sum(team: str, who: list[str], periods: list[str]) -> tuple[int, int]:
        num = den = 0
        for other in who:
            for p in periods:
                x, n = by.get((team, other, p), (0, 0))
                num += x
                den += n
        return num, den

    rows = []
    for cid, month in sorted(months.items(), key=lambda kv: (kv[1], kv[0])):
        team = team_of.get(cid)
        if team not in per_team.index:
            continue
        before = [shift_period(month, -k) for k in range(WINDOW_MONTHS, 0, -1)]
        after = [shift_period(month, k) for k in range(1, WINDOW_MONTHS + 1)]
        horizon = after[-1]
        comparison = [
            other
            for other in per_team[team]
            if other != cid and (months.get(other) is None or months[other] > horizon)
        ]
        bn, bd = _sum(team, [cid], before)
        an, ad = _sum(team, [cid], after)
        cbn, cbd = _sum(team, comparison, before)
        can, cad = _sum(team, comparison, after)
        rows.append(
            [
                team, cid, month, bn, bd, an, ad, cbn, cbd, can, cad, len(comparison),
                horizon <= last and bd > 0 and ad > 0,
            ]
        )  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def before_after_summary(per_clinician: pd.DataFrame) -> pd.DataFrame:
    """:func:`before_after` aggregated per team and programme-wide (complete rows only),
    notes-weighted: trained clinicians' rates before and after, the comparison's over the same
    calendar months, each with a Wilson interval and n, and the two changes. A comparison
    clinician counts once for each trained clinician it is compared with."""
    sums = [
        "before_num", "before_den", "after_num", "after_den",
        "comp_before_num", "comp_before_den", "comp_after_num", "comp_after_den",
    ]  # fmt: skip
    done = (
        per_clinician[per_clinician["complete"].astype(bool)]
        if not per_clinician.empty
        else per_clinician
    )
    if done.empty:
        return pd.DataFrame(
            columns=["team", "trained_clinicians", "window", "group", *_rate(0, 0), "change"]
        )
    done = done.assign(trained_clinicians=1)
    per = done.groupby("team", as_index=False)[[*sums, "trained_clinicians"]].sum()
    per = _with_all_teams(per, [], [*sums, "trained_clinicians"])
    rows = []
    for r in per.itertuples(index=False):
        for group, prefix in (("trained", ""), ("not yet trained", "comp_")):
            before = _rate(getattr(r, f"{prefix}before_num"), getattr(r, f"{prefix}before_den"))
            after = _rate(getattr(r, f"{prefix}after_num"), getattr(r, f"{prefix}after_den"))
            change = (
                None
                if before["proportion"] is None or after["proportion"] is None
                else after["proportion"] - before["proportion"]
            )
            for window, rate in (("before", before), ("after", after)):
                rows.append(
                    {
                        "team": r.team,
                        "trained_clinicians": int(r.trained_clinicians),
                        "window": window,
                        "group": group,
                    }
                    | rate
                    | {"change": change}
                )
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------ deprivation lens


def newcombe_difference(
    x1: int, n1: int, x2: int, n2: int, z: float = Z_95
) -> tuple[float | None, float | None, float | None]:
    """:func:`audit.stats.newcombe_difference` as a row's three cells: (None, None, None) when
    either n is 0 (Newcombe's example: 56/70 − 48/80 = 0.2, interval 0.0524 to 0.3339)."""
    diff = stats.newcombe_difference(x1, n1, x2, n2, z)
    return (None, None, None) if diff is None else diff


def quintile_rates(counts: pd.DataFrame, measure: str, *, quarterly: bool = True) -> pd.DataFrame:
    """Per team-quarter (and programme-wide): each quintile's rate with its Wilson interval
    and n — every quintile 1–5 listed, one with fewer than :data:`MIN_STRATUM` notes given no
    rate (``small``) — and the share of notes with no quintile (``missing``)."""
    columns = ["team", "period", "quintile", *_rate(0, 0), "share_missing"]
    if counts.empty:
        return pd.DataFrame(columns=columns)
    cells: dict[tuple[str, str], dict[int, list[int]]] = {}
    for team, period, q, x, n, notes in zip(
        counts["team"],
        counts["period"],
        counts["imd_quintile"],
        counts[measure],
        _denominator(counts, measure),
        counts["notes"],
        strict=True,
    ):
        label = to_quarter(period) if quarterly else period
        for key in ((team, label), (ALL_TEAMS, label)):
            acc = cells.setdefault(key, {}).setdefault(int(q), [0, 0, 0])
            acc[0] += int(x)
            acc[1] += int(n)
            acc[2] += int(notes)
    rows = []
    for (team, period), by_q in sorted(cells.items()):
        total = sum(c[2] for c in by_q.values())
        missing = by_q.get(0, (0, 0, 0))[2] / total if total else None
        for q in (1, 2, 3, 4, 5, 0):
            x, n, _notes = by_q.get(q, (0, 0, 0))
            rows.append(
                {"team": team, "period": period, "quintile": q if q else "missing"}
                | _rate(x, n)
                | {"share_missing": missing}
            )
    return pd.DataFrame(rows, columns=columns)


def quintile_gap(rates: pd.DataFrame) -> pd.DataFrame:
    """Per team-period: the quintile 1 − quintile 5 gap with its Newcombe 95% interval and a
    verdict: "less often" (the most deprived get the enabler significantly less often: the
    interval lies below 0), "more often", "no clear gap", or "too few notes" (either quintile
    has fewer than :data:`MIN_STRATUM` notes: no gap is computed)."""
    columns = [
        "team", "period", "q1_numerator", "q1_notes", "q5_numerator", "q5_notes",
        "gap", "gap_low", "gap_high", "verdict",
    ]  # fmt: skip
    if rates.empty:
        return pd.DataFrame(columns=columns)
    ends: dict[tuple[str, str], dict] = {}
    for team, period, q, x, n in zip(
        rates["team"],
        rates["period"],
        rates["quintile"],
        rates["numerator"],
        rates["denominator"],
        strict=True,
    ):
        if q in (1, 5):
            ends.setdefault((team, period), {})[q] = (int(x), int(n))
    rows = []
    for (team, period), q in sorted(ends.items()):
        (x1, n1), (x5, n5) = q.get(1, (0, 0)), q.get(5, (0, 0))
        enough = n1 >= MIN_STRATUM and n5 >= MIN_STRATUM
        diff = stats.newcombe_difference(x1, n1, x5, n5) if enough else None
        gap: float | None = None
        low: float | None = None
        high: float | None = None
        if diff is None:
            verdict = "too few notes"
        else:
            gap, low, high = diff
            verdict = "less often" if high < 0 else "more often" if low > 0 else "no clear gap"
        rows.append([team, period, x1, n1, x5, n5, gap, low, high, verdict])
    return pd.DataFrame(rows, columns=columns)


# ------------------------------------------------------------------------------- the pack


def pack_tables(
    engine: Engine,
    *,
    as_of: datetime | None = None,
    measure: str = ALL,
    programme: str = "ADP",
    elements: Registry = ELEMENTS,
) -> dict[str, pd.DataFrame]:
    """The review pack's "Who the shift reaches" section, as plain tables (one row per team and
    one for all teams; every figure with its n), for ``dashboard/pack.py`` to render:

    - ``coverage``: the latest month's active clinicians and how many were trained;
    - ``before_after``: trained clinicians' rates before and after training and the same
      months' not-yet-trained clinicians (complete windows only);
    - ``deprivation``: the latest complete quarter's Q1 − Q5 gap with its interval and verdict, and the
      share of notes with no quintile.
    """
    counts = clinician_counts(engine, as_of=as_of, elements=elements)
    training = training_records(engine, as_of=as_of)
    cov = coverage(counts, training, programme=programme)
    latest_cov = cov.groupby("team", as_index=False).tail(1).reset_index(drop=True)
    summary = before_after_summary(before_after(counts, training, measure, programme=programme))
    imd = imd_counts(engine, as_of=as_of, elements=elements)
    rates = quintile_rates(imd, measure)
    gaps = complete_gaps(quintile_gap(rates), latest_complete_quarter(as_of))
    latest_gap = gaps.groupby("team", as_index=False).tail(1).reset_index(drop=True)
    if not latest_gap.empty:
        missing = rates[rates["quintile"] == "missing"][["team", "period", "share_missing"]]
        latest_gap = latest_gap.merge(missing, on=["team", "period"], how="left")
    return {"coverage": latest_cov, "before_after": summary, "deprivation": latest_gap}


def _pct(x: float | None) -> str:
    return "—" if x is None or pd.isna(x) else f"{x:.0%}"


def pack_lines(tables: dict[str, pd.DataFrame], *, programme: str = "ADP") -> list[str]:
    """:func:`pack_tables` as plain sentences, one per team (all teams first), each with its
    n, for a pack section titled "Who the shift reaches (observational)"."""
    lines = [
        "Figures from the census of case notes: they show who was trained and whose patients' "
        "notes document the enablers, not that training caused a change.",
        f"Deprivation: national IMD quintile of the patient's area ({IMD_VERSION}); a quintile "
        f"with fewer than {MIN_STRATUM} notes has no rate.",
    ]
    cov = tables["coverage"]
    order = [ALL_TEAMS, *sorted(t for t in cov["team"] if t != ALL_TEAMS)] if not cov.empty else []
    by_gap = tables["deprivation"].set_index("team") if not tables["deprivation"].empty else None
    for team in order:
        c = cov[cov["team"] == team].iloc[0]
        text = (
            f"{team}: {int(c['trained'])} of {int(c['active'])} active clinicians trained in "
            f"{programme} ({c['period']})"
        )
        if by_gap is not None and team in by_gap.index:
            g = by_gap.loc[team]
            if g["verdict"] == "too few notes":
                text += f"; {g['period']}: too few notes for the Q1 − Q5 gap"
            else:
                text += (
                    f"; {g['period']} Q1 − Q5 gap {signed_points(g['gap'])} points "
                    f"({signed_points(g['gap_low'])} to {signed_points(g['gap_high'])}; "
                    f"n = {int(g['q1_notes'])} and {int(g['q5_notes'])}): {g['verdict']}"
                )
        lines.append(text + ".")
    return lines


# ------------------------------------------------------------------------------ wording


MINUS = "\u2212"
"""The minus sign (U+2212), not a hyphen, in every signed figure of the reach lenses."""


def signed_points(value: float) -> str:
    """A proportion difference as signed percentage points: ``+5``, ``−3`` (a minus sign),
    and ``0`` for anything that rounds to zero (never ``-0`` or ``+0``)."""
    points = round(float(value) * 100)
    if points == 0:
        return "0"
    return f"+{points}" if points > 0 else f"{MINUS}{-points}"


def points_interval_text(gap: float, low: float, high: float) -> str:
    """``−8 points (−15 to −1)``: a difference with its 95% interval, signed as above."""
    return f"{signed_points(gap)} points ({signed_points(low)} to {signed_points(high)})"


def latest_complete_quarter(as_of: datetime | None = None) -> str:
    """The newest quarter that is over at ``as_of`` (now if None): its last day has passed.
    A quarter still running is shown, but no "latest quarter" verdict is given for it."""
    day = (as_of or datetime.now(UTC)).date()
    year, month = day.year, day.month
    over = month - 1 - (month - 1) % 3  # the last month of the quarter before this one
    return to_quarter(f"{year:04d}-{over:02d}") if over else f"{year - 1:04d}-Q4"


def complete_gaps(gaps: pd.DataFrame, complete: str | None) -> pd.DataFrame:
    """The gap rows of complete quarters only (at or before ``complete``): a quarter still
    running is never the "latest quarter" a verdict is given for."""
    if gaps.empty or complete is None:
        return gaps.iloc[0:0]
    return gaps[gaps["period"] <= complete].reset_index(drop=True)
