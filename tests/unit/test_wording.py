"""Counts in messages: "1 row", never "1 rows"."""

from audit.wording import counted


def test_one_is_singular_and_every_other_count_is_plural() -> None:
    assert counted(1, "row") == "1 row"
    assert counted(0, "row") == "0 rows"
    assert counted(2, "event") == "2 events"


def test_an_irregular_plural_is_used_as_given() -> None:
    assert counted(3, "analysis", "analyses") == "3 analyses"
    assert counted(1, "analysis", "analyses") == "1 analysis"


def test_the_cli_keeps_plain_digits_and_the_dashboard_groups_thousands() -> None:
    assert counted(12000, "row") == "12000 rows"
    assert counted(12000, "row", grouped=True) == "12,000 rows"
