"""Team: one team's enabler on an SPC chart, its months, and the case notes behind each month."""

from __future__ import annotations

import streamlit as st

from audit import judgement as jt
from dashboard import charts, data, reach_data
from dashboard import survey_data as sd
from dashboard.app_pages import _shared as ui
from dashboard.app_pages._surveys import render_team_sources

ctx = ui.context()
snap = ctx.snap

st.title("Team")
if snap.empty:
    ui.empty_database_notice()
    st.stop()

names = data.team_names(snap, ctx.as_of)
if not names:
    st.info(f"No team was registered by then ({ctx.as_of_text}).")
    st.stop()

asked = st.query_params.get("team")  # a link's team, before the widget settles on one
if asked in names and asked not in names.values():
    # a link may carry the team's id; the widget binds its name, so translate it first
    st.query_params["team"] = names[asked]
    st.session_state["team"] = asked
elif asked is not None and asked not in names.values():
    st.warning(
        "The link names a team that is not registered "
        f"({'as known then' if ctx.as_of else 'in this database'}); showing "
        f"{names[next(iter(names))]} instead. Pick the team below.",
        icon=":material/link_off:",
    )
c1, c2, c3 = st.columns([3, 2, 3])
team_id = c1.selectbox(
    "Team",
    list(names),
    format_func=names.get,
    key="team",
    bind="query-params",
    persist_state="session",
)
measure = c2.selectbox(
    "Enabler",
    data.measures(),
    format_func=data.measure_label,
    key="measure",
    bind="query-params",
    persist_state="session",
)
chart_slot = c3.container()  # filled once the source is known (below)

source = st.radio(
    "Source",
    list(sd.SOURCES),
    format_func=sd.SOURCES.get,
    horizontal=True,
    key="source",
    bind="query-params",
    persist_state="session",
    help="Case notes: the audit sample. Patient surveys: what patients report. Both: the two "
    "rates on one time axis, and whether the notes say it happened more often than patients do.",
)
# the chart choice only shapes the case-notes chart: disabled (its value kept) otherwise
chart_type = chart_slot.radio(
    "Chart",
    list(data.CHART_TYPES),
    format_func=data.CHART_TYPES.get,
    horizontal=True,
    key="chart",
    bind="query-params",
    persist_state="session",
    help=(
        "p-chart: the textbook chart for audit proportions, limits widen when fewer notes are "
        "reviewed. XmR: the Making Data Count default. Run chart: median line and run rules, "
        "for short series."
    ),
    disabled=source != "case_notes",
)
if source != "case_notes":
    chart_slot.caption(
        "The chart choice applies to the case-notes view only: patient surveys are drawn as a "
        "p-chart, and Both shows the two rates with their intervals."
    )
    render_team_sources(ctx, team_id, measure, source, names[team_id])
    st.stop()

tc = data.team_chart(snap, team_id, measure, chart_type, ctx.as_of)
label = data.measure_label(measure)
if tc is None:
    st.info(f"{names[team_id]} has no reviewed case notes for {label.lower()} ({ctx.as_of_text}).")
    st.stop()

j = tc.judgement
st.subheader(f"{names[team_id]}: {label.lower()}")
target_text = f"Target {tc.target:.0%}" if tc.target is not None else "No target in force"
st.caption(
    f"{data.CHART_TYPES[chart_type]} of the share of sampled case notes documenting "
    f"{label.lower()}, month by month — {ctx.as_of_text}. {target_text}"
    f"{' (in force at the last final month; earlier months keep theirs)' if tc.target is not None else ''}."
)
agree = data.agreement(snap, team_id, ctx.as_of)
variation = data.VARIATION_BADGES.get(j.variation, "—")
assurance = data.ASSURANCE_BADGES.get(j.assurance, "—")
agreement = data.agreement_text(agree, "Second reviews (blind)", "last 12 months")
per_enabler = data.agreement_by_enabler_text(agree)
if per_enabler:
    agreement = f"{agreement} {per_enabler}"
verdict_month = j.last_period or "none yet"
st.markdown(
    f"**Latest month ({verdict_month}): variation {ui.badge(variation)} "
    f"&nbsp; assurance {ui.badge(assurance)}** "
    f"({data.ASSURANCE_MEANING.get(j.assurance, '')})  \n"
    f"Culture shift: {j.culture_text}; {j.norm_reason}.  \n"
    f"{agreement}",
    unsafe_allow_html=True,
)
notes_lines = []
if chart_type != "p":
    notes_lines.append(
        f"This {data.CHART_TYPES[chart_type]} is an alternative view over the same baseline and "
        "recalculation partitions; the icons, the norm and the headline come from the p-chart."
    )
notes_lines += jt.limits_text(j)
gap = jt.gap_text(j)
if gap:
    notes_lines.append(gap)
notes_lines += jt.flags_text(j, tc.settings.small_sample)
st.caption("  \n".join(notes_lines), help="Generated from the partitions the chart is drawn with.")


def _spc_chart(tc: data.TeamChart, milestones, period_from, period_to):
    """The case-notes chart over the chosen window of months."""
    return charts.spc_chart(
        data.window(data.spc_frame(tc), period_from, period_to),
        target=tc.target,
        milestones=milestones,
        baseline_end=tc.baseline_end,
        recalculate_at=tc.recalculate_at,
    )


milestones = data.milestones(snap, team_id, ctx.as_of)
ui.altair_chart(  # converted once per read it draws: everything the chart is made of
    (
        "spc",
        snap.url,
        data.read_position(snap, ctx.as_of),
        team_id,
        measure,
        chart_type,
        ctx.as_of,
        ctx.period_from,
        ctx.period_to,
    ),
    lambda: _spc_chart(tc, milestones, ctx.period_from, ctx.period_to),
)
reach_data.coverage_strip(snap, team_id, ctx.as_of, ctx.period_from, ctx.period_to)
with st.expander("How to read this chart"):
    ui.how_to_read_spc(tc.settings)

st.subheader("Month by month")
st.caption(
    "The sample estimate with its 95% (Wilson) interval, and the census estimate from every "
    "consultation's notes beside it, so the sampling error is visible."
)
table = data.period_table(tc, ctx.period_from, ctx.period_to)
pct = {
    c: ui.percent(c)
    for c in (
        "Documented (sample)",
        "95% interval from",
        "95% interval to",
        "Census (all notes)",
        "Centre",
        "Lower limit",
        "Upper limit",
    )
}
st.dataframe(
    ui.styled(table), hide_index=True, width="stretch", column_config=pct, key="periods_table"
)
ui.downloads(table, f"{team_id}-{measure}-months", key="months")

st.subheader("The case notes behind a month")
months = table["Month"].tolist()[::-1]
month = st.selectbox(
    "Month",
    months,
    key="month",
    bind="query-params",
    help="The audited notes of that month: pseudonymous ids, findings and reviewer",
)
if month:
    notes = data.notes_table(data.sampled_notes(snap, team_id, month, ctx.as_of))
    st.caption(
        f"{len(notes)} reviews of {names[team_id]}'s notes from {month}. Patients appear only "
        "as pseudonyms."
    )
    st.dataframe(notes, hide_index=True, width="stretch", key="notes_table")
    ui.downloads(notes, f"{team_id}-{month}-case-notes", key="notes")
