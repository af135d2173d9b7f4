"""How inter-rater agreement is worded on the worklist, the team page and in the pack: the
count that decides whether kappa is shown is notes reviewed twice, and kappa is per enabler."""

from __future__ import annotations

from dashboard.presentation import agreement_by_enabler_text, agreement_text


def _fig(pa, kappa, notes):
    return {"n": notes, "notes": notes, "percent_agreement": pa, "kappa": kappa}


def test_withheld_agreement_names_the_notes_reviewed_twice_and_the_minimum() -> None:
    agree = {**_fig(None, None, 7), "n": 21, "minimum_notes": 20, "by_enabler": {}}
    text = agreement_text(agree, "MSK")
    assert "7 notes reviewed twice" in text
    assert "at least 20" in text
    assert "21" not in text  # 21 note x enabler findings must not read as enough


def test_reported_agreement_gives_kappa_and_both_counts() -> None:
    agree = {**_fig(92.0, 0.81, 24), "n": 72, "minimum_notes": 20, "by_enabler": {}}
    text = agreement_text(agree, "Programme-wide")
    assert "92% agreement" in text and "kappa 0.81" in text
    assert "24 notes reviewed twice" in text and "72 paired findings" in text


def test_kappa_is_listed_per_enabler_only_where_there_are_enough_notes() -> None:
    agree = {
        "by_enabler": {
            "agenda_setting": _fig(95.0, 0.8, 22),
            "goal_setting": _fig(None, None, 12),
            "follow_up": _fig(100.0, None, 22),
        }
    }
    text = agreement_by_enabler_text(agree)
    assert text is not None
    assert "Agenda setting 95% (κ 0.80, 22 notes)" in text
    assert "Goal setting" not in text
    assert "Follow-up 100% (κ not defined, 22 notes)" in text
    assert agreement_by_enabler_text({"by_enabler": {"goal_setting": _fig(None, None, 3)}}) is None
