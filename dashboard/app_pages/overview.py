"""Programme overview: which teams have made each enabler the norm, and which give concern."""

from __future__ import annotations

import streamlit as st

from dashboard import data
from dashboard.app_pages import _shared as ui

ctx = ui.context()
snap = ctx.snap

st.title("Programme overview")
st.caption(
    f"Agenda setting, goal setting and follow-up documented in sampled case notes, "
    f"per team — {ctx.as_of_text}."
)
if snap.empty:
    ui.empty_database_notice()
    st.stop()

grid = data.overview(snap, ctx.as_of)
headlines = data.headlines(snap, ctx.as_of)

st.subheader("Which teams have made each enabler the norm")
cols = st.columns(len(headlines))
for col, h in zip(cols, headlines, strict=True):
    col.metric(
        h.label,
        f"{h.norm} of {h.teams} teams",
        help=(
            f"{h.text}. The norm: the process limits sit above the target (assurance pass), "
            "or the last 6 months were all at or above it."
        ),
        border=True,
    )
st.caption(" · ".join(h.text for h in headlines))

st.subheader("Teams and enablers: concern first")
teams = data.teams(snap, ctx.as_of)
f1, f2, f3 = st.columns(3)
site = f1.selectbox(
    "Site",
    ["", *sorted(teams["site"].unique())],
    format_func=lambda s: s or "All sites",
    key="site",
    bind="query-params",
)
service = f2.selectbox(
    "Service",
    ["", *sorted(teams["service"].unique())],
    format_func=lambda s: s or "All services",
    key="service",
    bind="query-params",
)
enabler = f3.selectbox(
    "Enabler",
    ["", *data.measures()],
    format_func=lambda m: data.measure_label(m) if m else "All enablers (and all three)",
    key="enabler",
    bind="query-params",
)
rows = data.filter_grid(grid, site=site or None, service=service or None, measure=enabler or None)
table = data.grid_table(rows)
st.caption(
    f"{len(table)} rows. Latest month's audit per team and enabler; variation and assurance "
    "from each team's p-chart. Select a row to open that team's chart."
)
picked = st.dataframe(
    table,
    hide_index=True,
    width="stretch",
    height=min(38 + 35 * max(len(table), 1), 760),
    on_select="rerun",
    selection_mode="single-row",
    key="grid",
    column_config={
        "Latest %": ui.percent("Latest %", "Share of the month's sampled notes documenting it"),
        "Notes reviewed (n)": st.column_config.NumberColumn(
            "n", help="Notes reviewed in the latest month"
        ),
        "Sample": st.column_config.TextColumn(
            "Sample", help="Fewer than 10 reviewed notes: the month's figure is uncertain"
        ),
        "Variation": st.column_config.TextColumn(
            "Variation", help="Making Data Count variation icon for the latest month"
        ),
        "Assurance": st.column_config.TextColumn(
            "Assurance", help="Will the target be met reliably? (from the process limits)"
        ),
        "Last 12 months": st.column_config.LineChartColumn(
            "Last 12 months", y_min=0, y_max=1, width="small"
        ),
    },
)
selection = picked.selection.rows if picked is not None else []
if selection:
    row = rows.iloc[selection[0]]
    params = [(k, v) for k in ("as_of",) for v in st.query_params.get_all(k)]
    st.switch_page(
        "app_pages/team.py",
        query_params=[*params, ("team", row["team_id"]), ("measure", row["measure"])],
    )
ui.downloads(table, "programme-overview", key="grid")

with st.expander("How to read this"):
    st.markdown(
        """
Each row is one team and one enabler. **Latest %** is the share of the latest month's sampled
case notes that document it, out of **n** notes reviewed (⚠️ marks fewer than 10).
**Variation** and **Assurance** are the NHS *Making Data Count* icons, always with words:
🟠 **Concern** (a special cause in the wrong direction), ⚪ **Common cause** (only the usual
ups and downs), 🔵 **Improvement** (a special cause in the right direction); ✅ **Pass** (the
target will be met month after month), ❓ **Hit or miss** (some months will meet it, some will
not), ❌ **Fail** (it will not be met without a change to the process). Rows that need
attention come first.

A team has made an enabler **the norm** when its process limits sit above the target, or its
last 6 months were all at or above it. **Sustained improvement from** is the first month of a
shift or trend in the right direction: a real change, not one good month.
"""
    )
    st.markdown(ui.HOW_TO_READ_SPC)
