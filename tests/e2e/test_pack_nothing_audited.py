"""The review pack page of a log with notes but no audit round says so, and records nothing:
before, building the pack failed with "The pack could not be built (KeyError: 'measure')"."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.apptest import open_page
from tests.helpers.csv_log import imported_notes
from tests.helpers.logs import head_position


def test_building_a_pack_with_no_audited_month_says_what_to_do_and_records_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = imported_notes(f"sqlite:///{tmp_path / 'events.db'}", tmp_path)
    monkeypatch.setenv("SIPDASH_DATABASE_URL", url)
    at = open_page("pack")
    before = head_position(url)
    at.button(key="pk").click().run()
    assert not at.exception, at.exception
    assert [i.value for i in at.info if "No audit round had reviewed a case note yet" in i.value]
    assert "sipdash audit run" in at.info[-1].value
    assert not [e.value for e in at.error]
    assert head_position(url) == before  # no ExportRecorded for a pack that was not built
