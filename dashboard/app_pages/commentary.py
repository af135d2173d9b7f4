"""Commentary and sign-off: what a lead says about a team's month, and a senior leader's
sign-off of it. Both are events (``CommentaryAdded``, ``ReviewSignedOff``) and both go into the
review pack. A commentary can be withdrawn (``CommentaryWithdrawn``): the pack prints the latest
one not withdrawn. Each form saves once per submission (``_forms``) through the decisions
service (``dashboard.writes``)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from audit.commentary import commentary as all_commentary
from audit.labels import PROGRAMME
from dashboard import data, writes
from dashboard.app_pages import _forms
from dashboard.app_pages import _shared as ui

who = ui.require_editor()
ctx = ui.context()
snap = ctx.snap

st.title("Commentary and sign-off")
st.caption(
    "A service-improvement lead explains a team's month (what changed, what the chart shows); "
    "a senior leader signs the review off. Both are printed in the review pack."
)
ui.show_flash()
if snap.empty:
    ui.empty_database_notice()
    st.stop()

names = data.team_names(snap)
c1, c2 = st.columns([3, 2])
team_id = c1.selectbox(
    "Team", list(names), format_func=names.get, key="cm_team", persist_state="session"
)
months = data.case_note_months(snap, team_id)["period"].tolist() or data.periods(snap)[::-1]
period = c2.selectbox("Month", months, key="cm_period")
default_name = "" if who.local else (who.actor or "")


def _save(form: str, entries: tuple, save, message: str, clear: tuple[str, ...] = ()) -> None:
    """Save once per submission (``save(submission)`` calls a ``writes`` function, which goes
    through the decisions service); a fresh form after a saved entry (kept as typed after an
    error)."""
    try:
        _forms.save_once(form, entries, save, clear=clear)
    except writes.WriteRefused as exc:
        st.error(str(exc), icon=":material/error:")
        return
    ui.flash(message)
    st.rerun()


left, right = st.columns(2)
with left, st.form("commentary"):
    st.markdown("**Commentary** (service-improvement lead)")
    _forms.submission("commentary")  # made as the form is drawn: its save's event id
    text = st.text_area(
        "Commentary",
        key="cm_text",
        height=140,
        max_chars=20_000,
        placeholder="e.g. Goal setting rose after the template change in March; "
        "follow-up is steady.",
    )
    text_slot = st.empty()
    author = st.text_input("Your name", value=default_name, key="cm_author")
    author_slot = st.empty()
    if st.form_submit_button(
        "Add the commentary", type="primary", icon=":material/comment:", key="cm_submit"
    ):
        ok = True
        if not text.strip():
            text_slot.error("Write the commentary first.", icon=":material/error:")
            ok = False
        if not author.strip():
            author_slot.error("Give your name.", icon=":material/error:")
            ok = False
        if ok:
            entries = (team_id, period, text.strip(), author.strip())
            _save(
                "commentary",
                entries,
                lambda sub: writes.add_commentary(
                    team_id,
                    period,
                    text.strip(),
                    author.strip(),
                    actor=who.actor or "",
                    event_id=sub.id,
                ),
                f"Commentary on {names[team_id]}, {period} added.",
                clear=("cm_text",),
            )

with right, st.form("signoff"):
    st.markdown("**Sign-off** (senior leader)")
    drawn = _forms.submission("signoff", snap.head_hash or None)
    scope = st.radio(
        "What is signed off",
        ["team", "programme"],
        format_func={
            "team": "This team's month",
            "programme": "The programme review for this month",
        }.get,
        horizontal=True,
        key="so_scope",
    )
    signer = st.text_input("Signed off by", value=default_name, key="so_by")
    signer_slot = st.empty()
    sure = st.checkbox(
        f"I have reviewed {names[team_id]}'s audit for {period} (or, for the programme, every "
        "team's) as the log stands now",
        key="so_confirm",
    )
    sure_slot = st.empty()
    st.caption(
        f"Signing records the log head you are viewing, `{(drawn.head or '')[:16]}`, so anyone "
        "can later check what was signed."
    )
    if st.form_submit_button(
        "Sign off", type="primary", icon=":material/verified:", key="so_submit"
    ):
        ok = True
        if not signer.strip():
            signer_slot.error("Give the name of the person signing off.", icon=":material/error:")
            ok = False
        if not sure:
            sure_slot.error("Tick the box to confirm the review.", icon=":material/error:")
            ok = False
        if ok:
            subject = PROGRAMME if scope == "programme" else team_id
            what = "The programme review" if scope == "programme" else names[team_id]
            _save(
                "signoff",
                (subject, period, signer.strip()),
                lambda sub: writes.sign_off(
                    subject,
                    period,
                    signer.strip(),
                    viewed_head=sub.head,
                    actor=who.actor or "",
                    event_id=sub.id,
                ),
                f"{what}, {period} signed off by {signer.strip()}.",
                clear=("so_confirm",),
            )

st.subheader(f"Commentary and sign-offs for {names[team_id]}")
said = all_commentary(data.store().engine, team_id)
current = said[~said["withdrawn"].astype(bool)]
if not current.empty:
    st.markdown("**Commentary in force** (the pack prints the latest of each month)")
    for row in current.iloc[::-1].itertuples():
        c_text, c_button = st.columns([5, 1])
        c_text.markdown(f"**{row.period}**, {row.author}: {row.text}")
        if c_button.button(
            "Withdraw",
            key=f"cm_withdraw_{row.event_id}",
            icon=":material/undo:",
            help="Take this commentary back: it stays in the log, marked withdrawn, and the "
            "pack no longer prints it.",
        ):
            try:
                # one withdrawal per commentary, however often it is clicked
                writes.withdraw_commentary(
                    team_id, row.event_id, who.actor or "local user", actor=who.actor or ""
                )
            except writes.WriteRefused as exc:
                st.error(str(exc), icon=":material/error:")
            else:
                ui.flash(f"Commentary on {row.period} by {row.author} withdrawn.")
                st.rerun()
facts = data.team_facts(
    snap, team_id, ("CommentaryAdded", "CommentaryWithdrawn", "ReviewSignedOff")
)
if facts.empty:
    st.caption("None yet.")
else:
    facts = facts.iloc[::-1]
    table = pd.DataFrame(
        {
            "Month": facts["period"],
            "Recorded (UTC)": facts["recorded_at"].str[:16].str.replace("T", " "),
            "What": facts["type"].map(
                {
                    "CommentaryAdded": "Commentary",
                    "CommentaryWithdrawn": "Commentary withdrawn",
                    "ReviewSignedOff": "Sign-off",
                }
            ),
            "Text": facts.get("text", pd.Series("", index=facts.index)).fillna(""),
            "By": facts.apply(
                lambda r: {
                    "CommentaryAdded": r.get("author"),
                    "CommentaryWithdrawn": r.get("withdrawn_by"),
                }.get(r["type"], r.get("signed_off_by")),
                axis=1,
            ),
        }
    )
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        key="cm_facts",
        column_config={"Text": st.column_config.TextColumn("Text", width="large")},
    )
st.caption("Build the pack with these in it on the **Review pack** page.")
