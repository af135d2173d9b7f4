"""Spellings of a team that a reader cannot tell apart name one team (audit.team_names)."""

from __future__ import annotations

import unicodedata

import pytest

from audit.team_names import team_key

CAFE = "Café MSK"
SPELLINGS = {
    "upper case": "CAFÉ MSK",
    "lower case": "café msk",
    "decomposed accent (NFD)": unicodedata.normalize("NFD", CAFE),
    "no-break space": "Café\u00a0MSK",
    "doubled space": "Café  MSK",
    "zero-width space": "Café\u200b MSK",
    "byte-order mark in front": "\ufeffCafé MSK",
    "surrounding spaces": "  Café MSK ",
}


@pytest.mark.parametrize("spelling", list(SPELLINGS))
def test_spellings_a_reader_cannot_tell_apart_share_one_key(spelling: str) -> None:
    assert team_key(SPELLINGS[spelling]) == team_key(CAFE) == "café msk"


def test_teams_that_differ_in_a_letter_keep_different_keys() -> None:
    assert team_key("Cafe MSK") != team_key(CAFE)  # no accent is another word
    assert team_key("MSK 1") != team_key("MSK 2")
    assert team_key("MSK1") != team_key("MSK 1")
