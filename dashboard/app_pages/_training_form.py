"""The milestones page's training form: one ``ClinicianTrained``, checked exactly as a row of
``sipdash import training`` (same id, so a form entry and a later file agree or are refused)."""

from __future__ import annotations

from datetime import date

import streamlit as st

from audit import queries
from audit.imports import ImportRefused
from audit.labels import EARLIEST_DATE
from audit.training_imports import TrainingImporter
from dashboard import data
from dashboard.app_pages import _shared as ui
from events import StoreError


def _clinicians(team_id: str) -> dict[str, str]:
    rows = queries.team_clinicians(data._engine(data.current_url()), team_id)
    return {
        cid: f"{cid}" + (f" ({name})" if name else "") + (f", trained {on}" if on else "")
        for cid, name, on in rows
    }


def render(team_id: str, team_name: str, actor: str) -> None:
    """The form; on success a flash message and a rerun, on refusal every problem shown."""
    clinicians = _clinicians(team_id)
    if not clinicians:
        st.info(
            f"No clinician of {team_name} is known yet: they become known with their first "
            "consultation."
        )
        return
    with st.form("training"):
        c1, c2, c3 = st.columns([3, 2, 2])
        clinician = c1.selectbox(
            "Clinician", list(clinicians), format_func=clinicians.get, key="tr_clinician"
        )
        programme = c2.text_input("Programme", value="ADP", max_chars=120, key="tr_programme")
        on = c3.date_input(
            "Trained on",
            value=date.today(),
            min_value=EARLIEST_DATE,
            max_value=date.today(),
            format="YYYY-MM-DD",
            key="tr_on",
        )
        if st.form_submit_button(
            "Record the training", type="primary", icon=":material/school:", key="tr_submit"
        ):
            if on is None:
                st.error("Choose the date.", icon=":material/error:")
                return
            w = data.wiring()  # the one composition root: URL and key as the CLI reads them
            try:
                TrainingImporter(w.store, projector=w.projector, actor=actor).record(
                    clinician, team_id, programme, on
                )
            except ImportRefused as exc:
                for problem in exc.errors:
                    st.error(problem.replace("form, ", "", 1), icon=":material/error:")
                return
            except StoreError as exc:
                st.error(f"The training could not be saved ({type(exc).__name__}).")
                return
            ui.flash(f"Training of {clinician} in {programme.strip()} on {on} recorded.")
            st.rerun()
