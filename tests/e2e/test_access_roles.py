"""Access in the running app (AppTest): read-only local mode, and sign-in when configured."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.helpers.logs import head_position

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "dashboard" / "app.py")
WRITE_PAGES = ("worklist", "milestones", "commentary", "imports")
AUTH = {
    "auth": {
        "redirect_uri": "http://localhost:8501/oauth2callback",
        "cookie_secret": "test-cookie-secret",
        "client_id": "id",
        "client_secret": "secret",
        "server_metadata_url": "https://login.example/.well-known/openid-configuration",
    },
    "sipdash": {"roles": {"lead@nhs.net": "editor"}},
}


@pytest.fixture
def url(monkeypatch, seeded_db_copy: Path) -> str:
    url = f"sqlite:///{seeded_db_copy}"
    monkeypatch.setenv("SIPDASH_DATABASE_URL", url)
    return url


def _nav_pages(at: AppTest) -> list[str]:
    """Titles of the pages st.navigation registered on the last run (AppTest keeps them in
    ``_registered_pages``; there is no public accessor)."""
    return [str(info.get("page_name")) for info in at._registered_pages.values()]


def _page_script(page: str) -> AppTest:
    """A write page run on its own: what a viewer would get if the navigation let them in."""
    at = AppTest.from_file(str(ROOT / "dashboard" / "app_pages" / f"{page}.py"), default_timeout=60)
    at.run()
    return at


def test_a_local_viewer_has_no_write_pages_and_cannot_write(url, monkeypatch):
    monkeypatch.setenv("SIPDASH_LOCAL_ROLE", "viewer")
    before = head_position(url)
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    pages = _nav_pages(at)
    assert "Programme overview" in pages and "Review pack" in pages
    assert not {
        "Audit worklist",
        "Milestones and targets",
        "Commentary and sign-off",
        "Import",
    } & set(pages)
    sidebar = " ".join(c.value for c in at.sidebar.caption)
    assert "Local single-user mode" in sidebar and "read only" in sidebar

    for page in WRITE_PAGES:
        # through the app: the page is not in the navigation at all
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(f"app_pages/{page}.py")
        # the page itself refuses too (defence in depth)
        alone = _page_script(page)
        assert not alone.exception, alone.exception
        assert any("You have read-only access" in i.value for i in alone.info)
        assert not alone.get("form") and not alone.file_uploader
    assert head_position(url) == before


def test_a_local_editor_sees_the_write_pages(url, monkeypatch):
    monkeypatch.delenv("SIPDASH_LOCAL_ROLE", raising=False)
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert {"Audit worklist", "Milestones and targets", "Commentary and sign-off", "Import"} <= set(
        _nav_pages(at)
    )
    assert "Local single-user mode" in " ".join(c.value for c in at.sidebar.caption)


def test_sign_in_configured_and_nobody_signed_in_shows_only_a_login_button(url):
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets.update(AUTH)
    at.user = {"is_logged_in": False}
    at.run()
    assert not at.exception, at.exception
    assert [b.label for b in at.button] == ["Log in"]
    assert not at.dataframe and not at.metric
    assert "Programme overview" not in _nav_pages(at)  # no st.navigation: no pages at all


def test_signed_in_editor_and_viewer(url):
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets.update(AUTH)
    at.user = {"is_logged_in": True, "email": "Lead@nhs.net"}
    at.run()
    assert not at.exception, at.exception
    assert "Audit worklist" in _nav_pages(at)
    assert any(
        "Signed in as **Lead@nhs.net**, role **editor**" in c.value for c in at.sidebar.caption
    )
    assert "Log out" in [b.label for b in at.sidebar.button]

    viewer = AppTest.from_file(APP, default_timeout=120)
    viewer.secrets.update(AUTH)
    viewer.user = {"is_logged_in": True, "email": "someone@nhs.net"}
    viewer.run()
    assert "Audit worklist" not in _nav_pages(viewer)
    assert any("role **viewer**" in c.value for c in viewer.sidebar.caption)
