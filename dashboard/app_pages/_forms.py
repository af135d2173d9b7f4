"""Idempotent write forms: one submission, one event, however often the button is pressed.

A submission id (a UUID v7) is made when a form is first drawn and becomes the event id of what
the form saves, so sending the same submission again appends nothing (the log compares event
ids). After a save the form gets a fresh id and its fields are cleared. A double click sends the
form twice before the page has redrawn; the second send carries the same entries, so a save
whose entries equal the last saved ones of that form reuses that save's submission (id and the
head it was drawn at) and the log takes it as the same event.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass

import streamlit as st

from events.ids import new_event_id

_CURRENT = "_sipdash_submission_{}"
_SAVED = "_sipdash_saved_{}"
_CLEAR = "_sipdash_clear_{}"


@dataclass(frozen=True)
class Submission:
    """What a form was drawn with: its submission id and the log head shown at the time."""

    id: str
    head: str | None


def submission(form: str, head: str | None = None) -> Submission:
    """The submission of ``form`` now on the page (made at its first drawing, kept until saved).

    Call it before the form's fields: it also empties the fields of a save just made (set
    before the widgets are drawn, so the browser is told, even after a double click)."""
    for field in st.session_state.pop(_CLEAR.format(form), ()):
        st.session_state[field] = False if isinstance(st.session_state.get(field), bool) else ""
    key = _CURRENT.format(form)
    if key not in st.session_state:
        st.session_state[key] = Submission(new_event_id(), head)
    return st.session_state[key]


def save_once(
    form: str,
    entries: Hashable,
    save: Callable[[Submission], None],
    *,
    clear: tuple[str, ...] = (),
) -> None:
    """Save this form's submission with ``save`` (a call to a ``dashboard.writes`` function,
    which goes through an audit service, taking ``submission.id`` as the event id); raises
    ``writes.WriteRefused``.

    ``entries``: what the user entered (the same entries right after a save are the same
    submission). ``clear``: the widget keys to empty once saved."""
    saved = st.session_state.get(_SAVED.format(form))
    sub = saved[1] if saved and saved[0] == entries else submission(form)
    save(sub)
    st.session_state[_SAVED.format(form)] = (entries, sub)
    st.session_state.pop(_CURRENT.format(form), None)
    st.session_state[_CLEAR.format(form)] = tuple(clear)  # emptied as the form is drawn next
