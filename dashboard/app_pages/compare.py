"""Compare teams: a funnel plot and a league table that never ranks without intervals."""

from __future__ import annotations

import math

import streamlit as st

from audit.compare import MODE_LABELS
from audit.measures import to_quarter
from dashboard import charts, data
from dashboard.app_pages import _shared as ui

ctx = ui.context()
snap = ctx.snap

st.title("Compare teams")
if snap.empty:
    ui.empty_database_notice()
    st.stop()

measure = st.selectbox(
    "Enabler",
    data.measures(),
    format_func=data.measure_label,
    key="measure",
    bind="query-params",
    persist_state="session",
)
label = data.measure_label(measure)
c1, c2, c3 = st.columns([3, 3, 2])
audited = data.periods(snap, ctx.as_of)
# the sidebar's months count as a chosen window only once narrowed from the full range
sidebar_window = bool(audited) and (ctx.period_from, ctx.period_to) not in (
    (None, None),
    (audited[0], audited[-1]),
)
chosen = (ctx.period_from, ctx.period_to)
if sidebar_window and st.session_state.get("_cmp_sidebar") != chosen:
    st.session_state["cmp_mode"] = "custom"  # narrowing the months in the sidebar picks them
st.session_state["_cmp_sidebar"] = chosen
st.session_state.setdefault("cmp_mode", "custom" if sidebar_window else "quarter")
mode = c1.selectbox(
    "Months compared",
    list(MODE_LABELS),
    format_func=MODE_LABELS.get,
    key="cmp_mode",
    help="Default: the latest complete quarter of final data. Months before a team's "
    "programme start (its SIP start milestone) are never pooled.",
)
period = None
if mode == "month" and audited:
    period = c2.selectbox("Month", audited[::-1], key="cmp_month")
elif mode == "quarter" and audited:
    quarters = sorted({to_quarter(p) for p in audited})[::-1]
    period = (
        c2.selectbox(
            "Quarter",
            ["", *quarters],
            format_func=lambda q: q or "Latest complete",
            key="cmp_quarter",
        )
        or None
    )
n_source = c3.radio(
    "n",
    list(data.N_SOURCES),
    format_func={"sample": "Audit sample", "census": "Census"}.get,
    key="cmp_n",
    horizontal=True,
    help="The funnel's n: the notes reviewed in the audit sample, or every consultation's "
    "notes (census).",
)
cmp = data.compare(snap, measure, mode, period, ctx.period_from, ctx.period_to, n_source, ctx.as_of)
teams, curves, theta = cmp.teams, cmp.curves, cmp.theta
window = cmp.window.text
if teams.empty or math.isnan(theta):
    st.info(f"No reviewed notes for {label.lower()} in {window} ({ctx.as_of_text}).")
    st.stop()

st.caption(
    f"{label}: every team's notes pooled over {window} — {ctx.as_of_text}. "
    f"n = {data.N_SOURCES[n_source]}. The programme-wide figure is {theta:.0%}."
)
if cmp.window.excluded_baseline:
    st.caption(
        "Left out, so the pre-programme baseline is never pooled: months before the programme "
        f"start of {', '.join(cmp.window.excluded_baseline)}."
    )
x_title = (
    "Notes reviewed in the months compared (n)"
    if n_source == "sample"
    else "Consultations in the months compared (census n)"
)
st.altair_chart(charts.funnel_chart(teams, curves, theta, x_title=x_title), width="stretch")
with st.expander("How to read this"):
    st.markdown(ui.HOW_TO_READ_FUNNEL)

st.subheader("League table, with intervals")
st.altair_chart(charts.interval_chart(teams, theta), width="stretch")
league = data.league_table(teams)
st.dataframe(
    league,
    hide_index=True,
    width="stretch",
    key="league",
    column_config={
        "Documented": ui.percent("Documented"),
        "95% interval from": ui.percent("95% interval from"),
        "95% interval to": ui.percent("95% interval to"),
    },
)
ui.downloads(league, f"compare-{measure}", key="league")
