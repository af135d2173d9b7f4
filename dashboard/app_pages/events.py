"""Event log: browse the append-only log page by page, check its integrity and the projections."""

from __future__ import annotations

import streamlit as st

from dashboard import data
from dashboard.app_pages import _shared as ui

ctx = ui.context()
snap = ctx.snap

st.title("Event log")
st.caption(
    "Every fact the dashboard shows comes from this append-only log. Nothing in it is ever "
    "edited or deleted: corrections are new events."
)

h1, h2, h3 = st.columns(3)
h1.metric("Events in the log", f"{snap.position:,}", border=True)
h2.metric(
    "Projection lag",
    f"{snap.lag:,} events",
    border=True,
    help="Events in the log not yet folded into the read models the pages read",
)
chain = h3.empty()

with st.container(border=True):
    st.markdown("**Integrity**")
    if st.button("Verify the whole hash chain now", key="verify", icon=":material/verified:"):
        with st.spinner("Recomputing every event's hash…"):
            data.verify(snap)
    last = data.last_verification(snap)
    if last is None:
        st.caption(
            "The chain has not been verified since the dashboard started. Verification reads "
            "the whole log, so it runs only when asked (once per head; the result is kept)."
        )
    else:
        at, result, when = last
        if result.ok:
            st.success(
                f"Last full verification ({when}): **verified up to position {result.count:,}**, "
                f"head hash `{result.head_hash}`."
                + (
                    f" {snap.position - at:,} events were appended since."
                    if snap.position > at
                    else ""
                ),
                icon=":material/verified:",
            )
        else:
            st.error(f"Last full verification ({when}): {result.line()}", icon=":material/error:")
    st.caption(
        f"Current head: position {snap.position:,}, hash `{snap.head_hash}`. Note this hash: "
        "`sipdash verify --expect-head HASH` later proves nothing behind it was changed."
    )

if last is None:
    chain.metric("Hash chain", "not verified yet", border=True)
else:
    chain.metric(
        "Hash chain",
        "✔ intact" if last[1].ok else "✘ tampered",
        border=True,
        help=f"Last full verification {last[2]}, at head position {last[0]:,}",
    )

st.subheader("Browse")
names = data.team_names(snap)
f1, f2, f3 = st.columns([3, 2, 2])
types = f1.multiselect(
    "Event types",
    data.event_types(),
    key="ev_types",
    placeholder="All types",
    bind="query-params",
)
prefix = f2.text_input(
    "Stream starts with",
    key="ev_stream",
    placeholder="e.g. team-, audit-, consultation-",
    bind="query-params",
)
team = f3.selectbox(
    "Team",
    ["", *names],
    format_func=lambda t: names.get(t, "All teams") if t else "All teams",
    key="ev_team",
    bind="query-params",
)
d1, d2, d3 = st.columns([2, 2, 3])
date_from = d1.date_input("Occurred from", value=None, key="ev_from", format="YYYY-MM-DD")
date_to = d2.date_input("Occurred to", value=None, key="ev_to", format="YYYY-MM-DD")
start = d3.number_input(
    "Start after position",
    min_value=0,
    max_value=max(snap.position, 0),
    value=0,
    step=50,
    key="ev_start",
)

filters = (tuple(types), prefix, team, date_from, date_to, int(start), ctx.as_of_day)
if st.session_state.get("ev_filters") != filters:
    st.session_state["ev_filters"] = filters
    st.session_state["ev_stack"] = [int(start)]
stack: list[int] = st.session_state["ev_stack"]

page = data.event_page(
    snap,
    after=stack[-1],
    types=tuple(types),
    stream_prefix=prefix.strip(),
    team_id=team or None,
    date_from=date_from,
    date_to=date_to,
    as_of=ctx.as_of,
)
filtered = bool(prefix.strip() or team or date_from or date_to)
st.caption(
    f"Page {len(stack)}: {len(page.rows)} events after position {stack[-1]:,}"
    + (f", recorded by the end of {ctx.as_of_day:%d %B %Y}" if ctx.as_of_day else "")
    + (
        f" (read {page.scanned:,} events to fill it; at most {data.MAX_SCAN:,} are read per "
        "page when filtering by stream, team or date, and Next continues from there)"
        if filtered
        else ""
    )
    + "."
)
if page.capped:
    st.info(
        f"No more matches in the next {data.MAX_SCAN:,} events; press **Next** to keep looking."
    )
st.dataframe(
    page.rows,
    hide_index=True,
    width="stretch",
    key="event_rows",
    column_config={
        "position": st.column_config.NumberColumn("Position", format="%d"),
        "recorded_at": "Recorded (UTC)",
        "occurred_at": "Occurred",
        "stream": "Stream",
        "version": st.column_config.NumberColumn("Version", format="%d"),
        "type": "Type",
        "team": "Team",
        "actor": "Actor",
        "payload": st.column_config.TextColumn("Payload", width="large"),
        "hash": "Hash",
    },
)
b1, b2, _ = st.columns([1, 1, 5])
if b1.button("← Previous", disabled=len(stack) <= 1, key="ev_prev"):
    stack.pop()
    st.rerun()
if b2.button("Next →", disabled=page.next_after is None, key="ev_next"):
    stack.append(int(page.next_after))
    st.rerun()
ui.downloads(page.rows, f"events-after-{stack[-1]}", key="events")
