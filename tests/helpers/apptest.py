"""The dashboard run in process by Streamlit's AppTest, as the end-to-end tests open it."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")


def open_app(timeout: float = 180, **query: str) -> AppTest:
    """The app's first page, with ``query`` as its URL parameters; it ran without an error."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


def open_page(page: str, timeout: float = 180) -> AppTest:
    """``dashboard/app_pages/{page}.py`` reached through the app's navigation, without an
    error."""
    at = open_app(timeout)
    at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception, at.exception
    return at
