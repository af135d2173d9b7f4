"""Streamlit sections for the second source: the team page's "Patient surveys" and "Both"
views, and the overview's programme table of triangulation flags."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from audit.triangulation import FLAG_TEXT, PROMPT_TEXT, display_table, flags
from dashboard import charts, data
from dashboard import survey_data as sd
from dashboard.app_pages import _shared as ui

_PCT_COLUMNS = (
    "Patients report",
    "Case notes (audit sample)",
    "Difference (notes − patients)",
    "95% interval from",
    "95% interval to",
    "Rate",
)


def _question(measure: str) -> str:
    """The survey's wording of a measure, from the wired registry (the bundle: every one)."""
    elements = data.elements()
    if measure not in elements.names:  # the bundle (contract id all_three): "All three"
        return f"{elements.labels[measure].lower()} questions answered yes"
    return f"“{elements.questions[measure]}”"


def _pct_config(table: pd.DataFrame) -> dict:
    return {c: ui.percent(c) for c in _PCT_COLUMNS if c in table.columns}


def _flag_caption(row: pd.Series) -> str:
    head = f"⚑ {FLAG_TEXT}" if row["flagged"] else "No flag"
    return (
        f"**{row['quarter']}: {head}.** Case notes {row['notes_rate']:.0%} "
        f"(n {row['notes_n']}), patients {row['survey_rate']:.0%} (n {row['survey_n']}); "
        f"difference {row['difference']:+.0%}, 95% interval {row['diff_low']:+.0%} to "
        f"{row['diff_high']:+.0%} (Newcombe)."
    )


def render_team_sources(
    ctx: ui.Context, team_id: str, measure: str, source: str, name: str
) -> None:
    """The team page below its controls when the source is "surveys" or "both"."""
    snap = ctx.snap
    label = data.measure_label(measure)
    if not sd.has_surveys(snap):
        st.info(sd.missing_notice(snap), icon=":material/forum:")
        return
    sc = sd.survey_chart(snap, team_id, measure, ctx.as_of)
    if source == "surveys":
        _surveys_only(ctx, sc, team_id, measure, name, label)
    else:
        _both(ctx, sc, team_id, measure, name, label)


def _surveys_only(ctx, sc, team_id: str, measure: str, name: str, label: str) -> None:
    if sc is None:
        st.info(f"{name} has no patient surveys answering {_question(measure)} ({ctx.as_of_text}).")
        return
    st.subheader(f"{name}: {label.lower()}, as patients report it")
    st.caption(
        f"p-chart of the share of patients answering yes to {_question(measure)} (yes over yes, "
        "no and not sure; blank and doesn't apply left out), month by month — "
        f"{ctx.as_of_text}. The survey series takes no decisions of its own: its limits come "
        "from all its final months, read against the team's target "
        f"({sc.target:.0%}). The latest month is provisional (forms still coming back) and is "
        "not a point of the chart."
    )
    if sc.result is not None:
        variation = data.VARIATION_BADGES.get(sc.result.variation, "—")
        assurance = data.ASSURANCE_BADGES.get(sc.result.assurance, "—")
        st.markdown(
            f"**Latest final month**: variation {ui.badge(variation)} &nbsp; assurance "
            f"{ui.badge(assurance)}",
            unsafe_allow_html=True,
        )
        points = data.window(sd.survey_frame(sc), ctx.period_from, ctx.period_to)
        chart = charts.spc_chart(
            points,
            target=sc.target,
            milestones=data.milestones(ctx.snap, team_id, ctx.as_of),
            y_title="Patients reporting it",
            unit="returns",
        )
        st.altair_chart(chart, width="stretch", key="survey_chart")
    table = data.window(
        sd.survey_period_table(sc).rename(columns={"Month": "period"}),
        ctx.period_from,
        ctx.period_to,
    ).rename(columns={"period": "Month"})
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config=_pct_config(table),
        key="survey_months",
    )
    ui.downloads(table, f"{team_id}-{measure}-surveys", key="survey_months")


