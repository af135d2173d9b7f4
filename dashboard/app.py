"""sipdash dashboard: the frame around every page (``sipdash serve`` runs this file).

The frame sets the page up, brings the read models up to the log's head, draws the sidebar
(as-of date, period window, the log's head) and the synthetic-data banner, then runs the page.
Every filter is bound to the URL, so a copied link reproduces the view.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import streamlit as st

from dashboard import access, data
from dashboard.app_pages import _shared as ui

st.set_page_config(
    page_title="sipdash",
    page_icon=":material/monitoring:",
    layout="wide",
    initial_sidebar_state="expanded",
    menu_items={"About": "sipdash: the Service Improvement Programme case-note audit."},
)

who = access.current()
if not who.logged_in:
    # Sign-in is configured and nobody is signed in: a login button and nothing else.
    st.title("sipdash")
    st.write("The Service Improvement Programme case-note audit. Please sign in to continue.")
    provider = access.login_provider(access.app_secrets())
    st.button(
        "Log in",
        icon=":material/login:",
        type="primary",
        on_click=st.login,
        args=(provider,) if provider else (),
        key="login",
    )
    st.stop()

OVERVIEW = st.Page(
    "app_pages/overview.py",
    title="Programme overview",
    icon=":material/dashboard:",
    url_path="home",
    default=True,
)
# The default page is served at the root; Streamlit ignores its url_path, so /overview (the
# link people copy from docs and old bookmarks) gets its own hidden entry to the same page.
OVERVIEW_LINK = st.Page(
    "app_pages/overview.py",
    title="Programme overview",
    icon=":material/dashboard:",
    url_path="overview",
    visibility="hidden",
)
TEAM = st.Page("app_pages/team.py", title="Team", icon=":material/monitoring:", url_path="team")
COMPARE = st.Page(
    "app_pages/compare.py", title="Compare teams", icon=":material/balance:", url_path="compare"
)
EVENTS = st.Page(
    "app_pages/events.py", title="Event log", icon=":material/receipt_long:", url_path="events"
)
REACH = st.Page(
    "app_pages/reach.py", title="Reach", icon=":material/diversity_3:", url_path="reach"
)
PACK = st.Page(
    "app_pages/pack.py", title="Review pack", icon=":material/picture_as_pdf:", url_path="pack"
)
WORKLIST = st.Page(
    "app_pages/worklist.py",
    title="Audit worklist",
    icon=":material/fact_check:",
    url_path="worklist",
)
MILESTONES = st.Page(
    "app_pages/milestones.py",
    title="Milestones and targets",
    icon=":material/flag:",
    url_path="milestones",
)
COMMENTARY = st.Page(
    "app_pages/commentary.py",
    title="Commentary and sign-off",
    icon=":material/rate_review:",
    url_path="commentary",
)
IMPORT = st.Page(
    "app_pages/imports.py", title="Import", icon=":material/upload_file:", url_path="import"
)
WRITE_PAGES = [WORKLIST, MILESTONES, COMMENTARY, IMPORT]
sections = {"See": [OVERVIEW, TEAM, COMPARE, REACH, EVENTS, PACK, OVERVIEW_LINK]}
if who.can_write:  # viewers never see the write pages; each also checks the role itself
    sections["Record"] = WRITE_PAGES
page = st.navigation(sections)

try:
    snap = data.refresh()
except data.ReadModelsAhead as exc:  # a truncated log: never fold on silently
    st.error(f"**The event log is shorter than the read models.** {exc}", icon=":material/error:")
    st.stop()
except data.LogKeyError as exc:  # SIPDASH_LOG_KEY set but unusable: say so, never guess
    st.error(f"**The log key cannot be used.** {exc}", icon=":material/key:")
    st.stop()

AS_OF_MIN, AS_OF_MAX = date(2000, 1, 1), date.today() + timedelta(days=1)
asked_as_of = st.query_params.get("as_of")  # a link's date, before the widget judges it
with st.sidebar:
    st.markdown("### sipdash")
    as_of_day = st.date_input(
        "As of (end of day, UTC)",
        value=None,
        min_value=AS_OF_MIN,
        max_value=AS_OF_MAX,
        key="as_of",
        bind="query-params",
        format="YYYY-MM-DD",
        help=(
            "Show everything exactly as it was known at the end of this day, as at a past "
            "review. Leave empty for the latest data."
        ),
    )
    # A date typed into the field applies only when the field loses focus; Enter should apply
    # it at once, so Enter in this field moves the focus out (a fixed script, no user content).
    st.html(
        "<script>if (!window.__sipdashAsOfEnter) { window.__sipdashAsOfEnter = true; "
        "document.addEventListener('keydown', (e) => { if (e.key !== 'Enter' || !e.target || "
        "!e.target.closest || !e.target.closest('[data-testid=\"stDateInput\"]')) return; "
        "let sink = document.getElementById('sipdash-focus-sink'); if (!sink) { "
        "sink = document.createElement('span'); sink.id = 'sipdash-focus-sink'; "
        "sink.tabIndex = -1; document.body.appendChild(sink); } sink.focus(); }, true); }"
        "</script>",
        unsafe_allow_javascript=True,
        width="content",
    )
    as_of = data.as_of_datetime(as_of_day)
    period_from = period_to = None
    if page.url_path in (TEAM.url_path, COMPARE.url_path) and not snap.empty:
        months = data.periods(snap, as_of)
        if len(months) >= 2:
            current = st.session_state.get("months")
            if current is not None and not set(current) <= set(months):
                del st.session_state["months"]
            period_from, period_to = st.select_slider(
                "Months shown",
                options=months,
                value=(months[0], months[-1]),
                key="months",
                bind="query-params",
                persist_state="session",
                help=(
                    "The window of months: the team chart shows these months (its limits "
                    "still come from the whole series); the comparison pools them."
                ),
            )
    if page.url_path in {p.url_path for p in WRITE_PAGES} and as_of is not None:
        st.caption("Pages that record always work on the latest data; the as-of date is ignored.")
    st.divider()
    st.caption(
        f"Log head: position **{snap.position:,}**, hash `{snap.head_hash[:16]}…`"
        + (
            f"  \nLast recorded {snap.recorded_at[:19].replace('T', ' ')} UTC"
            if snap.recorded_at
            else ""
        )
        + (f"  \n⏳ {snap.lag:,} events not yet in the read models" if snap.lag else "")
    )
    if as_of is not None:
        then = data.head_as_of(snap, as_of)
        st.caption(
            f"As of {as_of_day:%d %b %Y}: position **{then.position:,}**, "
            f"hash `{then.hash[:16]}…` (what a review pack of that day would print)"
        )
    st.divider()
    if who.local:
        st.caption(
            f"**Local single-user mode**: no sign-in is configured, so everything you record "
            f"is attributed to “{access.LOCAL_ACTOR}”. Role: **{who.role}**"
            + (" (read only)" if not who.can_write else "")
            + ". Set up `[auth]` in `.streamlit/secrets.toml` for named sign-in."
        )
    else:
        st.caption(f"Signed in as **{who.actor}**, role **{who.role}**.")
        st.button("Log out", icon=":material/logout:", on_click=st.logout, key="logout")

if asked_as_of and (as_of_day is None or as_of_day.isoformat() != asked_as_of[:10]):
    shown = asked_as_of if re.fullmatch(r"\d{4}-\d{2}-\d{2}", asked_as_of) else "the date given"
    st.warning(
        f"The link's as-of date ({shown}) is not a date between {AS_OF_MIN} and {AS_OF_MAX}; "
        "showing the latest data instead. Choose a date in the sidebar.",
        icon=":material/event_busy:",
    )

if not snap.empty and data.is_synthetic(snap):
    st.warning(
        "**Synthetic demonstration data.** Every team, clinician, patient and case note shown "
        "here was generated by `sipdash seed`; none of it describes real people or services.",
        icon=":material/science:",
    )

ui.set_context(ui.Context(snap, as_of_day, as_of, period_from, period_to, who))
page.run()
