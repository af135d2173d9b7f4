"""A chart drawn from frames is keyed on what they hold (dashboard.data.frames_digest), so it
is rebuilt when what it shows changes and reused when only the log's head moved."""

from __future__ import annotations

import pandas as pd

from dashboard.data import frames_digest


def _curve() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "period": ["2025-01", "2025-01", "2025-02"],
            "measure": ["agenda_setting", "all_three", "agenda_setting"],
            "teams_norm": [1, 0, 2],
            "teams_total": [4, 4, 4],
        }
    )


def test_the_same_content_read_again_has_the_same_digest() -> None:
    assert frames_digest(_curve(), _curve()[:0]) == frames_digest(_curve(), _curve()[:0])


def test_one_changed_count_changes_the_digest() -> None:
    changed = _curve()
    changed.loc[2, "teams_norm"] = 3
    assert frames_digest(changed) != frames_digest(_curve())


def test_a_renamed_column_or_a_moved_frame_changes_the_digest() -> None:
    renamed = _curve().rename(columns={"teams_norm": "teams"})
    assert frames_digest(renamed) != frames_digest(_curve())
    empty = _curve()[:0]
    assert frames_digest(_curve(), empty) != frames_digest(empty, _curve())
