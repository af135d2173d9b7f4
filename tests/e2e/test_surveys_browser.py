# ruff: noqa: F811 - the fixtures imported below are used as test parameters
"""The team page in "Both" mode in a real browser (``sipdash serve`` on the seeded demo).

Screenshots go where ``SIPDASH_SCREENSHOTS`` says (else a temp folder) and their paths are
printed, so a person can look at them; they are never committed."""

from __future__ import annotations

import re
from urllib.parse import quote_plus

import pytest
from playwright.sync_api import expect

from audit.triangulation import FLAG_TEXT
from tests.e2e.test_dashboard_browser import (  # the same server, browser and helpers
    PAGES,
    _open,
    _settle,
    _shot,
    _team_name,
    browser,  # noqa: F401 - fixture
    page,  # noqa: F401 - fixture
    server,  # noqa: F401 - fixture
    shots,  # noqa: F401 - fixture
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_team_page_in_both_mode_draws_both_sources_and_the_flag(server, page, shots, seeded_db):
    name = _team_name(seeded_db, "b-diab")
    url = f"team?team={quote_plus(name)}&measure=Goal+setting&source=Both"
    _open(page, server, url, PAGES["team"])
    expect(page.get_by_role("heading", name=f"{name}: goal setting, case notes and patients"))
    chart = page.locator('[data-testid="stVegaLiteChart"]')
    expect(chart).to_have_count(1)
    expect(chart.locator("canvas, svg").first).to_be_visible()
    box = chart.bounding_box()
    assert box and box["width"] > 600 and box["height"] > 300
    expect(page.get_by_text("Case notes (audit sample)").first).to_be_visible()
    expect(page.get_by_text("Patients report (surveys)").first).to_be_visible()
    expect(page.get_by_text(re.compile(FLAG_TEXT)).first).to_be_visible()
    expect(page.get_by_text(re.compile("prompt, not a verdict")).first).to_be_visible()
    _shot(page, shots, "team-both-tick-box")

    page.get_by_text("Patient surveys", exact=True).click()
    _settle(page)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    assert "source=Patient+surveys" in page.url or "source=Patient%20surveys" in page.url
    expect(page.get_by_role("heading", name=re.compile("as patients report it"))).to_be_visible()
    _shot(page, shots, "team-patient-surveys")


def test_overview_shows_the_triangulation_table(server, page, shots):
    _open(page, server, "", PAGES[""])
    heading = page.get_by_role("heading", name="Case notes and patient surveys")
    expect(heading).to_be_visible()
    heading.scroll_into_view_if_needed()
    expect(page.get_by_text(re.compile("prompt, not a verdict")).first).to_be_visible()
    _shot(page, shots, "overview-triangulation")
