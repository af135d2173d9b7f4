"""The real thing: ``sipdash serve`` on the seeded demo, every page opened in chromium.

Screenshots (1280×900, full page) go to ``SIPDASH_SCREENSHOTS`` if set, else a temp folder;
their paths are printed (``pytest -s``) so a person can look at them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, quote_plus, urlparse

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.helpers.serve import serve
from tests.helpers.serve import settle as _settle  # also used by test_surveys_browser

# A cold first page computes every team's charts; on a busy 2-core CI machine that can take
# longer than Playwright's 5 s default for assertions, so wait as long as a page may take.
expect.set_options(timeout=60_000)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

VIEWPORT = {"width": 1280, "height": 900}
PAGES = {
    "": "Programme overview",
    "team": "Team",
    "compare": "Compare teams",
    "events": "Event log",
    "pack": "Review pack",
    "worklist": "Audit worklist",
    "milestones": "Milestones and targets",
    "commentary": "Commentary and sign-off",
    "import": "Import",
}


@pytest.fixture(scope="module")
def server(seeded_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``sipdash serve`` in its own process group, killed (the group) at the end."""
    yield from serve(seeded_db, tmp_path_factory.mktemp("serve") / "serve.log")


def _team_name(db: Path, team_id: str) -> str:
    from audit import queries
    from events import EventStore

    store = EventStore(f"sqlite:///{db}")
    try:
        teams = queries.teams(store.engine)
    finally:
        store.dispose()
    return teams.set_index("team_id").loc[team_id, "name"]


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wanted = os.environ.get("SIPDASH_SCREENSHOTS")
    folder = Path(wanted) if wanted else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser(chromium_launch_kwargs: dict):
    with sync_playwright() as p:
        b = p.chromium.launch(**chromium_launch_kwargs)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT)
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    try:
        yield pg
    finally:
        context.close()


def _open(page: Page, base: str, path: str, title: str) -> None:
    page.goto(f"{base}/{path}")
    expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible()
    _settle(page)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)


def _shot(page: Page, shots: Path, name: str) -> Path:
    """The whole page: Streamlit scrolls inside its main block, so the viewport is made as tall
    as the content for the shot (same 1280 px width), then put back."""
    path = shots / f"{name}.png"
    height = page.evaluate(
        "() => Math.max(...['stMain', 'stSidebar'].map(id => "
        'document.querySelector(`[data-testid="${id}"]`)?.scrollHeight || 0))'
    )
    page.set_viewport_size({"width": VIEWPORT["width"], "height": min(max(height, 900), 8000)})
    _settle(page)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(VIEWPORT)
    print(f"screenshot: {path}")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return path


def test_overview_page(server, page, shots):
    _open(page, server, "", PAGES[""])
    expect(page.get_by_text("Synthetic demonstration data")).to_be_visible()
    metrics = page.locator('[data-testid="stMetric"]')
    expect(metrics).to_have_count(4)
    expect(metrics.first).to_contain_text(re.compile(r"\d of 8"))
    expect(
        page.get_by_text("How many of the 8 teams have made each enabler the norm")
    ).to_be_visible()
    # the grid, what changed since the last review and the triangulation flags (case notes vs
    # patient surveys)
    expect(page.locator('[data-testid="stDataFrame"]')).to_have_count(3)
    expect(page.get_by_text("Culture shift over time", exact=True)).to_be_visible()
    expect(page.get_by_text("What changed since the last review", exact=True)).to_be_visible()
    expect(page.get_by_text("How to read this", exact=True)).to_be_visible()
    _shot(page, shots, "overview")


def test_overview_row_opens_the_team_chart(server, page):
    _open(page, server, "", PAGES[""])
    grid = page.locator('[data-testid="stDataFrame"]').first  # the grid comes first
    grid.scroll_into_view_if_needed()  # below the culture-shift curve on a tall page
    _settle(page)
    box = grid.bounding_box()
    assert box is not None
    # the grid is drawn on a canvas: click the first row's selection box (header row ~35 px)
    page.mouse.click(box["x"] + 16, box["y"] + 35 + 17)
    page.wait_for_url(re.compile(r"/team\?"), timeout=30_000)
    _settle(page)
    expect(page.get_by_role("heading", name="Team", exact=True)).to_be_visible()
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    team = parse_qs(urlparse(page.url).query)["team"][0]
    expect(page.get_by_role("heading", name=re.compile(rf"^{re.escape(team)}: "))).to_be_visible()


