"""The Import page's preview shows no identifier, however the file names its patient column
(AppTest in process, and the real page in Debian chromium through ``sipdash serve``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect
from streamlit.testing.v1 import AppTest

from .test_dashboard_browser import _open, _settle, browser, page, server  # noqa: F401

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
NHS = "9434765919"
FORMS = [
    NHS,
    "943 476 5919",
    "943-476-5919",
    "943.476.5919",
    "943/476/5919",
    "943\u00a0476\u00a05919",
]
FILE = (
    "consultation_id, patient ,team,clinician,Patient,occurred_on,contact,"
    "agenda_setting,goal_setting,follow_up\n"
    "c-visible-1,943 476 5919,a-msk,K1,943-476-5919,2026-02-01,video,yes,no,no\n"
    "943.476.5919,HOSP-1,a-msk,943/476/5919,HOSP-1,2026-02-02,video,yes,no,no\n"
    "c-visible-3,9434765919,a-msk,K1\u00a0943\u00a0476\u00a05919,x,2026-02-03,video,yes,no,no\n"
)


def test_the_apptest_preview_masks_every_patient_column_and_identifier(
    monkeypatch: pytest.MonkeyPatch, seeded_db_copy: Path
) -> None:
    monkeypatch.setenv("SIPDASH_DATABASE_URL", f"sqlite:///{seeded_db_copy}")
    monkeypatch.delenv("SIPDASH_LOCAL_ROLE", raising=False)
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.switch_page("app_pages/imports.py").run()
    at.file_uploader(key="im_file_consultations").upload(
        f"clinic {NHS}.csv", FILE.encode(), "text/csv"
    ).run()
    assert not at.exception, at.exception
    preview = at.dataframe[0].value
    shown = preview.to_csv() + " ".join(m.value for m in at.markdown)
    assert "c-visible-1" in shown and "Patient" in preview.columns
    assert set(preview["patient"]) == {"(hidden)"} and set(preview["Patient"]) == {"(hidden)"}
    assert not [form for form in FORMS if form in shown]


@pytest.mark.browser
@pytest.mark.slow
def test_the_browser_preview_shows_no_identifier(server, page, tmp_path: Path) -> None:  # noqa: F811
    upload = tmp_path / "consultations.csv"
    upload.write_text(FILE, encoding="utf-8")
    _open(page, server, "import", "Import")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(upload))
    grid = page.locator('[data-testid="stDataFrame"]').first
    expect(grid).to_be_visible()
    _settle(page)
    # the grid draws on a canvas and keeps an accessible table of its cells in the DOM
    expect(grid.get_by_text("c-visible-1")).to_have_count(1)
    html = page.content()
    assert "c-visible-1" in html and "(hidden)" in html
    assert not [form for form in FORMS if form in html or form.replace("\u00a0", "&nbsp;") in html]
