"""Compare teams: a funnel plot and a league table that never ranks without intervals."""

from __future__ import annotations

import math

import streamlit as st

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
teams, curves, theta = data.funnel(snap, measure, ctx.period_from, ctx.period_to, ctx.as_of)
window = (
    f"{ctx.period_from} to {ctx.period_to}"
    if ctx.period_from and ctx.period_to
    else "all audited months"
)
if teams.empty or math.isnan(theta):
    st.info(f"No reviewed notes for {label.lower()} in {window} ({ctx.as_of_text}).")
    st.stop()

st.caption(
    f"{label}: every team's notes pooled over {window} — {ctx.as_of_text}. "
    f"The programme-wide figure is {theta:.0%}. Change the months in the sidebar."
)
st.altair_chart(charts.funnel_chart(teams, curves, theta), width="stretch")
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
