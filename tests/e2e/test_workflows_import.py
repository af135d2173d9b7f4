"""CSV import through the dashboard's Import page (AppTest uploads the file)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.helpers.logs import head_position

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
HEADER = (
    "consultation_id,team,clinician,patient,occurred_on,contact,agenda_setting,goal_setting,"
    "follow_up"
)


@pytest.fixture
def url(url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The conftest's copy, with no pseudonym key in the environment either."""
    monkeypatch.delenv("SIPDASH_PSEUDONYM_KEY", raising=False)
    return url


def _import_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.switch_page("app_pages/imports.py").run()
    assert not at.exception, at.exception
    return at


def test_a_good_file_is_imported_and_counted(url):
    rows = [
        f"im-{i},a-msk,im-clin,LOCAL{i},2026-02-0{1 + i},telephone,yes,{'yes' if i else 'no'},no"
        for i in range(3)
    ]
    content = ("\n".join([HEADER, *rows]) + "\n").encode()
    at = _import_page()
    assert any("demo pseudonym key is in use" in w.value for w in at.warning)
    at.file_uploader(key="im_file_consultations").upload("feb.csv", content, "text/csv").run()
    assert not at.exception
    preview = at.dataframe[0].value
    assert len(preview) == 3 and set(preview["patient"]) == {"(hidden)"}
    before = head_position(url)
    at.button(key="im_go").click().run()
    assert not at.exception, at.exception
    message = " ".join(s.value for s in at.success)
    # 1 clinician + 3 consultations + 3 agenda + 2 goal events + the (demo) pseudonym key's
    # check value, recorded by the first write that uses a key
    assert "3 rows, **10 events appended**, 0 already in the log" in message
    assert head_position(url) == before + 10

    at.button(key="im_go").click().run()  # the same file again adds nothing (the clinician
    # is known by now, so 8 events are compared and skipped)
    assert "**0 events appended**, 8 already in the log" in " ".join(s.value for s in at.success)
    assert head_position(url) == before + 10


def test_a_faulty_file_lists_every_problem_and_appends_nothing(url):
    rows = [
        "bad-1,a-msk,c1,LOCAL1,2026-13-01,telephone,yes,no,no",
        "bad-2,no-such-team,c1,LOCAL2,2026-02-01,telephone,maybe,no,no",
        "bad-3,a-msk,c1,943 476 5919,2026-02-01,telephone,yes,no,no",
    ]
    content = ("\n".join([HEADER, *rows]) + "\n").encode()
    before = head_position(url)
    at = _import_page()
    at.file_uploader(key="im_file_consultations").upload("bad.csv", content, "text/csv").run()
    at.button(key="im_go").click().run()
    assert not at.exception, at.exception
    assert any("nothing was added to the log" in e.value for e in at.error)
    problems = at.dataframe[-1].value["Problem"].tolist()
    text = "\n".join(problems)
    assert "row 2, column occurred_on" in text
    assert "row 3, column team" in text and "row 3, column agenda_setting" in text
    assert "row 4, column patient" in text and "SIPDASH_PSEUDONYM_KEY" in text
    assert "9434765919" not in text and "943 476 5919" not in text
    assert any("SIPDASH_PSEUDONYM_KEY" in i.value for i in at.info)
    assert head_position(url) == before


def test_register_unknown_teams_and_import_reviews(url):
    content = (HEADER + "\nnt-1,New Team,nt-c,LOCALX,2026-03-02,video,yes,yes,yes\n").encode()
    at = _import_page()
    at.file_uploader(key="im_file_consultations").upload("new.csv", content, "text/csv").run()
    at.checkbox(key="im_register").check()
    at.button(key="im_go").click().run()
    assert not at.exception, at.exception
    assert "Teams registered: New Team" in " ".join(s.value for s in at.success)

    at.radio(key="im_kind").set_value("reviews").run()
    assert not at.checkbox  # the register tick-box is for consultations only
    review = b"team,period,consultation_id,reviewer,agenda_setting,goal_setting,follow_up\n"
    review += b"New Team,2026-03,nt-1,rev,yes,yes,na\n"
    at.file_uploader(key="im_file_reviews").upload("reviews.csv", review, "text/csv").run()
    before = head_position(url)
    at.button(key="im_go").click().run()
    assert "not in an open audit round" in at.dataframe[-1].value["Problem"].iloc[0]
    assert head_position(url) == before


def test_a_private_key_from_the_environment_is_used(url, monkeypatch):
    monkeypatch.setenv(
        "SIPDASH_PSEUDONYM_KEY", "a-private-test-key-0123456789-0123456789abcdef0123"
    )
    at = _import_page()
    assert not at.warning or not any("demo pseudonym key" in w.value for w in at.warning)
    assert any("private pseudonym key is configured" in c.value for c in at.caption)