def test_team_page(server, page, shots, seeded_db):
    name = _team_name(seeded_db, "a-msk")
    _open(page, server, f"team?team={quote_plus(name)}&measure=Goal+setting", PAGES["team"])
    expect(page.get_by_role("heading", name=f"{name}: goal setting")).to_be_visible()
    # the SPC chart, then the share of active clinicians trained drawn under it (#18)
    charts = page.locator('[data-testid="stVegaLiteChart"]')
    expect(charts).to_have_count(2)
    expect(charts.first.locator("canvas, svg").first).to_be_visible()
    expect(charts.nth(1).locator("canvas, svg").first).to_be_visible()
    expect(page.get_by_text(re.compile(r"Latest month \(\d{4}-\d\d\): variation"))).to_be_visible()
    expect(page.locator('[data-testid="stDataFrame"]')).to_have_count(2)
    _shot(page, shots, "team")
    page.get_by_text("How to read this chart", exact=True).click()
    expect(page.get_by_text("Colours always come with words", exact=False)).to_be_visible()
    _shot(page, shots, "team-how-to-read")
    page.get_by_text("XmR", exact=True).click()
    _settle(page)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    assert "chart=XmR" in page.url
    _shot(page, shots, "team-xmr")


def test_compare_page(server, page, shots):
    _open(page, server, "compare", PAGES["compare"])
    expect(page.locator('[data-testid="stVegaLiteChart"]')).to_have_count(2)
    expect(page.get_by_text("League table, with intervals")).to_be_visible()
    _shot(page, shots, "compare")


def test_event_log_page(server, page, shots):
    _open(page, server, "events", PAGES["events"])
    expect(page.get_by_text("Projection lag")).to_be_visible()
    expect(page.locator('[data-testid="stDataFrame"]')).to_have_count(1)
    page.get_by_role("button", name="Verify the whole hash chain now").click()
    _settle(page)
    expect(page.get_by_text("verified up to position")).to_be_visible()
    _shot(page, shots, "events")


def test_as_of_link_reproduces_the_view(server, page, shots):
    _open(page, server, "?as_of=2024-06-30", PAGES[""])
    expect(page.get_by_text("end of 30 June 2024")).to_be_visible()
    _shot(page, shots, "overview-as-of")


@pytest.mark.parametrize("path", ["worklist", "milestones", "commentary", "import", "pack"])
def test_write_and_pack_pages(server, page, shots, path):
    """The pages that record (and the review pack) open without error in local editor mode;
    nothing is submitted, so the shared demo database is not changed."""
    _open(page, server, path, PAGES[path])
    expect(page.get_by_text("Local single-user mode")).to_be_visible()
    nav = page.locator('[data-testid="stSidebarNav"]')
    expect(nav.get_by_text("Audit worklist")).to_be_visible()
    _shot(page, shots, f"write-{path}")


def test_reach_page_flags_a_persistent_gap_and_binds_its_filters_to_the_url(
    server, page, shots, seeded_db
):
    name = _team_name(seeded_db, "b-copd")
    _open(page, server, f"reach?reach_team={quote_plus(name)}", "Who the shift reaches")
    expect(page.get_by_text("Observational figures, not proof of cause")).to_be_visible()
    expect(page.get_by_text("patients from the most deprived areas had")).to_be_visible()
    expect(page.locator('[data-testid="stVegaLiteChart"]')).to_have_count(4)
    expect(page.get_by_text("Download every table (Excel)")).to_be_visible()
    _shot(page, shots, "reach")
    page.get_by_label("Enabler").click()  # a filter chosen on the page lands in the URL
    page.get_by_role("option", name="Follow-up").click()
    _settle(page)
    query = parse_qs(urlparse(page.url).query)
    assert query.get("reach_measure") == ["Follow-up"]
    assert query.get("reach_team") == [name]
