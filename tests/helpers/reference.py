"""The log folded by hand, in plain Python (no projector): the truth the projector's read
models are compared with."""

from __future__ import annotations

from events import EventStore
from events.types import Event


def note_states(
    store: EventStore, element_events: tuple[tuple[type[Event], str], ...]
) -> list[tuple[dict, dict[str, str]]]:
    """Each consultation's enabler states after the whole log, event by event: ``"yes"``,
    ``"no"`` or ``"na"`` (not applicable) per enabler of ``element_events`` (its "documented"
    event class and name). A repeated ``ConsultationHeld`` is ignored; an element recorded
    before its note applies once the note arrives. Returns (the note's payload, its states)."""
    names = [e for _, e in element_events]
    documented = {cls.type: e for cls, e in element_events}
    notes: dict[str, tuple[dict, dict[str, str]]] = {}
    early: dict[str, list[tuple[str, str]]] = {}
    for ev in store.read_all():
        p = ev.payload
        if ev.type == "ConsultationHeld":
            if p["consultation_id"] in notes:
                continue
            states = dict.fromkeys(names, "no")
            notes[p["consultation_id"]] = (p, states)
            states.update(early.pop(p["consultation_id"], []))
        elif ev.type in documented or ev.type in ("ElementRetracted", "ElementNotApplicable"):
            element = documented.get(ev.type) or p["element"]
            state = {"ElementRetracted": "no", "ElementNotApplicable": "na"}.get(ev.type, "yes")
            if p["consultation_id"] in notes:
                notes[p["consultation_id"]][1][element] = state
            else:
                early.setdefault(p["consultation_id"], []).append((element, state))
    return list(notes.values())
