"""Proves the browser provisioning: Playwright drives Debian's chromium (never a download)."""

import socket
import subprocess
import sys
import time

import pytest
from playwright.sync_api import sync_playwright

from tests.helpers.serve import free_port

pytestmark = pytest.mark.browser


@pytest.fixture
def static_site(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text(
        "<!doctype html><title>sipdash smoke</title><h1 id='t'>Agenda setting: 80%</h1>"
    )
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=site,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_chromium_renders_page(static_site, chromium_launch_kwargs, tmp_path):
    shot = tmp_path / "shots" / "smoke.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(**chromium_launch_kwargs)
        try:
            page = browser.new_page()
            page.goto(static_site)
            assert page.title() == "sipdash smoke"
            assert page.locator("#t").inner_text() == "Agenda setting: 80%"
            page.screenshot(path=str(shot))
        finally:
            browser.close()
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
