"""What a re-imported consultation changes, compared with what the log already holds.

A consultation is a fact: its team, clinician, patient, date and contact never change. Its three
enablers may: documentation can arrive late (no → yes, appended as documentation) and a finding
can be corrected (yes → no becomes ``ElementRetracted``; anything → not applicable becomes
``ElementNotApplicable``). Corrections are new events, never edits; their ids derive from the
consultation, the element, the new state and the stream version they follow, so yes → no → yes
works and a re-run of the same file appends nothing.

Existing state is read in bulk: one query for all the consultation ids (``events.sql.select_in``
splits it only past the backend's bind limit), the case-note read model plus each stream's
version, never one per row.
"""

from __future__ import annotations

from dataclasses import dataclass

from events import EventStore
from events.elements import ELEMENTS, Registry
from events.sql import select_in

YES, NO, NA = "yes", "no", "not_applicable"
#: Columns of a consultation that a re-import may never change (file column → what it is).
FIXED_COLUMNS = ("team", "clinician", "patient", "occurred_on", "contact", "imd_quintile")


@dataclass(frozen=True, slots=True)
class Existing:
    """A consultation as the read models hold it now."""

    team_id: str
    clinician_id: str
    patient_ref: str
    occurred_on: str
    contact: str
    #: 1-5, or None when not given
    imd_quintile: int | None
    #: element → yes / no / not_applicable
    states: dict[str, str]
    #: the version of the consultation's stream (the number of events on it)
    version: int


def existing_consultations(
    store: EventStore, ids: list[str], elements: Registry = ELEMENTS
) -> dict[str, Existing]:
    """The consultations among ``ids`` already in the log (read models caught up first), with
    the state of every enabler of ``elements`` (the read model's columns derive from it)."""
    names = elements.names
    flags = ", ".join([*(f"n.{e}" for e in names), *(f"n.na_{e}" for e in names)])
    with store.engine.connect() as conn:
        rows = select_in(
            conn,
            "SELECT n.consultation_id, n.team_id, n.clinician_id, n.patient_ref, "
            f"n.occurred_on, n.contact, {flags}, n.imd_quintile, "
            "(SELECT MAX(e.stream_version) FROM events e "
            "WHERE e.stream_id = 'consultation-' || n.consultation_id) "
            "FROM rm_case_notes n WHERE n.consultation_id IN :ids",
            "ids",
            sorted(set(ids)),
        )
    out: dict[str, Existing] = {}
    k = len(names)
    for cid, team, clin, pref, occ, contact, *flag_values, imd, ver in rows:
        docs, nas = flag_values[:k], flag_values[k:]
        states = {
            element: NA if na else (YES if doc else NO)
            for element, doc, na in zip(names, docs, nas, strict=True)
        }
        quintile = int(imd) if imd else None  # the read model keeps 0 for "not given"
        out[cid] = Existing(team, clin, pref, occ, contact, quintile, states, int(ver or 0))
    return out


def changed_columns(
    existing: Existing,
    *,
    team_id: str,
    clinician_id: str,
    patient_ref: str | None,
    occurred_on: str,
    contact: str,
    imd_quintile: int | None = None,
) -> list[str]:
    """The fixed columns whose value differs from the log (``patient_ref`` None: the row's
    patient has no token yet, so it cannot be the consultation's patient)."""
    now = {
        "team": team_id,
        "clinician": clinician_id,
        "patient": patient_ref,
        "occurred_on": occurred_on,
        "contact": contact,
        "imd_quintile": imd_quintile or None,
    }
    was = {
        "team": existing.team_id,
        "clinician": existing.clinician_id,
        "patient": existing.patient_ref,
        "occurred_on": existing.occurred_on,
        "contact": existing.contact,
        "imd_quintile": existing.imd_quintile,
    }
    return [c for c in FIXED_COLUMNS if now[c] != was[c]]


def element_changes(existing: Existing, findings: dict[str, str]) -> list[tuple[str, str, str]]:
    """``(element, was, now)`` for every enabler whose state the row changes."""
    return [
        (element, existing.states[element], now)
        for element, now in findings.items()
        if existing.states[element] != now
    ]


def needs_corrections(was: str, now: str) -> bool:
    """Only documentation arriving (now yes) may be appended without ``--corrections``; taking
    a yes back or changing what counts (not applicable) is a correction someone must ask for."""
    return now != YES
