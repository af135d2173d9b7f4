"""Commentary and sign-off: what a lead says about a team's month, and a senior leader's
sign-off of it. Both are events (``CommentaryAdded``, ``ReviewSignedOff``) and both go into the
review pack."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import data, writes
from dashboard.app_pages import _shared as ui
from events.types import CommentaryAdded, ReviewSignedOff

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


def _save(event, message: str, clear: tuple[str, ...] = ()) -> None:
    try:
        writes.append(event, actor=who.actor or "")
    except writes.WriteRefused as exc:
        st.error(str(exc), icon=":material/error:")
        return
    for key in clear:  # a fresh form after a saved entry (kept as typed after an error)
        st.session_state.pop(key, None)
    ui.flash(message)
    st.rerun()


left, right = st.columns(2)
with left, st.form("commentary"):
    st.markdown("**Commentary** (service-improvement lead)")
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
            _save(
                CommentaryAdded(
                    team_id=team_id, period=period, text=text.strip(), author=author.strip()
                ),
                f"Commentary on {names[team_id]}, {period} added.",
                clear=("cm_text",),
            )

with right, st.form("signoff"):
    st.markdown("**Sign-off** (senior leader)")
    signer = st.text_input("Signed off by", value=default_name, key="so_by")
    signer_slot = st.empty()
    sure = st.checkbox(f"I have reviewed {names[team_id]}'s audit for {period}", key="so_confirm")
    sure_slot = st.empty()
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
            _save(
                ReviewSignedOff(team_id=team_id, period=period, signed_off_by=signer.strip()),
                f"{names[team_id]}, {period} signed off by {signer.strip()}.",
                clear=("so_confirm",),
            )

st.subheader(f"Commentary and sign-offs for {names[team_id]}")
facts = data.team_facts(snap, team_id, ("CommentaryAdded", "ReviewSignedOff"))
if facts.empty:
    st.caption("None yet.")
else:
    facts = facts.iloc[::-1]
    table = pd.DataFrame(
        {
            "Month": facts["period"],
            "Recorded (UTC)": facts["recorded_at"].str[:16].str.replace("T", " "),
            "What": facts["type"].map(
                {"CommentaryAdded": "Commentary", "ReviewSignedOff": "Sign-off"}
            ),
            "Text": facts.get("text", pd.Series("", index=facts.index)).fillna(""),
            "By": facts.apply(
                lambda r: (
                    r.get("author") if r["type"] == "CommentaryAdded" else r.get("signed_off_by")
                ),
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
