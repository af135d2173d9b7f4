"""Programme overview: which teams have made each enabler the norm, and which give concern."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import streamlit as st

from dashboard import charts, data
from dashboard.app_pages import _shared as ui
from dashboard.app_pages._surveys import render_programme_flags
from events.elements import ALL

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

n_teams = max((h.teams for h in headlines), default=0)
st.subheader(f"How many of the {n_teams} teams have made each enabler the norm")
cols = st.columns(len(headlines))
for col, h in zip(cols, headlines, strict=True):
    col.metric(
        h.label,
        f"{h.norm} of {h.teams}",
        help=f"{h.norm} of {h.teams} teams have made {h.label.lower()} the norm.",
        border=True,
    )
settings = ui.programme_settings(ctx)
st.caption(
    "The norm: a team's process limits sit above its target (assurance pass), or its last "
    f"{settings.norm_window} final months each met the target in force that month (80% unless a "
    "team's target says otherwise). Icons and the norm come from each team's last final month "
    f"with at least {settings.small_sample} notes: a provisional month (round still open) or a "
    "small month never moves the headline."
)
stale = sorted({t for h in headlines for t in h.not_recent})
if stale:
    st.caption(
        f"Not audited recently (no final month with enough notes in the last 3 months), "
        f"counted neither way: {', '.join(stale)}."
    )
if not grid.empty:
    pending = (
        grid.dropna(subset=["provisional_period"]) if "provisional_period" in grid else grid[:0]
    )
    small = grid.dropna(subset=["small_period"]) if "small_period" in grid else grid[:0]
    for what, frame, col in (
        ("Provisional (round still open), left out", pending, "provisional_period"),
        (
            "Small month (fewer than 10 notes), left out of the norm and the headline",
            small,
            "small_period",
        ),
    ):
        if not frame.empty:
            items = sorted({f"{r.team} {getattr(r, col)}" for r in frame.itertuples()})
            st.caption(f"{what}: {'; '.join(items)}.")


st.subheader("Culture shift over time")
curve, starts, waves = data.culture_curve(snap, ctx.as_of)
if curve.empty:
    st.caption("No audited months yet.")
else:
    labels = data.elements().labels
    ui.altair_chart(  # converted once per content drawn: an append that moves no month keeps it
        ("culture_shift", data.frames_digest(curve, starts, waves), tuple(labels.items())),
        lambda: charts.culture_curve_chart(
            curve, starts, waves, panel_width=300, columns=2, measure_labels=dict(labels)
        ),
        width="content",
    )
    st.caption(
        "For every month: how many teams had made each enabler the norm (blue), of the teams "
        "audited by then (grey), each team judged on its own months up to then with the "
        "targets and limits in force at the time. Black ticks mark each team's SIP start; "
        "purple bars the clinicians trained (ADP) that month."
    )

# the grid's "Since last review" needs the comparison date before its own section (below the
# grid) draws the date picker: a keyed widget's value is in the session state from the last run
review = data.last_review(snap, ctx.as_of)
now = ctx.as_of or (
    datetime.fromisoformat(snap.recorded_at.replace("Z", "+00:00"))
    if snap.recorded_at
    else datetime.now(UTC)
)
default_day = (review.at if review else now - timedelta(days=91)).date()
picked_day = st.session_state.get("since") or default_day
changes, direction = data.review_change(snap, data.as_of_datetime(picked_day), ctx.as_of)
grid = grid.assign(direction=direction)

st.subheader("Teams and enablers, those needing attention first")
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
BUNDLE = data.measure_label(ALL).lower()  # "all three": every enabler of the wired registry
enabler = f3.selectbox(
    "Enabler",
    ["", *data.measures()],
    format_func=lambda m: data.measure_label(m) if m else f"All enablers (and {BUNDLE})",
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
    ui.styled(table),
    hide_index=True,
    width="stretch",
    height=min(38 + 35 * max(len(table), 1), 760),
    on_select="rerun",
    selection_mode="single-row",
    key="grid",
    column_config={
        "Team": st.column_config.TextColumn("Team", width=240),
        "Enabler": st.column_config.TextColumn("Enabler", width=110),
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
        "Target": ui.percent("Target", "The team's target for this enabler (80% by default)"),
        "Since last review": st.column_config.TextColumn(
            "Since last review",
            help="Direction since the review compared with above: the norm first, then "
            "assurance, then variation",
        ),
        "Last 12 months": st.column_config.LineChartColumn(
            "Last 12 months", y_min=0, y_max=1, width="small", help="Latest 12 months, 0 to 100%"
        ),
    },
)
selection = picked.selection.rows if picked is not None else []
if selection:
    row = rows.iloc[selection[0]]
    st.session_state["team"] = row["team_id"]
    st.session_state["measure"] = row["measure"]
    keep = [(k, v) for k in ("as_of",) for v in st.query_params.get_all(k)]
    st.switch_page(
        "app_pages/team.py",
        query_params=[*keep, ("team", row["team"]), ("measure", row["measure_label"])],
    )
stale = data.improved_but_failing(rows)
if stale:
    st.caption(
        f"{stale} rows show ↑ Improvement with ✘ Fail: their limits still come from the "
        "baseline before the change, so assurance describes the old process (see How to read "
        "this)."
    )
ui.downloads(table, "programme-overview", key="grid")

st.subheader("What changed since the last review")
since_day = st.date_input(
    "Compare with the position at the end of",
    value=default_day,
    max_value=now.date(),
    key="since",
    help="Defaults to the last programme review's sign-off, or three months back when none "
    "has been signed off. Both sides are as-of views, so the comparison is reproducible.",
)
since_day = since_day or default_day
if since_day != picked_day:  # first run after a change: compare with the date just picked
    changes, _ = data.review_change(snap, data.as_of_datetime(since_day), ctx.as_of)
if review:
    st.caption(
        f"Last programme review: signed off by {review.signed_off_by or 'someone'} on "
        f"{review.at:%d %b %Y}."
    )
else:
    st.caption("No programme review has been signed off yet: compared with three months back.")
if changes.empty:
    st.info(f"No team's variation, assurance or norm status changed since {since_day:%d %b %Y}.")
else:
    st.caption(
        f"{changes['team_id'].nunique()} teams changed since {since_day:%d %b %Y} "
        f"({len(changes)} changes):"
    )
    st.dataframe(
        ui.styled(data.changes_table(changes), ("Then", "Now")),
        hide_index=True,
        width="stretch",
        key="changes",
    )

render_programme_flags(ctx)

with st.expander("How to read this"):
    v, a = data.VARIATION_BADGES, data.ASSURANCE_BADGES
    st.markdown(
        f"""
Each row is one team and one enabler. **Latest %** is the share of the latest month's sampled
case notes that document it, out of **n** notes reviewed ({data.SMALL_SAMPLE_BADGE} marks fewer
than {settings.small_sample}). **Variation** and **Assurance** are the NHS *Making Data Count* icons, as words on
their colours: {ui.badge(v["concern"])} a special cause in the wrong direction,
{ui.badge(v["common_cause"])} only the usual ups and downs, {ui.badge(v["improvement"])} a
special cause in the right direction; {ui.badge(a["pass"])} the target will be met month after
month, {ui.badge(a["hit_or_miss"])} some months will meet it and some will not,
{ui.badge(a["fail"])} it will not be met without a change to the process. Rows that need
attention come first: concern, then common cause failing its target, then the rest.

A team has made an enabler **the norm** when its process limits sit above the target, or its
last {settings.norm_window} months were all at or above it. **Sustained improvement from** is the first month of a
shift or trend in the right direction: a real change, not one good month.
""",
        unsafe_allow_html=True,
    )
    ui.how_to_read_spc(settings)
