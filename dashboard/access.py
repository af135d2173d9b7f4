"""Who may do what in the dashboard: roles, sign-in and the actor recorded on every event.

Two roles: ``viewer`` reads every page; ``editor`` also gets the write pages (audit worklist,
milestones and targets, commentary and sign-off, import).

- **Signed-in mode**: when ``.streamlit/secrets.toml`` has an ``[auth]`` section (Streamlit's
  OpenID Connect sign-in, ``st.login`` / ``st.user``), a person must sign in; their role comes
  from ``[sipdash.roles]`` (email → role, case-insensitive); anyone not listed is a viewer.
- **Local single-user mode**: no ``[auth]``: the app runs for whoever started it, as an
  editor unless ``SIPDASH_LOCAL_ROLE=viewer``.

The decisions are pure functions of their inputs (unit-tested without streamlit); the two
functions at the end read them from the running app.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

VIEWER = "viewer"
EDITOR = "editor"
ROLES = (VIEWER, EDITOR)
LOCAL_ACTOR = "local user"
LOCAL_ROLE_ENV = "SIPDASH_LOCAL_ROLE"
KEY_NAME = "SIPDASH_PSEUDONYM_KEY"

READ_ONLY_MESSAGE = (
    "You have read-only access: this page changes the audit record, which needs the editor "
    "role. Ask the dashboard's administrator if you should have it."
)


@dataclass(frozen=True)
class Access:
    """The person using the app on this run."""

    mode: str  # "local" or "signed_in"
    logged_in: bool
    actor: str | None  # what goes into each event's metadata["actor"]
    role: str

    @property
    def can_write(self) -> bool:
        return self.logged_in and self.role == EDITOR

    @property
    def local(self) -> bool:
        return self.mode == "local"


def normalise_role(value: object) -> str:
    """A configured role as one of :data:`ROLES`; anything unrecognised is ``viewer``."""
    role = str(value or "").strip().lower()
    return role if role in ROLES else VIEWER


def role_for(email: str | None, roles: Mapping[str, Any] | None) -> str:
    """The role of a signed-in user from the email → role mapping; unknown users are viewers."""
    if not email or not roles:
        return VIEWER
    wanted = email.strip().lower()
    for who, role in roles.items():
        if str(who).strip().lower() == wanted:
            return normalise_role(role)
    return VIEWER


def local_role(env: Mapping[str, str]) -> str:
    """The role in local single-user mode: editor, unless ``SIPDASH_LOCAL_ROLE`` says
    otherwise (any value but ``editor`` gives read-only access: a typo fails closed)."""
    value = (env.get(LOCAL_ROLE_ENV) or "").strip().lower()
    return EDITOR if value in ("", EDITOR) else VIEWER


def auth_configured(secrets: Mapping[str, Any]) -> bool:
    """Streamlit sign-in is set up when secrets hold a non-empty ``[auth]`` section."""
    auth = secrets.get("auth")
    return bool(auth)


def decide(
    *, secrets: Mapping[str, Any], user: Mapping[str, Any], env: Mapping[str, str]
) -> Access:
    """Who is using the app and with which role, from secrets, ``st.user`` and the environment."""
    if not auth_configured(secrets):
        return Access("local", True, LOCAL_ACTOR, local_role(env))
    if not user.get("is_logged_in"):
        return Access("signed_in", False, None, VIEWER)
    email = str(user.get("email") or "").strip()
    sipdash = secrets.get("sipdash") or {}
    roles = sipdash.get("roles") if isinstance(sipdash, Mapping) else None
    return Access("signed_in", True, email or "signed-in user", role_for(email, roles))


def pseudonym_key(env: Mapping[str, str], secrets: Mapping[str, Any]) -> str | None:
    """The configured pseudonym key: ``SIPDASH_PSEUDONYM_KEY`` in the environment, else in
    secrets; None when neither is set (the demo key is then used)."""
    key = env.get(KEY_NAME) or secrets.get(KEY_NAME)
    return str(key) if key else None


def login_provider(secrets: Mapping[str, Any]) -> str | None:
    """``[sipdash] login_provider`` names the ``[auth.<provider>]`` to use, if several exist."""
    sipdash = secrets.get("sipdash") or {}
    provider = sipdash.get("login_provider") if isinstance(sipdash, Mapping) else None
    return str(provider) if provider else None


# ------------------------------------------------------------------------ from the running app


def app_secrets() -> dict[str, Any]:
    """``st.secrets`` as a plain dict; empty when there is no secrets file."""
    import streamlit as st

    try:
        return {k: _plain(st.secrets[k]) for k in st.secrets.keys()}  # noqa: SIM118
    except Exception:  # no secrets.toml (StreamlitSecretNotFoundError) or an unreadable one
        return {}


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def current() -> Access:
    """The access of the person running this script run."""
    import streamlit as st

    secrets = app_secrets()
    user: Mapping[str, Any] = {}
    if auth_configured(secrets):
        try:
            user = st.user.to_dict()
        except Exception:
            user = {}
    return decide(secrets=secrets, user=user, env=os.environ)
