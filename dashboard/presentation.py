"""How the dashboard shows things: badge words and colours, and display tables shaped from
the views' frames (pure pandas: no streamlit, no database, unit-testable).

Split out of ``dashboard/data.py`` (which keeps the caching seam); ``data`` re-exports these
names so pages may use either.
"""

from __future__ import annotations

import pandas as pd

from audit import labels
from audit.views import TeamChart
from events.elements import ELEMENTS, Registry

# One set of words and colours for the dashboard and the pack (audit/labels.py).
VARIATION_BADGES: dict[str | None, str] = labels.VARIATION_BADGES
ASSURANCE_BADGES: dict[str | None, str] = labels.ASSURANCE_BADGES
ASSURANCE_MEANING: dict[str | None, str] = labels.ASSURANCE_MEANING
BADGE_COLOURS: dict[str, tuple[str, str]] = {
    # badge text: (background, text colour); the NHS "Making Data Count" icon colours, each
    # with words, so colour is never the only signal.
    VARIATION_BADGES["improvement"]: ("#00B0F0", "#000000"),
    VARIATION_BADGES["concern"]: ("#E46C0A", "#000000"),
    VARIATION_BADGES["neither"]: ("#490092", "#FFFFFF"),
    VARIATION_BADGES["common_cause"]: ("#A6A6A6", "#000000"),
    ASSURANCE_BADGES["pass"]: ("#00B0F0", "#000000"),
    ASSURANCE_BADGES["fail"]: ("#E46C0A", "#000000"),
    ASSURANCE_BADGES["hit_or_miss"]: ("#A6A6A6", "#000000"),
    ASSURANCE_BADGES["not_assessable"]: ("#FFEB3B", "#000000"),
}
FINDING_BADGES = {"yes": "✔ yes", "no": "✘ no", "not_applicable": "– n/a"}
CHART_TYPES = {"p": "p-chart", "xmr": "XmR", "run": "Run chart"}
SMALL_SAMPLE_BADGE = "⚠ small (n < 10)"


def changes_table(changes: pd.DataFrame) -> pd.DataFrame:
    """The change list as shown: team, enabler, what changed, then and now (in badge words)."""
    return pd.DataFrame(
        {
            "Team": changes["team"],
            "Enabler": changes["measure_label"],
            "What changed": changes["field_label"],
            "Then": changes["then_label"],
            "Now": changes["now_label"],
        }
    )


def filter_grid(
    grid: pd.DataFrame,
    *,
    site: str | None = None,
    service: str | None = None,
    measure: str | None = None,
) -> pd.DataFrame:
    """Rows of the overview grid for the chosen site, service and enabler (order kept)."""
    if grid.empty:
        return grid
    keep = pd.Series(True, index=grid.index)
    if site:
        keep &= grid["site"] == site
    if service:
        keep &= grid["service"] == service
    if measure:
        keep &= grid["measure"] == measure
    return grid[keep].reset_index(drop=True)


def grid_table(grid: pd.DataFrame) -> pd.DataFrame:
    """The overview grid as shown: icons with words, small samples marked, a sparkline."""
    cols = [
        "Team",
        "Enabler",
        "Latest %",
        "Notes reviewed (n)",
        "Variation",
        "Assurance",
        "Target",
        "The norm?",
        "Since last review",
        "Last 12 months",
        "Sample",
        "Latest month",
        "Sustained improvement from",
        "Culture shift",
        "Site",
        "Service",
    ]
    if grid.empty:
        return pd.DataFrame(columns=cols)
    return pd.DataFrame(
        {
            "Team": grid["team"],
            "Enabler": grid["measure_label"],
            "Latest %": grid["latest"],
            "Notes reviewed (n)": grid["n"],
            "Variation": grid["variation"].map(lambda v: VARIATION_BADGES.get(v, str(v))),
            "Assurance": grid["assurance"].map(lambda a: ASSURANCE_BADGES.get(a, str(a))),
            "Target": grid["target"],
            "The norm?": grid["is_norm"].map(lambda n: labels.NORM_LABELS[bool(n)]),
            "Since last review": (
                grid["direction"].map(labels.DIRECTION_LABELS)
                if "direction" in grid
                else pd.Series("", index=grid.index)
            ),
            "Last 12 months": grid["sparkline"],
            "Sample": grid["small"].map(lambda s: SMALL_SAMPLE_BADGE if s else ""),
            "Latest month": grid["latest_period"],
            "Sustained improvement from": grid["first_improvement"].fillna("—"),
            "Culture shift": grid.get("culture", ""),
            "Site": grid["site"],
            "Service": grid["service"],
        }
    )[cols]


def improved_but_failing(grid: pd.DataFrame) -> int:
    """Rows whose latest point is an improvement while assurance (from limits drawn before the
    change) says fail: the page explains how to read them."""
    if grid.empty:
        return 0
    return int(((grid["variation"] == "improvement") & (grid["assurance"] == "fail")).sum())


def spc_frame(tc: TeamChart) -> pd.DataFrame:
    """Per-point frame for ``charts.spc_chart``: the SPC points with their Wilson interval,
    census estimate, small and provisional flags and the target in force (the judgement's
    frame, so gaps, provisional months and targets are drawn as judged)."""
    if tc.frame is not None:
        return tc.frame.copy()
    points = tc.result.to_frame()
    extra = tc.table[["period", "ci_low", "ci_high", "small", "census_proportion"]]
    return points.merge(extra, on="period", how="left")


def window(frame: pd.DataFrame, period_from: str | None, period_to: str | None) -> pd.DataFrame:
    """Rows whose ``period`` lies in the window (limits stay as computed on the whole series)."""
    if frame.empty:
        return frame
    keep = pd.Series(True, index=frame.index)
    if period_from:
        keep &= frame["period"].astype(str) >= period_from
    if period_to:
        keep &= frame["period"].astype(str) <= period_to
    return frame[keep].reset_index(drop=True)


