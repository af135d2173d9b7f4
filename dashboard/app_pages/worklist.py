"""Audit worklist: open a round for a team-month, review its sampled notes, close it.

Every step appends an event (``AuditRoundOpened``, ``CaseNoteReviewed``, ``AuditRoundClosed``);
nothing is edited. Second reviews are blind: their list never shows the first findings.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import data, presentation, writes
from dashboard.app_pages import _forms
from dashboard.app_pages import _shared as ui

who = ui.require_editor()
ctx = ui.context()
snap = ctx.snap

FINDINGS = {"yes": "Yes", "no": "No", "not_applicable": "Not applicable"}
REGISTRY = data.elements()  # the wired registry: the form's fields, one per enabler
ELEMENTS = REGISTRY.names
ELEMENT_LABELS = {e.name: e.label for e in REGISTRY}
ELEMENT_HELP = {e.name: e.help for e in REGISTRY}

st.title("Audit worklist")
st.caption(
    "Open an audit round for a team and month, review each sampled case note, then close the "
    "round. Every step is added to the event log; nothing is overwritten."
)
ui.show_flash()
if snap.empty:
    ui.empty_database_notice()
    st.stop()

names = data.team_names(snap)
c1, c2 = st.columns([3, 2])
team_id = c1.selectbox(
    "Team", list(names), format_func=names.get, key="wl_team", persist_state="session"
)
months = data.case_note_months(snap, team_id)
if months.empty:
    st.info(f"{names[team_id]} has no consultations yet: import them first (Import page).")
    st.stop()
rounds_by_month: dict[str, list] = {}
for r in data.rounds(snap, team_id=team_id):
    rounds_by_month.setdefault(r.period, []).append(r)


def _month_label(period: str) -> str:
    notes = int(months.set_index("period").loc[period, "notes"])
    rs = rounds_by_month.get(period, [])
    if not rs:
        state = "no audit round yet"
    elif any(r.closed_at is None for r in rs):
        state = "round open"
    else:
        state = f"{len(rs)} round{'s' if len(rs) > 1 else ''}, closed"
    return f"{period} · {notes} notes · {state}"


periods = months["period"].tolist()
# The month's label says how its audit stands, so it changes when a round opens or closes; the
# widget keeps the label it had, which no longer matches: put the month chosen back.
if st.session_state.get("wl_month") not in periods and st.session_state.get("wl_period") in periods:
    st.session_state["wl_month"] = st.session_state["wl_period"]
period = c2.selectbox("Month", periods, format_func=_month_label, key="wl_month")
st.session_state["wl_period"] = period
existing = rounds_by_month.get(period, [])


def _open_form(first: bool) -> None:
    with st.form("open_round", border=first):
        method = st.radio(
            "How many notes",
            ["sample", "census"],
            format_func={
                "sample": "A random sample",
                "census": "Every note of the month (census)",
            }.get,
            horizontal=True,
            key="wl_method",
        )
        size = st.number_input(
            "Sample size",
            min_value=1,
            max_value=500,
            value=20,
            step=1,
            key="wl_size",
            help="20 notes per team per month is the programme's default. Ignored for a census.",
        )
        label = "Open the audit round" if first else "Open another round for this month"
        if st.form_submit_button(
            label, type="primary", icon=":material/play_arrow:", key=f"open_submit_{int(first)}"
        ):
            try:
                info = writes.open_round(
                    team_id,
                    period,
                    sample_size=None if method == "census" else int(size),
                    census=method == "census",
                    actor=who.actor or "",
                )
            except writes.WriteRefused as exc:
                st.error(str(exc), icon=":material/error:")
            else:
                ui.flash(
                    f"Audit round {info.round_id} opened: {len(info.sampled)} case notes to "
                    f"review, {len(info.second_review)} of them also blind second reviewed."
                )
                st.session_state.pop("wl_round", None)
                st.rerun()


if not existing:
    st.subheader(f"{names[team_id]}, {period}: no audit round yet")
    st.caption(
        "The sample is drawn reproducibly (a keyed hash of each consultation) and fixed when the "
        "round opens. About 1 note in 10 is also given a blind second review."
    )
    _open_form(first=True)
    st.stop()

round_ids = [r.round_id for r in existing]
if st.session_state.get("wl_round") not in round_ids:
    st.session_state["wl_round"] = round_ids[-1]
if len(existing) > 1:
    st.selectbox(
        "Audit round",
        round_ids,
        format_func=lambda r: f"Round {round_ids.index(r) + 1} ({r})",
        key="wl_round",
    )
info = next(r for r in existing if r.round_id == st.session_state["wl_round"])
progress = data.round_progress(snap, info.round_id)
reviews = data.round_reviews(snap, info.round_id)
first_done = {r["consultation_id"]: r for r in reviews if not r["second_review"]}
second_done = {r["consultation_id"]: r for r in reviews if r["second_review"]}
closed = info.closed_at is not None

number = round_ids.index(info.round_id) + 1
st.subheader(f"{names[team_id]}, {period}: audit round {number}")
st.caption(
    f"Round `{info.round_id}`. "
    f"{'Census of every note' if info.method == 'census' else f'Sample of {info.sample_size}'}"
    f", {len(info.sampled)} case notes. Opened {info.opened_at[:16].replace('T', ' ')} UTC. "
    + (
        f"**Closed** {info.closed_at[:16].replace('T', ' ')} UTC."
        if closed
        else "**Open**: reviews can be recorded."
    )
)
m1, m2, m3 = st.columns(3)
n_first, n_second = len(info.sampled), progress.second_due
m1.metric("First reviews", f"{progress.first_done} of {n_first}", border=True)
m2.metric("Second reviews (blind)", f"{progress.second_done} of {n_second}", border=True)
m3.metric("Round", "closed" if closed else "open", border=True)
done = progress.first_done + progress.second_done
total = n_first + n_second
st.progress(
    done / total if total else 1.0,
    text=f"{done} of {total} reviews recorded",
)

notes = data.case_notes(snap, info.sampled)


def _note_line(row) -> str:
    return (
        f"**{row.consultation_id}** · patient {row.patient_ref} · seen {row.occurred_on} · "
        f"clinician {row.clinician_id}"
    )


def _review_form(row, *, second: bool) -> None:
    cid = row.consultation_id
    prefix = "second" if second else "first"
    with st.form(f"{prefix}_{cid}"):
        _forms.submission(f"{prefix}_{cid}")  # made as the form is drawn: the review's event id
        st.markdown(_note_line(row))
        cols = st.columns(len(ELEMENTS) + 1)
        picks = {}
        for col, element in zip(cols[:-1], ELEMENTS, strict=True):
            picks[element] = col.radio(
                ELEMENT_LABELS[element],
                list(FINDINGS),
                format_func=FINDINGS.get,
                index=None,
                key=f"{prefix}_{cid}_{element}",
                help=ELEMENT_HELP[element],
            )
        name_key = f"{prefix}_{cid}_reviewer"
        if not st.session_state.get(name_key):  # the name given last, for the whole session
            st.session_state[name_key] = st.session_state.get("wl_reviewer", "")
        reviewer = cols[-1].text_input(
            "Reviewer", key=name_key, placeholder="your name or initials"
        )
        problem = st.empty()
        if st.form_submit_button(
            "Record the second review" if second else "Record the review",
            icon=":material/check:",
            key=f"{prefix}_{cid}_submit",
        ):
            missing = [ELEMENT_LABELS[e] for e, v in picks.items() if v is None]
            reviewer = reviewer.strip()
            if missing or not reviewer:
                parts = []
                if missing:
                    parts.append("choose yes, no or not applicable for " + ", ".join(missing))
                if not reviewer:
                    parts.append("give the reviewer's name")
                text = " and ".join(parts)
                problem.error(f"{text[:1].upper()}{text[1:]}.", icon=":material/error:")
                return

            # the review rules (who may second-review what) are the audit service's
            def save(sub: _forms.Submission) -> None:
                writes.record_review(
                    info.round_id,
                    cid,
                    reviewer,
                    picks,
                    second_review=second,
                    actor=who.actor or reviewer,
                    event_id=sub.id,
                )

            try:
                _forms.save_once(
                    f"{prefix}_{cid}",
                    (info.round_id, cid, reviewer, second, tuple(sorted(picks.items()))),
                    save,
                )
            except writes.WriteRefused as exc:
                problem.error(str(exc), icon=":material/error:")
                return
            st.session_state["wl_reviewer"] = reviewer
            ui.flash(f"{'Second review' if second else 'Review'} of {cid} recorded.")
            st.rerun()


lists = {
    "first": f"First reviews ({n_first - progress.first_done} to do)",
    "second": f"Second review (blind) ({n_second - progress.second_done} to do)",
}
if closed:  # nothing is "to do" in a closed round
    lists = {"first": "First reviews (round closed)", "second": "Second review (round closed)"}
which = st.radio(
    "Worklist",
    list(lists),
    format_func=lists.get,
    horizontal=True,
    key="wl_list",
    help=(
        "Second reviews are blind: that list never shows what the first reviewer found, so "
        "the agreement between reviewers means something."
    ),
)

if which == "first":
    todo = notes[~notes["consultation_id"].isin(first_done)]
    if closed:
        st.caption("The round is closed: no more reviews can be recorded in it.")
    elif todo.empty:
        st.success("Every sampled note has its first review.", icon=":material/task_alt:")
    else:
        st.caption(
            f"{len(todo)} notes to review. Read each case note in the clinical record, then "
            "record whether it documents each enabler."
        )
        for row in todo.itertuples():
            _review_form(row, second=False)
    if first_done:
        st.markdown("**Reviewed**")
        shown = notes[notes["consultation_id"].isin(first_done)]
        table = pd.DataFrame(
            {
                "Consultation": shown["consultation_id"],
                "Patient (pseudonym)": shown["patient_ref"],
                "Seen on": shown["occurred_on"],
                "Clinician": shown["clinician_id"],
                "Reviewer": [first_done[c]["reviewer_id"] for c in shown["consultation_id"]],
                **{
                    ELEMENT_LABELS[e]: [
                        data.FINDING_BADGES.get(first_done[c][e], first_done[c][e])
                        for c in shown["consultation_id"]
                    ]
                    for e in ELEMENTS
                },
            }
        )
        st.dataframe(table, hide_index=True, width="stretch", key="wl_reviewed")
else:
    second_ids = set(info.second_review)
    todo = notes[notes["consultation_id"].isin(second_ids - set(second_done))]
    if not second_ids:
        st.caption("No note of this round is due a second review.")
    elif closed:
        st.caption("The round is closed: no more reviews can be recorded in it.")
    elif todo.empty:
        st.success("Every second review is recorded.", icon=":material/task_alt:")
    else:
        st.caption(
            f"{len(todo)} notes for a second, independent review. The first reviewer's findings "
            "are not shown here; please do not look them up before recording yours."
        )
        for row in todo.itertuples():
            _review_form(row, second=True)
    if second_done:
        st.caption(f"{len(second_done)} second reviews recorded in this round.")

st.subheader("Agreement between reviewers")
if not second_done:
    st.caption("Shown once this round has second reviews.")
else:
    agree = data.agreement(snap, team_id)
    line = presentation.agreement_text(agree, names[team_id], "last 12 months")
    if agree["percent_agreement"] is None:
        st.caption(line)
    else:
        st.markdown(line)
    per_enabler = data.agreement_by_enabler_text(agree)
    if per_enabler:
        st.caption(per_enabler)

if not closed:
    st.subheader("Close the round")
    missing = (n_first - progress.first_done) + (n_second - progress.second_done)
    st.caption(
        "Closing fixes the round: its reviews count in the measures either way, but no more can "
        "be added. To review this month again later, open another round."
    )
    confirm = True
    if missing:
        confirm = st.checkbox(
            f"Close although {missing} review{'s are' if missing > 1 else ' is'} still missing",
            key="wl_close_anyway",
        )
    if st.button("Close the round", key="wl_close", disabled=not confirm, icon=":material/lock:"):
        try:
            writes.close_round(info.round_id, actor=who.actor or "")
        except writes.WriteRefused as exc:
            st.error(str(exc), icon=":material/error:")
        else:
            ui.flash(f"Round {info.round_id} closed.")
            st.rerun()
else:
    with st.expander("Open another round for this month"):
        st.caption(
            "A new round with the same sampling seed draws the same notes plus any late note "
            "that ranks in. Notes already reviewed in an earlier round count once, the first time."
        )
        _open_form(first=False)
