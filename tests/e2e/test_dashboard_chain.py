"""The dashboard's side of the chain work (AppTest): the head it shows, and a truncated log.

- The sidebar shows 16 hex digits of the head (``verify --expect-head`` takes 12 or more).
- When the read models are ahead of a truncated log the app says why and what to run,
  instead of silently showing facts the log no longer holds.
- An unusable ``SIPDASH_LOG_KEY`` is a message on the page, never a traceback or the key.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from streamlit.testing.v1 import AppTest

from tests.helpers.logs import folded_log

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
PATIENT = "p_" + "ef" * 16


def _folded_log(url: str, n: int) -> str:
    store, head = folded_log(url, PATIENT, n)
    store.dispose()
    return head


def test_the_dashboard_shows_why_it_refuses_a_truncated_log(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _folded_log(sqlite_url, n=30)
    conn = sqlite3.connect(make_url(sqlite_url).database)
    conn.execute("DROP TRIGGER events_no_delete")
    conn.execute("DELETE FROM events WHERE position > 41")
    conn.commit()
    conn.close()
    monkeypatch.setenv("SIPDASH_DATABASE_URL", sqlite_url)
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    text = " ".join(e.value for e in at.error)
    assert "shorter than the read models" in text and "sipdash rebuild" in text, text


def test_the_sidebar_shows_16_hex_digits_of_the_head(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    head = _folded_log(sqlite_url, n=3)
    monkeypatch.setenv("SIPDASH_DATABASE_URL", sqlite_url)
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    captions = " ".join(c.value for c in at.sidebar.caption)
    assert f"hash `{head[:16]}…`" in captions, captions


def test_an_unusable_log_key_is_shown_not_raised(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _folded_log(sqlite_url, n=1)
    monkeypatch.setenv("SIPDASH_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("SIPDASH_LOG_KEY", "tiny-key")
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    text = " ".join(e.value for e in at.error)
    assert "SIPDASH_LOG_KEY is too short" in text and "tiny-key" not in text, text
