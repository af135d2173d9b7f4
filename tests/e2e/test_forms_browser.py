"""In chromium against ``sipdash serve`` (issue #13 items 8 and 10): a double click on a save
button appends one event; /overview opens the overview, not "Page not found"."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from events import EventStore
from tests.helpers.serve import serve
from tests.helpers.serve import settle as _settle

expect.set_options(timeout=60_000)
pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def db(seeded_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the demo: these tests write."""
    target = tmp_path_factory.mktemp("forms") / "demo.db"
    shutil.copyfile(seeded_db, target)
    return target


@pytest.fixture(scope="module")
def server(db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from serve(
        db,
        tmp_path_factory.mktemp("serve") / "serve.log",
        [sys.executable, "-m", "dashboard.cli"],
    )


@pytest.fixture(scope="module")
def page(chromium_launch_kwargs: dict) -> Iterator[Page]:
    with sync_playwright() as p:
        browser = p.chromium.launch(**chromium_launch_kwargs)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            pg = context.new_page()
            pg.set_default_timeout(60_000)
            yield pg
        finally:
            browser.close()


def _count(db: Path, type_: str) -> int:
    store = EventStore(f"sqlite:///{db}")
    try:
        return sum(1 for _ in store.read_all(types=[type_]))
    finally:
        store.dispose()


def test_the_overview_has_its_own_address(server, page):
    page.goto(f"{server}/overview")
    expect(page.get_by_role("heading", name="Programme overview", exact=True)).to_be_visible()
    _settle(page)
    expect(page.get_by_text("Page not found")).to_have_count(0)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)


def test_a_double_click_on_save_appends_one_commentary(server, page, db):
    page.goto(f"{server}/commentary")
    expect(page.get_by_role("heading", name="Commentary and sign-off", exact=True)).to_be_visible()
    _settle(page)
    before = _count(db, "CommentaryAdded")
    page.get_by_label("Commentary", exact=True).fill("Double-clicked in chromium.")
    page.get_by_label("Your name").fill("Lead Lucy")
    button = page.get_by_role("button", name="Add the commentary")
    button.dblclick()
    _settle(page)
    assert _count(db, "CommentaryAdded") == before + 1
    # a second press while the first save is still running (the case Streamlit does not absorb)
    expect(page.get_by_label("Commentary", exact=True).first).to_have_value("")  # cleared
    _settle(page)
    page.get_by_label("Commentary", exact=True).first.fill("Pressed twice in chromium.")
    box = page.get_by_role("button", name="Add the commentary").first.bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.click(x, y)
    page.wait_for_timeout(150)
    page.mouse.click(x, y)  # the same spot again, whatever the page is redrawing
    _settle(page)
    _settle(page)
    assert _count(db, "CommentaryAdded") == before + 2
    expect(page.get_by_label("Commentary", exact=True).first).to_have_value("")


def test_a_double_click_on_log_the_milestone_appends_one(server, page, db):
    page.goto(f"{server}/milestones")
    expect(page.get_by_role("heading", name="Milestones and targets", exact=True)).to_be_visible()
    _settle(page)
    before = _count(db, "MilestoneLogged")
    page.get_by_label("Title").fill("PDSA double click")
    button = page.get_by_role("button", name="Log the milestone")
    button.dblclick()
    _settle(page)
    assert _count(db, "MilestoneLogged") == before + 1
    # a second press while the first save is still running (the case Streamlit does not absorb)
    expect(page.get_by_label("Title").first).to_have_value("")  # cleared after saving
    _settle(page)
    page.get_by_label("Title").first.fill("PDSA pressed twice")
    box = page.get_by_role("button", name="Log the milestone").first.bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.click(x, y)
    page.wait_for_timeout(150)
    page.mouse.click(x, y)  # the same spot again, whatever the page is redrawing
    _settle(page)
    _settle(page)
    assert _count(db, "MilestoneLogged") == before + 2
    expect(page.get_by_label("Title").first).to_have_value("")


def test_an_as_of_date_typed_and_entered_applies_at_once(server, page):
    page.goto(f"{server}/")
    expect(page.get_by_role("heading", name="Programme overview", exact=True)).to_be_visible()
    _settle(page)
    year = page.locator('[data-testid="stSidebar"] [data-testid="stDateInput"] [role="spinbutton"]')
    year.first.click()
    page.keyboard.type("20240630")  # year, month, day: the field moves on by itself
    page.wait_for_timeout(300)
    assert "as_of" not in page.url
    page.keyboard.press("Enter")  # no click elsewhere, no Tab: Enter alone applies it
    _settle(page)
    expect(page.get_by_text("end of 30 June 2024")).to_be_visible()
    assert "as_of=2024-06-30" in page.url
