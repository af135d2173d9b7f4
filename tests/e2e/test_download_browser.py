"""A table's download in chromium: the file is made when the button is clicked (Streamlit's
deferred download), holds the table as shown, and the download is recorded in the log."""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest
from playwright.sync_api import expect, sync_playwright

from events import EventStore
from tests.helpers.serve import serve, settle

expect.set_options(timeout=60_000)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def served(seeded_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """``sipdash serve`` on a private copy of the demo (a download appends an event)."""
    folder = tmp_path_factory.mktemp("download")
    db = folder / "demo.db"
    shutil.copyfile(seeded_db, db)
    for base in serve(db, folder / "serve.log"):
        yield base, f"sqlite:///{db}"


def _exports(url: str) -> list[str]:
    store = EventStore(url)
    try:
        return [e.payload["what"] for e in store.read_all(types=["ExportRecorded"])]
    finally:
        store.dispose()


def test_the_overview_grid_downloads_as_csv_and_excel_and_each_download_is_recorded(
    served: tuple[str, str], chromium_launch_kwargs: dict
) -> None:
    base, url = served
    before = _exports(url)
    with sync_playwright() as p:
        browser = p.chromium.launch(**chromium_launch_kwargs)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1600}, accept_downloads=True)
            page.set_default_timeout(60_000)
            page.goto(base)
            expect(page.get_by_role("heading", name="Programme overview")).to_be_visible()
            settle(page)
            buttons = page.locator('[data-testid="stDownloadButton"] button')
            with page.expect_download() as csv_download:
                buttons.filter(has_text="CSV").first.click()
            csv_file = csv_download.value
            rows = list(csv.reader(io.StringIO(Path(csv_file.path()).read_text("utf-8-sig"))))
            settle(page)
            with page.expect_download() as xlsx_download:
                buttons.filter(has_text="Excel").first.click()
            xlsx_file = xlsx_download.value
            sheet = openpyxl.load_workbook(io.BytesIO(Path(xlsx_file.path()).read_bytes())).active
            settle(page)
        finally:
            browser.close()
    assert csv_file.suggested_filename == "programme-overview.csv"
    assert rows[0][:3] == ["Team", "Enabler", "Latest %"]
    assert len(rows) > 8  # a header and a row per team and enabler
    assert xlsx_file.suggested_filename == "programme-overview.xlsx"
    assert [c.value for c in sheet[1]][:3] == ["Team", "Enabler", "Latest %"]
    assert sheet.max_row == len(rows)  # the same table in both files
    recorded = _exports(url)[len(before) :]
    assert sorted(recorded) == ["programme-overview.csv", "programme-overview.xlsx"]
