"""The one composition root: settings in one precedence, and the wired store, projector and
pseudonym registry. The CLI and the dashboard both start here, so the same patient gets the
same token whichever of them imports, and ``forget`` reaches what either made.

Every setting is read in ONE order: an explicit argument, then the environment, then
``.streamlit/secrets.toml`` (the working directory's, then the home directory's: the files
Streamlit itself reads), then the default. The secrets file is read with ``tomllib``: nothing
here imports streamlit.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from events import EventStore
from events.chain import LOG_KEY_ENV
from events.chain import log_key as chain_log_key
from events.db import DEFAULT_URL, ENV_VAR, normalise_url
from events.elements import ELEMENTS, Registry
from events.pseudonym import DEMO_KEY, KEY_ENV, PatientRegistry

from .projections import Projector

SECRETS_FILE = Path(".streamlit") / "secrets.toml"


def read_secrets(cwd: Path | None = None, home: Path | None = None) -> dict[str, Any]:
    """The secrets Streamlit would see: the home directory's file, overridden by the working
    directory's. A missing or unreadable file counts as empty."""
    merged: dict[str, Any] = {}
    for folder in (home or Path.home(), cwd or Path.cwd()):
        try:
            merged.update(tomllib.loads((folder / SECRETS_FILE).read_text(encoding="utf-8")))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
            continue
    return merged


@dataclass(frozen=True)
class Settings:
    """Where the data is and which pseudonym key to use, with where each came from."""

    database_url: str
    pseudonym_key: str
    key_source: str  # "argument", "environment", "secrets" or "demo"
    #: keyed log mode (``SIPDASH_LOG_KEY``, see events.chain): None = unkeyed
    log_key: str | None = None

    @property
    def key_is_demo(self) -> bool:
        return self.pseudonym_key == DEMO_KEY


def _first(
    name: str, explicit: str | None, env: Mapping[str, str], secrets: Mapping[str, Any]
) -> tuple[str | None, str]:
    if explicit:
        return explicit, "argument"
    if env.get(name):
        return env[name], "environment"
    value = secrets.get(name)
    if value:
        return str(value), "secrets"
    return None, "default"


def load_settings(
    url: str | None = None,
    key: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    secrets: Mapping[str, Any] | None = None,
) -> Settings:
    """Settings in the one precedence (argument, environment, secrets.toml, default)."""
    env = os.environ if env is None else env
    secrets = read_secrets() if secrets is None else secrets
    found_url, _ = _first(ENV_VAR, url, env, secrets)
    found_key, source = _first(KEY_ENV, key, env, secrets)
    found_log_key, _ = _first(LOG_KEY_ENV, None, env, secrets)
    return Settings(
        database_url=normalise_url(found_url or DEFAULT_URL),
        pseudonym_key=found_key or DEMO_KEY,
        key_source=source if found_key else "demo",
        # refuses a key that is too short (LogKeyError), never echoing it
        log_key=chain_log_key(found_log_key) if found_log_key else None,
    )


@dataclass
class Wiring:
    """The collaborators every entry point needs, made once, passed explicitly."""

    settings: Settings
    store: EventStore
    projector: Projector
    registry: PatientRegistry
    #: the programme's enablers (events.elements): the projector's read models derive from it
    elements: Registry = ELEMENTS

    def importer(self, *, actor: str = "sipdash import"):
        """An :class:`audit.imports.Importer` over this wiring."""
        from .imports import Importer

        return Importer(
            self.store,
            self.registry,
            demo_key=self.settings.key_is_demo,
            projector=self.projector,
            actor=actor,
            elements=self.elements,
        )

    def audit_service(self):
        """An :class:`audit.service.AuditService` over this wiring (its enablers included)."""
        from .service import AuditService

        return AuditService(self.store, self.projector, elements=self.elements)

    def survey_importer(self, *, actor: str = "sipdash import"):
        """An :class:`audit.survey_imports.SurveyImporter` over this wiring."""
        from .survey_imports import SurveyImporter

        return SurveyImporter(self.store, actor=actor, elements=self.elements)

    def forget_patient(self, raw_identifier: str, *, requested_by: str):
        """:func:`audit.privacy.forget_patient` over this wiring (the one erasure protocol)."""
        from .privacy import forget_patient

        return forget_patient(self, raw_identifier, requested_by=requested_by)


def bootstrap(
    url: str | None = None,
    key: str | None = None,
    *,
    create: bool = True,
    settings: Settings | None = None,
    registry: Registry = ELEMENTS,
) -> Wiring:
    """Open the database named by the settings and wire store, projector and registry.

    ``create`` makes any missing tables (the read models and the pseudonym mapping).
    ``registry``: the programme's enablers (default: the three of events.elements); a
    programme with another set passes its own, and the read models, projector and services
    derive from it."""
    settings = settings or load_settings(url, key)
    store = EventStore(settings.database_url, log_key=settings.log_key)
    wiring = wire(settings, store, Projector(store, registry))
    if create:
        wiring.projector.ensure_schema()
        wiring.registry.ensure_schema()
    return wiring


def wire(settings: Settings, store: EventStore, projector: Projector) -> Wiring:
    """The wiring over an already open store and projector (the dashboard keeps one of each
    per database for the life of the server, while the key is re-read on every run)."""
    return Wiring(
        settings,
        store,
        projector,
        PatientRegistry(store.engine, settings.pseudonym_key),
        projector.registry,
    )