def period_table(
    tc: TeamChart, period_from: str | None = None, period_to: str | None = None
) -> pd.DataFrame:
    """The periods of a team chart as shown: sample estimate with its interval, census beside."""
    t = window(tc.table, period_from, period_to)
    points = tc.result.to_frame()[["period", "signals"]]
    t = t.merge(points, on="period", how="left")
    return pd.DataFrame(
        {
            "Month": t["period"],
            "Documented (sample)": t["proportion"],
            "Notes documenting it": t["numerator"],
            "Notes reviewed (n)": t["denominator"],
            "95% interval from": t["ci_low"],
            "95% interval to": t["ci_high"],
            "Sample": t["small"].map(lambda s: SMALL_SAMPLE_BADGE if s else ""),
            "Status": t["provisional"].map(lambda p: "provisional (round open)" if p else "final")
            if "provisional" in t
            else "final",
            "Target in force": t.get("target"),
            "Census (all notes)": t["census_proportion"],
            "Census n": t["census_n"],
            "Centre": t["centre"],
            "Lower limit": t["lower_limit"],
            "Upper limit": t["upper_limit"],
            "Variation": t["point_type"].map(lambda v: VARIATION_BADGES.get(v, str(v))),
            "Rule(s)": t["signals"]
            .fillna("")
            .map(lambda s: ", ".join(x.replace("_", " ") for x in s.split(", ") if x) or "—"),
        }
    )


def notes_table(
    notes: pd.DataFrame, names: dict[str, str] | None = None, elements: Registry = ELEMENTS
) -> pd.DataFrame:
    """Sampled case notes as shown: pseudonymous ids only, findings (one column per enabler of
    ``elements``, the wired registry) as labelled icons."""
    enabler = elements.labels
    if notes.empty:
        return pd.DataFrame(
            columns=[
                "Consultation",
                "Patient (pseudonym)",
                "Seen on",
                "Clinician",
                "Reviewer",
                "Review",
                *(enabler[e] for e in elements.names),
                "Audit round",
            ]
        )
    return pd.DataFrame(
        {
            "Consultation": notes["consultation_id"],
            "Patient (pseudonym)": notes["patient_ref"],
            "Seen on": notes["occurred_on"],
            "Clinician": notes["clinician_id"],
            "Reviewer": notes["reviewer_id"],
            "Review": notes["second_review"].map(lambda s: "second (blind)" if s else "first"),
            **{
                enabler[e]: notes[e].map(lambda f: FINDING_BADGES.get(f, f)) for e in elements.names
            },
            "Audit round": notes["round_id"],
        }
    )


def league_table(teams_frame: pd.DataFrame) -> pd.DataFrame:
    """Funnel teams as a table: proportion always beside its Wilson 95% interval."""
    from dashboard.charts import funnel_position_label

    cols = [
        "Team",
        "Documented",
        "95% interval from",
        "95% interval to",
        "Notes documenting it",
        "Notes reviewed (n)",
        "Funnel position",
    ]
    if teams_frame.empty:
        return pd.DataFrame(columns=cols)
    return pd.DataFrame(
        {
            "Team": teams_frame["team_name"],
            "Documented": teams_frame["proportion"],
            "95% interval from": teams_frame["ci_low"],
            "95% interval to": teams_frame["ci_high"],
            "Notes documenting it": teams_frame["numerator"],
            "Notes reviewed (n)": teams_frame["denominator"],
            "Funnel position": teams_frame.apply(funnel_position_label, axis=1),
        }
    )[cols]


def measure_label(measure: str, elements: Registry = ELEMENTS) -> str:
    """A measure's label in ``elements`` (the wired registry); its id when it has none."""
    return elements.labels.get(measure, measure)


def measures(elements: Registry = ELEMENTS) -> list[str]:
    """The measures of ``elements`` (the wired registry): each enabler, then the bundle."""
    return list(elements.measures)


def agreement_text(agree: dict, who: str, window: str = "last 12 audited months") -> str:
    """One sentence on inter-rater agreement (``views.agreement``): pooled % agreement and
    kappa, with the paired NOTES behind them; below the programme's minimum, why not."""
    notes, minimum = agree["notes"], agree.get("minimum_notes", 20)
    if agree["percent_agreement"] is None:
        return (
            f"{who}: agreement not reported — {notes} notes reviewed twice, at least "
            f"{minimum} are needed ({window})."
        )
    kappa = "not defined" if agree["kappa"] is None else f"{agree['kappa']:.2f}"
    return (
        f"{who}: {agree['percent_agreement']:.0f}% agreement, Cohen's kappa {kappa} "
        f"({notes} notes reviewed twice, {agree['n']} paired findings; {window})."
    )


def agreement_by_enabler_text(agree: dict, names: dict[str, str] | None = None) -> str | None:
    """Kappa per enabler, as the design asks; None while no enabler has enough notes.
    ``names``: each enabler's label (the wired registry's ``labels``; the default's when None)."""
    names = names or labels.MEASURE_LABELS
    parts = []
    for element, fig in agree.get("by_enabler", {}).items():
        if fig["percent_agreement"] is None:
            continue
        kappa = "κ not defined" if fig["kappa"] is None else f"κ {fig['kappa']:.2f}"
        parts.append(
            f"{names.get(element, element)} {fig['percent_agreement']:.0f}% "
            f"({kappa}, {fig['notes']} notes)"
        )
    return ("Per enabler: " + "; ".join(parts) + ".") if parts else None