def _both(ctx, sc, team_id: str, measure: str, name: str, label: str) -> None:
    from audit.sources import both_frame

    snap = ctx.snap
    tc = data.team_chart(snap, team_id, measure, "p", ctx.as_of)
    st.subheader(f"{name}: {label.lower()}, case notes and patients")
    st.caption(
        "The audit-sample case-note rate and the patient-reported rate on one time axis, each "
        "with its 95% (Wilson) interval as a band — "
        f"{ctx.as_of_text}. Hollow points are provisional months. The SPC rules apply to each "
        "source separately (Case notes and Patient surveys views); this view compares them."
    )
    frame = both_frame(tc.table if tc is not None else None, sc.table if sc is not None else None)
    frame = data.window(frame, ctx.period_from, ctx.period_to)
    if frame.empty:
        st.info(f"{name} has neither audited notes nor surveys for {label.lower()}.")
        return
    chart = charts.sources_chart(
        frame,
        target=tc.target if tc is not None else (sc.target if sc is not None else None),
        milestones=data.milestones(snap, team_id, ctx.as_of),
    )
    st.altair_chart(chart, width="stretch", key="both_chart")

    icons = []
    for source, result, table in (
        (
            "Case notes (audit sample)",
            tc.result if tc is not None else None,
            tc.table if tc is not None else None,
        ),
        (
            "Patients report (surveys)",
            sc.result if sc is not None else None,
            sc.table if sc is not None else None,
        ),
    ):
        if result is None or table is None:
            continue
        final = table[~table["provisional"]] if "provisional" in table else table
        last = final.iloc[-1] if not final.empty else table.iloc[-1]
        icons.append(
            {
                "Source": source,
                "Latest final month": last["period"],
                "Rate": last["proportion"],
                "n": int(last["denominator"]),
                "Variation": data.VARIATION_BADGES.get(result.variation, "—"),
                "Assurance": data.ASSURANCE_BADGES.get(result.assurance, "—"),
            }
        )
    if icons:
        table = pd.DataFrame(icons)
        st.dataframe(
            ui.styled(table),
            hide_index=True,
            width="stretch",
            column_config=_pct_config(table),
            key="both_icons",
        )

    tri = sd.triangulation_table(snap, ctx.as_of)
    mine = tri[(tri["team"] == team_id) & (tri["measure"] == measure)] if not tri.empty else tri
    st.markdown("**Triangulation, latest complete quarter**")
    if mine.empty:
        st.caption("No complete quarter with both audited notes and patient surveys yet.")
    else:
        row = mine.iloc[0]
        (st.warning if row["flagged"] else st.success)(_flag_caption(row))
    st.caption(PROMPT_TEXT)


def render_programme_flags(ctx: ui.Context) -> None:
    """The overview's table of teams whose notes document more than patients report."""
    snap = ctx.snap
    st.subheader("Case notes and patient surveys")
    if not sd.has_surveys(snap):
        st.info(sd.missing_notice(snap), icon=":material/forum:")
        return
    tri = sd.triangulation_table(snap, ctx.as_of)
    if tri.empty:
        st.caption("No complete quarter with both audited notes and patient surveys yet.")
        return
    flagged = flags(tri)
    quarter = tri["quarter"].iloc[0]
    st.caption(
        f"{quarter} (the latest complete quarter): {len(flagged)} of {len(tri)} team-enabler "
        f"pairs flagged as {FLAG_TEXT}. {PROMPT_TEXT}"
    )
    shown = display_table(flagged, {m: data.measure_label(m) for m in data.measures()})
    if shown.empty:
        st.success("No team's notes document an enabler more often than its patients report.")
    else:
        st.dataframe(
            shown,
            hide_index=True,
            width="stretch",
            column_config=_pct_config(shown),
            key="triangulation_flags",
        )
        ui.downloads(shown, f"triangulation-{quarter}", key="triangulation")
