"""Import: consultations or case-note reviews from a CSV file, validated, all or nothing."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from audit.identifiers import mask_digit_runs
from audit.imports import CONSULTATION_COLUMNS, REVIEW_COLUMNS
from audit.survey_imports import SURVEY_COLUMNS
from audit.wording import counted
from dashboard import writes
from dashboard.app_pages import _shared as ui
from dashboard.preview import masked_preview

who = ui.require_editor()
ctx = ui.context()

KINDS = {
    "consultations": "Consultations (with what each case note documents)",
    "reviews": "Case-note reviews (for an open audit round)",
    "surveys": "Patient surveys (anonymous)",
}
COLUMNS = {
    "consultations": ",".join(CONSULTATION_COLUMNS),
    "reviews": ",".join(REVIEW_COLUMNS) + "[,second_review]",
    "surveys": ",".join(SURVEY_COLUMNS) + "[,confidence]",
}

st.title("Import")
st.caption(
    "Add consultations or audit reviews from a CSV file (UTF-8, header row, dates YYYY-MM-DD). "
    "Every row is checked first: if any row is wrong nothing is added, and each problem is "
    "listed by row and column. Importing the same file again adds nothing."
)
ui.show_flash()

key, is_demo = writes.key_status()
if is_demo:
    st.warning(
        "**The demo pseudonym key is in use.** Patient identifiers are replaced by pseudonyms "
        "made with a key everyone knows, so real NHS numbers are refused. Before importing real "
        "data, set a secret key: the environment variable `SIPDASH_PSEUDONYM_KEY`, or "
        '`SIPDASH_PSEUDONYM_KEY = "…"` in `.streamlit/secrets.toml` — and keep the same key '
        "for every later import.",
        icon=":material/key:",
    )
else:
    st.caption(":material/key: A private pseudonym key is configured.")

kind = st.radio(
    "What the file holds", list(KINDS), format_func=KINDS.get, key="im_kind", horizontal=True
)
st.caption(f"Columns: `{COLUMNS[kind]}`")
if kind == "surveys":
    st.caption(
        "Answers: yes, no, not_sure, doesnt_apply or blank; confidence 0 to 10 or blank. "
        "Surveys are anonymous: any other column, or anything shaped like an NHS number, is "
        "refused and never shown."
    )
upload = st.file_uploader("CSV file", type=["csv"], key=f"im_file_{kind}")
register = corrections = False
if kind in ("consultations", "surveys"):
    register = st.checkbox(
        "Register teams not yet known",
        key="im_register",
        help=(
            "A team named in the file but not registered is otherwise an error. Ticked, it is "
            "registered first (name = the value in the file; site and service 'unknown')."
        ),
    )
if kind == "consultations":
    corrections = st.checkbox(
        "Apply corrections",
        key="im_corrections",
        help=(
            "A consultation already imported whose enabler is now no (or na) where the log has "
            "yes is otherwise refused. Ticked, the change is recorded as a correction (a new "
            "event; the earlier one stays in the log). Documentation now yes where it was no is "
            "always added. Other changed columns are always refused."
        ),
    )

if upload is None:
    st.stop()

content = upload.getvalue()
shown_name = mask_digit_runs(upload.name)
preview = masked_preview(content)
if preview is None:
    st.warning("The file cannot be previewed as CSV; importing it will say what is wrong.")
else:
    st.markdown(f"**First rows of {shown_name}** ({len(content):,} bytes)")
    st.dataframe(preview, hide_index=True, width="stretch", key="im_preview")

if st.button("Import", type="primary", icon=":material/upload:", key="im_go"):
    rows_estimate = max(content.count(b"\n"), 1)
    per_row = 5 if kind == "consultations" else 1  # surveys: one event per row
    bar = st.progress(0.0, text="Checking every row…")
    written = [0]

    def _progress(n: int) -> None:
        written[0] += n
        share = min(written[0] / (rows_estimate * per_row), 0.99)
        bar.progress(share, text=f"Writing: {written[0]:,} events")

    try:
        result = writes.run_import(
            kind,
            content,
            source=upload.name,
            actor=who.actor or "",
            register_teams=register,
            corrections=corrections,
            progress=_progress,
        )
    except writes.ImportRefused as exc:
        bar.empty()
        st.error(
            f"**The file was refused: nothing was added to the log.** {len(exc.errors)} "
            f"problem{'s' if len(exc.errors) != 1 else ''} found; correct the file and import it "
            "again.",
            icon=":material/error:",
        )
        if any("SIPDASH_PSEUDONYM_KEY" in e for e in exc.errors):
            st.info(
                "NHS numbers need a private pseudonym key: set `SIPDASH_PSEUDONYM_KEY` in the "
                "environment (or in `.streamlit/secrets.toml`) and restart the dashboard.",
                icon=":material/key:",
            )
        st.dataframe(
            pd.DataFrame({"Problem": exc.errors}),
            hide_index=True,
            width="stretch",
            key="im_errors",
            column_config={"Problem": st.column_config.TextColumn("Problem", width="large")},
        )
    except writes.WriteRefused as exc:
        bar.empty()
        st.error(str(exc), icon=":material/error:")
    else:
        bar.progress(1.0, text="Done")
        teams = (
            f" Teams registered: {', '.join(result.registered_teams)}."
            if result.registered_teams
            else ""
        )
        changed = [
            f"{n:,} {what}"
            for n, what in (
                (getattr(result, "late_documentation", 0), "late documentation"),
                (getattr(result, "retracted", 0), "retracted"),
                (getattr(result, "not_applicable", 0), "now not applicable"),
            )
            if n
        ]
        detail = f" ({', '.join(changed)})" if changed else ""
        ui.flash(
            f"Imported {shown_name}: {counted(result.rows, 'row', grouped=True)}, "
            f"**{counted(result.appended, 'event', grouped=True)} appended**{detail}, "
            f"{result.skipped:,} already in the log (skipped).{teams}"
        )
        st.rerun()
