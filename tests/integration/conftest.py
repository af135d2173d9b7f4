"""Fixtures shared by the integration tests; each test module gives its own ``store``."""

from __future__ import annotations

import pytest

from audit.imports import Importer
from audit.projections import Projector
from events import EventStore
from events.pseudonym import PatientRegistry


@pytest.fixture
def importer(store: EventStore) -> Importer:
    """The consultations importer on the module's ``store``: a test key (not the demo key),
    its pseudonym tables laid out, and the projector it hands the imported events to."""
    registry = PatientRegistry(store.engine, "test-key-not-demo-0123456789abcdef0123")
    registry.ensure_schema()
    return Importer(store, registry, demo_key=False, projector=Projector(store))
