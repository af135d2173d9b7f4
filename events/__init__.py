"""The append-only event log: event types, the store, integrity."""

from .db import resolve_url
from .store import (
    AppendResult,
    DuplicateEventConflict,
    EventStore,
    Head,
    HistoryNotAllowed,
    NewEvent,
    RecordedEvent,
    StoreError,
    VerifyResult,
    VersionConflict,
)
from .types import EVENT_TYPES, Event, EventValidationError, UnknownEventType, parse_event

__all__ = [
    "EVENT_TYPES",
    "AppendResult",
    "DuplicateEventConflict",
    "Event",
    "EventStore",
    "EventValidationError",
    "Head",
    "HistoryNotAllowed",
    "NewEvent",
    "RecordedEvent",
    "StoreError",
    "UnknownEventType",
    "VerifyResult",
    "VersionConflict",
    "parse_event",
    "resolve_url",
]
