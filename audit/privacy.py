"""The privacy service: erasing a patient's pseudonym mapping, in one protocol for every caller.

``sipdash forget`` (and anything else that erases) calls :func:`forget_patient` with a wiring
from :mod:`audit.bootstrap`, so the key is read in the same precedence as for imports and the
erasure reaches the tokens the CLI and the dashboard made alike. The protocol:

1. find every token the patient was given (any separator form, and version-1 tokens of a
   formatted form stored as a local id);
2. refuse when the key is not the database's (a typo would otherwise "forget" nobody);
3. record ``PatientForgotten`` for each token FIRST (its event id is fixed per token, so an
   interrupted run that is repeated records it once), then erase the mapping;
4. checkpoint the write-ahead log (SQLite) or vacuum the mapping table (PostgreSQL) so the
   mapping's bytes go; when readers hold the WAL the erasure is reported pending, and running
   the same forget again completes it.

Refusals raise :class:`ForgetRefused` with a message fit to print; no message ever echoes the
identifier.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from events import DuplicateEventConflict, NewEvent
from events.pseudonym import KEY_ENV, KeyMismatch, PseudonymError, forgotten_event_id
from events.types import PatientForgotten

from .identifiers import IdentifierRefused, check_text

if TYPE_CHECKING:
    from .bootstrap import Wiring


class ForgetRefused(ValueError):
    """An erasure that was not done; the message says why and what to do (never the id)."""


@dataclass(frozen=True)
class ForgetResult:
    """What an erasure did: the tokens the log keeps (now unlinkable) and whether the mapping's
    bytes are gone (False: erasure pending, other connections hold the write-ahead log)."""

    tokens: tuple[str, ...]
    erased: bool

    @property
    def had_mapping(self) -> bool:
        """False when no mapping was held (never imported, or already forgotten)."""
        return bool(self.tokens)


def forget_patient(wiring: Wiring, raw_identifier: str, *, requested_by: str) -> ForgetResult:
    """Erase the patient's mapping by the protocol above; the patient's records are refused
    from then on. ``requested_by`` is recorded on the event and must hold no identifier."""
    try:
        check_text("requested by", requested_by)
    except IdentifierRefused as exc:
        raise ForgetRefused(str(exc)) from None
    if not requested_by.strip():
        raise ForgetRefused("say who asked for the erasure (it is recorded)")
    _forgotten("p_" + "0" * 32, requested_by)  # a requester the event refuses: before any change
    store, registry = wiring.store, wiring.registry
    try:
        tokens = registry.tokens_of(raw_identifier)
    except PseudonymError as exc:
        raise ForgetRefused(f"patient: {exc}") from None
    try:
        key_confirmed = registry.check_key(store)
    except KeyMismatch as exc:
        raise ForgetRefused(f"forget refused: {exc}") from None
    if not tokens:
        if not key_confirmed and wiring.settings.key_is_demo:
            raise ForgetRefused(
                f"forget refused: {KEY_ENV} is not set (environment or .streamlit/secrets.toml), "
                "so the patient's mapping cannot be found; set the database's key and run it again"
            )
        if not key_confirmed and registry.holds_tokens():
            raise ForgetRefused(
                "forget refused: no mapping found under this key, and this database has no "
                "recorded key check value to tell a mistyped key from an unknown patient; check "
                f"{KEY_ENV} and run it again"
            )
        registry.forget(raw_identifier)  # still refuse the patient's records from now on
        # completes an erasure reported pending before
        return ForgetResult((), registry.erase_physically())
    # Record first, erase second: if this process dies in between, the mapping is still there
    # and running forget again completes the erasure; the event's id is fixed per token, so
    # the log holds it once.
    for token in tokens:
        forgotten = _forgotten(token, requested_by)
        # (DuplicateEventConflict: recorded by an earlier, interrupted run for another requester)
        with contextlib.suppress(DuplicateEventConflict):
            store.append(
                [NewEvent(forgotten, event_id=forgotten_event_id(token))],
                metadata={"actor": requested_by},
            )
    registry.forget(raw_identifier)
    wiring.projector.catch_up()
    return ForgetResult(tuple(tokens), registry.erase_physically())


def _forgotten(token: str, requested_by: str) -> PatientForgotten:
    from pydantic import ValidationError

    try:
        return PatientForgotten(subject="patients", patient_ref=token, requested_by=requested_by)
    except ValidationError:
        raise ForgetRefused(
            "the requester's name is not valid: 1 to 120 printable characters"
        ) from None


__all__ = ["ForgetRefused", "ForgetResult", "forget_patient"]
