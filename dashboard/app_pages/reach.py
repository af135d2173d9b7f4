"""Reach: who the culture shift reaches — trained vs not-yet-trained clinicians, and patients
by the deprivation of their area (census of the case notes, observational)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from audit import reach
from audit.measures import to_quarter
from dashboard import data, reach_charts, reach_data
from dashboard.app_pages import _shared as ui

ctx = ui.context()
snap = ctx.snap

st.title("Who the shift reaches")
if snap.empty:
    ui.empty_database_notice()
    st.stop()

st.info(
    "**Observational figures, not proof of cause.** They show who was trained and whose "
    "patients' notes document the enablers; a rise after training, or a gap between areas, "
    "may have other causes (teams train when they are ready to change; caseloads differ). "
    "Every figure is from the census of case notes (every consultation, not the audit sample) "
    "and shows the number of notes (n) behind it.",
    icon=":material/info:",
)

names = data.team_names(snap, ctx.as_of)
options = [reach.ALL_TEAMS, *names]
rc = reach_data.counts(snap, ctx.as_of)


def _team_label(t: str) -> str:
    return "All teams (programme view)" if t == reach.ALL_TEAMS else names.get(t, t)


asked = st.query_params.get("reach_team")  # a link's team, before the widget settles on one
labels_shown = {_team_label(t) for t in options}
if asked in names and asked not in labels_shown:
    # a link may carry the team's id; the widget binds its label, so translate it first
    st.query_params["reach_team"] = names[asked]
    st.session_state["reach_team"] = asked
elif asked is not None and asked not in labels_shown:
    st.warning(
        "The link names a team that is not registered "
        f"({'as known then' if ctx.as_of else 'in this database'}); showing all teams "
        "instead. Pick the team below.",
        icon=":material/link_off:",
    )
c1, c2, c3 = st.columns([3, 2, 2])
team = c1.selectbox(
    "Team",
    options,
    format_func=_team_label,
    key="reach_team",
    bind="query-params",
    persist_state="session",
)
measure = c2.selectbox(
    "Enabler",
    data.measures(),
    format_func=data.measure_label,
    key="reach_measure",
    bind="query-params",
    persist_state="session",
)
programmes = reach_data.programmes(rc)
programme = c3.selectbox(
    "Training programme",
    programmes,
    key="reach_programme",
    bind="query-params",
    persist_state="session",
    help="ClinicianTrained records of this programme (ADP: the Advanced Development Programme).",
)
label = data.measure_label(measure).lower()
who = "all teams" if team == reach.ALL_TEAMS else names.get(team, team)
t = reach_data.cached_tables(snap, ctx.as_of, team, measure, programme)

# ------------------------------------------------------------------------------ training
st.header("Training")
if t.coverage.empty:
    st.caption(f"No consultations for {who} ({ctx.as_of_text}).")
else:
    latest = t.coverage.iloc[-1]
    st.markdown(
        f"**{who}, {latest['period']}**: {int(latest['trained'])} of {int(latest['active'])} "
        f"active clinicians trained in {programme} "
        f"({float(latest['share']):.0%}). An active clinician saw at least one patient that month."
    )
    st.altair_chart(reach_charts.coverage_chart(t.coverage), width="stretch")

st.subheader(f"Trained and not-yet-trained clinicians: {label}")
st.caption(
    "Each month, the notes of clinicians trained in an earlier month against those of "
    "clinicians not yet trained; a clinician's training month counts in neither. Shaded: 95% "
    "(Wilson) intervals. Months with fewer than 10 notes in a group are not drawn."
)
if t.groups.empty:
    st.caption("No notes yet.")
else:
    st.altair_chart(reach_charts.groups_chart(t.groups), width="stretch")
    with st.expander("Month by month, with n"):
        st.dataframe(
            reach_data.groups_table(t.groups).iloc[::-1],
            hide_index=True,
            width="stretch",
            key="reach_groups_table",
        )

st.subheader("Before and after training")
st.caption(
    f"Per trained clinician, their notes in the {reach.WINDOW_MONTHS} calendar months before "
    f"and the {reach.WINDOW_MONTHS} after their training month (which is left out), "
    "notes-weighted; beside them, over the same calendar months, the clinicians of the same team "
    "not yet trained by the end of that window. Only clinicians with both windows complete count."
)
ba = reach_data.before_after_table(t.before_after, names)
if ba.empty:
    st.caption("No trained clinician has a complete before and after window yet.")
else:
    st.dataframe(ba, hide_index=True, width="stretch", key="reach_before_after")

# --------------------------------------------------------------------------- deprivation
st.header("Deprivation")
st.caption(
    f"Patients by the national quintile of their area's deprivation ({reach.IMD_VERSION}; "
    "Q1 = the most deprived fifth of areas in England, Q5 = the least), per quarter. A quintile "
    f"with fewer than {reach.MIN_STRATUM} notes shows “too few notes”, never a rate."
)
if not t.has_quintiles:
    st.info(
        "No consultation in this database carries an IMD quintile. Import consultations with "
        "the optional `imd_quintile` column; a demo database seeded before deprivation existed "
        "needs reseeding (`sipdash seed` into an empty database) to see deprivation.",
        icon=":material/info:",
    )
elif t.quintiles.empty:
    st.caption(f"No notes for {who} ({ctx.as_of_text}).")
else:
    gaps = t.gaps
    latest_gap = t.latest_gap()
    running = t.running_quarter()
    if running is not None:
        st.caption(
            f"{running} is not over yet: its figures so far are in the table, but the verdict "
            "below is for the latest complete quarter"
            + (f", {latest_gap['period']}." if latest_gap is not None else " (none yet).")
        )
    done = reach.complete_gaps(gaps, t.complete_quarter)
    flagged = done[done["verdict"] == "less often"]["period"].tolist()
    if latest_gap is None:
        st.markdown("No quarter is complete yet: no verdict on the gap.")
    elif latest_gap["verdict"] == "less often":
        st.warning(
            f"**{who}, {latest_gap['period']}: patients from the most deprived areas had "
            f"{label} documented less often** than those from the least deprived: "
            f"{reach.signed_points(latest_gap['gap'])} points (95% interval "
            f"{reach.signed_points(latest_gap['gap_low'])} to "
            f"{reach.signed_points(latest_gap['gap_high'])}; {int(latest_gap['q1_notes'])} and "
            f"{int(latest_gap['q5_notes'])} notes). A prompt to look, not a verdict.",
            icon=":material/warning:",
        )
    elif flagged:
        st.markdown(
            f"The most deprived got it significantly less often in {', '.join(flagged)}; "
            f"not in the latest complete quarter ({latest_gap['period']}: "
            f"{reach_data.VERDICT_LABELS.get(latest_gap['verdict'])})."
        )
    else:
        st.markdown(f"No quarter shows the most deprived getting {label} significantly less often.")
    missing = t.quintiles[t.quintiles["quintile"] == "missing"].iloc[-1]
    if not pd.isna(missing["share_missing"]):
        st.caption(
            f"No quintile recorded for {float(missing['share_missing']):.0%} of "
            f"{missing['period']}'s notes ({int(missing['denominator'])} notes); they are "
            "in no quintile's rate."
        )
    left, right = st.columns(2)
    with left:
        st.markdown(f"**{label.capitalize()} by quintile**")
        st.altair_chart(reach_charts.quintile_chart(t.quintiles), width="stretch")
    with right:
        st.markdown("**Gap: Q1 (most deprived) − Q5 (least), Newcombe 95% interval**")
        ideas = pd.DataFrame()
        if team != reach.ALL_TEAMS:
            ms = data.milestones(snap, team, ctx.as_of)
            if not ms.empty and "kind" in ms:
                ideas = ms[ms["kind"] == "change_idea"].assign(
                    quarter=lambda f: f["on"].str[:7].map(to_quarter)
                )
        st.altair_chart(reach_charts.gap_chart(gaps, ideas), width="stretch")
    st.dataframe(
        reach_data.quintile_table(t.quintiles)
        .merge(reach_data.gap_table(gaps), on="Quarter", how="left")
        .iloc[::-1],
        hide_index=True,
        width="stretch",
        key="reach_quintile_table",
    )

# ------------------------------------------------------------------------------ download
about = [
    ("Team", who),
    ("Enabler", data.measure_label(measure)),
    ("Training programme", programme),
    ("As of", ctx.as_of_text),
    ("Log head", f"position {snap.position}, hash {snap.head_hash[:16]}"),
    ("Deprivation index", reach.IMD_VERSION),
    ("Source", "census of case notes (every consultation); observational, no causal claim"),
]
name = f"reach-{team if team != reach.ALL_TEAMS else 'all-teams'}-{measure}"
st.download_button(
    "Download every table (Excel)",
    icon=":material/download:",
    data=reach_data.workbook(
        {
            "Training coverage": t.coverage,
            "Trained vs not yet": t.groups,
            "Before-after": t.before_after,
            "Before-after per clinician": t.per_clinician,
            "Quintile rates": t.quintiles,
            "Q1-Q5 gap": t.gaps,
        },
        about,
    ),
    file_name=f"{name}.xlsx",
    mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    key="reach_xlsx",
    on_click=ui._record_download,
    args=(f"{name}.xlsx",),
)
