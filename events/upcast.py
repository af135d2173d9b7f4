"""Schema evolution: upcasters turn an old payload into the current shape on read.

A stored event keeps the payload and ``schema_version`` it was written with (the log never
changes); readers see the current shape. Each upcaster moves one type one version forward.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .types import event_class

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

_UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def upcaster(type_name: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register a function that turns ``type_name`` v``from_version`` into v``from_version+1``."""

    def register(fn: Upcaster) -> Upcaster:
        _UPCASTERS[(type_name, from_version)] = fn
        return fn

    return register


def upcast(type_name: str, schema_version: int, payload: dict[str, Any]) -> dict[str, Any]:
    """Bring ``payload`` to the current schema version of its type."""
    current = event_class(type_name).schema_version
    version = schema_version
    while version < current:
        try:
            step = _UPCASTERS[(type_name, version)]
        except KeyError:
            raise ValueError(f"no upcaster for {type_name} v{version}") from None
        payload = step(payload)
        version += 1
    return payload


@upcaster("CaseNoteReviewed", 1)
def _case_note_reviewed_v1_booleans(payload: dict[str, Any]) -> dict[str, Any]:
    """v1 recorded each enabler as a boolean; v2 adds "not applicable" as a third answer."""
    out = dict(payload)
    for element in ("agenda_setting", "goal_setting", "follow_up"):
        value = out.get(element)
        if isinstance(value, bool):
            out[element] = "yes" if value else "no"
    return out


@upcaster("ReviewSignedOff", 1)
def _review_signed_off_v1_no_head(payload: dict[str, Any]) -> dict[str, Any]:
    """v1 did not record which head the signer was viewing; v2 does (None: not recorded)."""
    return {**payload, "viewed_head": None}
