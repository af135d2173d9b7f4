"""Roles and sign-in decisions (pure functions, no streamlit run)."""

from __future__ import annotations

from dashboard import access
from dashboard.access import EDITOR, LOCAL_ACTOR, VIEWER, decide

AUTH = {"auth": {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x"}}
ROLES = {"sipdash": {"roles": {"Lead@NHS.net": "editor", "boss@nhs.net": "viewer", "x@y": "god"}}}


def test_no_auth_is_local_single_user_mode_as_editor():
    a = decide(secrets={}, user={}, env={})
    assert (a.mode, a.logged_in, a.actor, a.role, a.can_write) == (
        "local",
        True,
        LOCAL_ACTOR,
        EDITOR,
        True,
    )


def test_local_role_can_be_viewer_and_typos_fail_closed():
    assert decide(secrets={}, user={}, env={"SIPDASH_LOCAL_ROLE": "viewer"}).can_write is False
    assert access.local_role({"SIPDASH_LOCAL_ROLE": " Editor "}) == EDITOR
    assert access.local_role({"SIPDASH_LOCAL_ROLE": "admin"}) == VIEWER
    assert access.local_role({"SIPDASH_LOCAL_ROLE": ""}) == EDITOR


def test_an_empty_auth_section_is_not_sign_in():
    assert decide(secrets={"auth": {}}, user={}, env={}).mode == "local"


def test_auth_configured_and_not_signed_in_gives_nothing():
    a = decide(secrets=AUTH | ROLES, user={"is_logged_in": False}, env={})
    assert (a.mode, a.logged_in, a.actor, a.can_write) == ("signed_in", False, None, False)
    # the local role variable does not open the door when sign-in is configured
    a = decide(secrets=AUTH, user={}, env={"SIPDASH_LOCAL_ROLE": "editor"})
    assert not a.logged_in and not a.can_write


def test_signed_in_roles_come_from_the_mapping_case_insensitively():
    user = {"is_logged_in": True, "email": "lead@nhs.net"}
    a = decide(secrets=AUTH | ROLES, user=user, env={})
    assert (a.actor, a.role, a.can_write) == ("lead@nhs.net", EDITOR, True)
    boss = decide(secrets=AUTH | ROLES, user={**user, "email": "boss@nhs.net"}, env={})
    assert boss.role == VIEWER and not boss.can_write


def test_unknown_users_and_unknown_roles_are_viewers():
    stranger = {"is_logged_in": True, "email": "someone@else.org"}
    assert decide(secrets=AUTH | ROLES, user=stranger, env={}).role == VIEWER
    odd = {"is_logged_in": True, "email": "x@y"}
    assert decide(secrets=AUTH | ROLES, user=odd, env={}).role == VIEWER
    assert decide(secrets=AUTH, user=stranger, env={}).role == VIEWER  # no mapping at all
    assert access.role_for(None, {"a": "editor"}) == VIEWER


def test_pseudonym_key_from_environment_then_secrets():
    assert access.pseudonym_key({}, {}) is None
    assert access.pseudonym_key({}, {"SIPDASH_PSEUDONYM_KEY": "s"}) == "s"
    assert (
        access.pseudonym_key({"SIPDASH_PSEUDONYM_KEY": "e"}, {"SIPDASH_PSEUDONYM_KEY": "s"}) == "e"
    )


def test_login_provider_is_optional():
    assert access.login_provider({}) is None
    assert access.login_provider({"sipdash": {"login_provider": "microsoft"}}) == "microsoft"
