"""The words of the pack's surveys and reach sections, on constructed tables (no I/O)."""

from __future__ import annotations

import pandas as pd

from audit.triangulation import COLUMNS, FLAG_TEXT
from dashboard import pack_sections as ps


def _tri(**over) -> pd.DataFrame:
    row = {
        "team": "t1",
        "team_name": "Team One",
        "measure": "goal_setting",
        "quarter": "2025-Q1",
        "notes_yes": 48,
        "notes_n": 60,
        "notes_rate": 0.8,
        "survey_yes": 25,
        "survey_n": 66,
        "survey_rate": 25 / 66,
        "difference": 0.8 - 25 / 66,
        "diff_low": 0.25,
        "diff_high": 0.56,
        "flagged": True,
    } | over
    return pd.DataFrame([row], columns=COLUMNS)


def test_a_flagged_pair_prints_both_rates_beside_their_n_and_the_interval_in_one_cell() -> None:
    table = pd.concat([_tri(), _tri(team="t2", team_name="Team Two", flagged=False)])
    shown = ps.flags_table(table)
    assert shown.to_dict("records") == [
        {
            "Team": "Team One",
            "Enabler": "Goal setting",
            "Case notes (audit sample)": "80%, n = 60",
            "Patients report": "38%, n = 66",
            "Difference (notes − patients)": "+42%",
            "95% interval (Newcombe)": "+25% to +56%",
            "Screening flag": "⚑",
        }
    ]
    assert FLAG_TEXT == "documented more often than patients report"


def test_no_flagged_pair_gives_an_empty_table_not_an_error() -> None:
    assert ps.flags_table(_tri(flagged=False)).empty


def test_a_small_stratum_is_never_printed_as_zero_percent() -> None:
    assert ps.rate_text(None, None, None, 4) == "too few notes (n = 4)"
    assert ps.rate_text(float("nan"), None, None, 0) == "no notes (n = 0)"
    assert ps.rate_text(0.0, 0.0, 0.019, 196) == "0% (0%–2%), n = 196"


def test_the_gap_table_uses_the_reach_pages_verdict_words_and_team_names() -> None:
    from dashboard import reach_data

    assert ps.VERDICT_LABELS == reach_data.VERDICT_LABELS
    gaps = pd.DataFrame(
        [
            ["t1", "2025-Q2", 12, 75, 21, 24, -0.715, -0.82, -0.505, "less often", 0.04],
            ["t2", "2025-Q2", 1, 5, 3, 30, None, None, None, "too few notes", None],
        ],
        columns=[
            "team", "period", "q1_numerator", "q1_notes", "q5_numerator", "q5_notes",
            "gap", "gap_low", "gap_high", "verdict", "share_missing",
        ],
    )  # fmt: skip
    out = ps.gap_table(gaps, {"t1": "Team One"})
    assert out["Team"].tolist() == ["Team One", "t2"]
    assert out["Q1 − Q5 gap (95% interval)"].tolist() == ["−72 points (−82 to −50)", "—"]
    assert out["Verdict"].tolist() == ["⚠ most deprived less often", "too few notes"]
    assert out["No quintile"].tolist() == ["4%", ""]
