"""Milestones, baselines and targets: the explicit decisions that shape a team's charts.

Each form calls the decisions service through ``dashboard.writes``, which appends one event to
the team's stream (``MilestoneLogged``, ``BaselineFixed``, ``LimitsRecalculated``,
``TargetSet``); the team chart shows it on the next run.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import streamlit as st

from audit import labels
from audit.labels import EARLIEST_DATE
from dashboard import data, writes
from dashboard.app_pages import _forms
from dashboard.app_pages import _shared as ui

who = ui.require_editor()
ctx = ui.context()
snap = ctx.snap

KINDS = labels.MILESTONE_LABELS  # the chart's and the pack's words (audit/labels.py)

st.title("Milestones and targets")
st.caption(
    "Record what happened to a team (training, change ideas, PDSA cycles) and the explicit "
    "decisions about its charts: where the baseline ends, where limits are recalculated, and "
    "its target. Each appears on the team's chart at once; nothing is ever overwritten, a "
    "later entry supersedes an earlier one."
)
ui.show_flash()
if snap.empty:
    ui.empty_database_notice()
    st.stop()

names = data.team_names(snap)
team_id = st.selectbox(
    "Team", list(names), format_func=names.get, key="ms_team", persist_state="session"
)
months = sorted(data.case_note_months(snap, team_id)["period"].tolist())
if not months:
    months = [f"{date.today():%Y-%m}"]


def _reason_ok(reason: str, slot) -> bool:
    if not reason.strip():
        slot.error("Give a reason: why this decision, in a sentence.", icon=":material/error:")
        return False
    return True


def _save(form: str, entries: tuple, save, message: str, clear: tuple[str, ...] = ()) -> None:
    """Save once per submission (``_forms``): ``save(submission)`` calls a ``writes`` function,
    which goes through the decisions service (the partition rule, the identifier guard); a
    fresh form after a saved entry (kept as typed after an error)."""
    try:
        _forms.save_once(form, entries, save, clear=clear)
    except writes.WriteRefused as exc:
        st.error(str(exc), icon=":material/error:")
        return
    ui.flash(message)
    st.rerun()


tab = st.radio(
    "Record",
    ["milestone", "baseline", "target", "training"],
    format_func={
        "milestone": "A milestone",
        "baseline": "A baseline or a recalculation of limits",
        "target": "A target",
        "training": "A clinician's training",
    }.get,
    horizontal=True,
    key="ms_what",
)

if tab == "milestone":
    with st.form("milestone"):
        _forms.submission("milestone")  # made as the form is drawn: its save's event id
        c1, c2 = st.columns([2, 1])
        kind = c1.selectbox("Kind", list(KINDS), format_func=KINDS.get, key="ms_kind")
        on = c2.date_input(
            "On",
            value=date.today(),
            min_value=EARLIEST_DATE,
            max_value=date.today(),
            format="YYYY-MM-DD",
            key="ms_on",
        )
        on_slot = c2.empty()
        title = st.text_input(
            "Title",
            max_chars=300,
            key="ms_title",
            placeholder="e.g. PDSA 2: goal-setting prompt in the note template",
        )
        title_slot = st.empty()
        if st.form_submit_button(
            "Log the milestone", type="primary", icon=":material/flag:", key="ms_submit"
        ):
            ok = True
            if not title.strip():
                title_slot.error("Give the milestone a title.", icon=":material/error:")
                ok = False
            if on is None:
                on_slot.error("Choose the date.", icon=":material/error:")
                ok = False
            if ok:
                _save(
                    "milestone",
                    (team_id, str(on), kind, title.strip()),
                    lambda sub: writes.log_milestone(
                        team_id, on, kind, title, actor=who.actor or "", event_id=sub.id
                    ),
                    f"Milestone “{title.strip()}” logged for {names[team_id]} on {on}.",
                    clear=("ms_title",),
                )

elif tab == "baseline":
    with st.form("baseline"):
        _forms.submission("baseline")
        c1, c2, c3 = st.columns([2, 2, 2])
        what = c1.radio(
            "Decision",
            ["baseline", "recalculate"],
            format_func={
                "baseline": "Fix the baseline",
                "recalculate": "Recalculate limits",
            }.get,
            key="bl_kind",
            help=(
                "Fix the baseline: the limits come from the months up to and including the "
                "chosen month, and are carried forward. Recalculate: new limits start at the "
                "chosen month (after a sustained, understood change)."
            ),
        )
        measure = c2.selectbox(
            "Enabler", data.measures(), format_func=data.measure_label, key="bl_measure"
        )
        period = c3.selectbox(
            "Month",
            months[::-1],
            key="bl_period",
            help="For a baseline: its last month. For a recalculation: the month new limits start.",
        )
        reason = st.text_area("Reason", key="bl_reason", height=80)
        reason_slot = st.empty()
        if st.form_submit_button(
            "Record the decision", type="primary", icon=":material/save:", key="bl_submit"
        ) and _reason_ok(reason, reason_slot):
            label = "Baseline fixed up to" if what == "baseline" else "Limits recalculated from"
            _save(
                "baseline",
                (what, team_id, measure, period, reason.strip()),
                lambda sub: writes.decide(
                    what,
                    actor=who.actor or "",
                    event_id=sub.id,
                    team_id=team_id,
                    measure=measure,
                    period=period,
                    reason=reason.strip(),
                ),
                f"{label} {period} for {names[team_id]}, {data.measure_label(measure).lower()}.",
                clear=("bl_reason",),
            )

elif tab == "training":
    from dashboard.app_pages import _training_form

    _training_form.render(team_id, names[team_id], who.actor or "")

else:
    with st.form("target"):
        _forms.submission("target")
        c1, c2, c3 = st.columns([2, 2, 2])
        measure = c1.selectbox(
            "Enabler", data.measures(), format_func=data.measure_label, key="tg_measure"
        )
        target = c2.number_input(
            "Target (% of notes)",
            min_value=0,
            max_value=100,
            value=80,
            step=5,
            key="tg_value",
            help="The share of sampled notes that should document it; the programme uses 80%.",
        )
        target_slot = c2.empty()
        period = c3.selectbox("From month", months[::-1], key="tg_from")
        reason = st.text_area("Reason", key="tg_reason", height=80)
        reason_slot = st.empty()
        if st.form_submit_button(
            "Set the target", type="primary", icon=":material/save:", key="tg_submit"
        ):
            ok = _reason_ok(reason, reason_slot)
            if target is None or not 0 <= target <= 100:
                target_slot.error("Give a target between 0 and 100%.", icon=":material/error:")
                ok = False
            if ok:
                _save(
                    "target",
                    (team_id, measure, str(float(target) / 100), period, reason.strip()),
                    lambda sub: writes.decide(
                        "target",
                        actor=who.actor or "",
                        event_id=sub.id,
                        team_id=team_id,
                        measure=measure,
                        target=float(target) / 100,
                        from_period=period,
                        reason=reason.strip(),
                    ),
                    f"Target of {target:.0f}% set for {names[team_id]}, "
                    f"{data.measure_label(measure).lower()}, from {period}.",
                    clear=("tg_reason",),
                )

st.subheader(f"Recorded for {names[team_id]}")
facts = data.team_facts(
    snap, team_id, ("MilestoneLogged", "BaselineFixed", "LimitsRecalculated", "TargetSet")
)
if facts.empty:
    st.caption("Nothing recorded yet.")
else:
    facts = facts.iloc[::-1]

    def _col(name: str) -> pd.Series:
        return facts[name] if name in facts else pd.Series([None] * len(facts), index=facts.index)

    def _what(row) -> str:
        if row["type"] == "MilestoneLogged":
            return f"{KINDS.get(row['kind'], row['kind'])}: {row['title']}"
        label = data.measure_label(row["measure"])
        if row["type"] == "TargetSet":
            return (
                f"Target {float(row['target']):.0%} for {label.lower()} from {row['from_period']}"
            )
        if row["type"] == "BaselineFixed":
            return f"Baseline for {label.lower()} ends {row['period']}"
        return f"Limits for {label.lower()} recalculated from {row['period']}"

    table = pd.DataFrame(
        {
            "Recorded (UTC)": facts["recorded_at"].str[:16].str.replace("T", " "),
            "What": facts.apply(_what, axis=1),
            "Date": _col("on").fillna(""),
            "Reason": _col("reason").fillna(""),
            "By": facts["actor"].fillna(""),
        }
    )
    st.dataframe(table, hide_index=True, width="stretch", key="ms_facts")
