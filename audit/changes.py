"""What changed since the last review: each team's state then and now, both from as-of views.

A board meets every few months and asks "what is different since we last looked?". Both sides
are computed with ``views.overview`` as known at a moment (the last programme review's sign-off,
or any date), so the comparison is reproducible: the same two moments always give the same
list, whatever was appended afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from . import labels, views

STATE_FIELDS = ("variation", "assurance", "is_norm")
CHANGE_COLUMNS = [
    "team_id",
    "team",
    "measure",
    "measure_label",
    "field",
    "field_label",
    "then",
    "now",
    "then_label",
    "now_label",
]
_VARIATION_RANK = {"concern": 0, "neither": 1, "common_cause": 1, None: 1, "improvement": 2}
_ASSURANCE_RANK = {"fail": 0, "hit_or_miss": 1, None: 1, "pass": 2}


@dataclass(frozen=True)
class ReviewPoint:
    """The moment compared with: when it was known, and how to say it."""

    at: datetime
    label: str
    signed_off_by: str | None = None
    head_hash: str | None = None


def parse_ts(text: str) -> datetime:
    """A stored ``recorded_at`` (``…Z``) as an aware UTC datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def last_programme_review(engine: Engine, *, as_of: datetime | None = None) -> ReviewPoint | None:
    """The latest programme-level ``ReviewSignedOff`` known at ``as_of`` (None when there is
    none), as the moment to compare with (``audit.commentary.last_programme_review``)."""
    from .commentary import last_programme_review as last_review

    found = last_review(engine, as_of=as_of)
    if found is None:
        return None
    by = found.get("signed_off_by") or "someone"
    return ReviewPoint(
        at=parse_ts(str(found["recorded_at"])),
        label=f"the programme review signed off by {by}",
        signed_off_by=found.get("signed_off_by"),
        head_hash=found.get("viewed_head"),
    )


def default_since(now: datetime) -> ReviewPoint:
    """Without a programme review: three months before ``now`` (a quarter, as boards meet)."""
    at = now - timedelta(days=91)
    return ReviewPoint(at=at, label="three months earlier")


def state_changes(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """Every team × measure whose variation, assurance or norm status differs between two
    overview grids (``views.overview``), one row per changed field with both values."""
    cols = ["team_id", "measure", "team", "measure_label", *STATE_FIELDS]
    b, a = _by_key(before, cols), _by_key(after, cols)
    records = []
    for idx in sorted(a.keys() | b.keys()):
        now_row = a.get(idx)
        then_row = b.get(idx)
        ref = now_row if now_row is not None else b[idx]  # the key is in one of the two
        for field in STATE_FIELDS:
            then = _value(then_row, field)
            now = _value(now_row, field)
            if then == now:
                continue
            records.append(
                {
                    "team_id": idx[0],
                    "team": ref["team"],
                    "measure": idx[1],
                    "measure_label": ref["measure_label"],
                    "field": field,
                    "field_label": labels.CHANGE_FIELD_LABELS[field],
                    "then": then,
                    "now": now,
                    "then_label": labels.state_label(field, then),
                    "now_label": labels.state_label(field, now),
                }
            )
    return pd.DataFrame(records, columns=CHANGE_COLUMNS)


def _records(grid: pd.DataFrame, cols: list[str]) -> list[dict[str, Any]]:
    """An overview grid's rows as plain dicts, in order: looking rows up in a frame (``.loc``,
    ``iterrows``) cost more than comparing them (issue #19)."""
    if grid.empty:
        return []
    return [
        dict(zip(cols, row, strict=True))
        for row in zip(*(grid[c].tolist() for c in cols), strict=True)
    ]


def _by_key(grid: pd.DataFrame, cols: list[str]) -> dict[tuple[str, str], dict[str, Any]]:
    """The rows keyed on (team_id, measure), one per pair in a grid."""
    return {(r["team_id"], r["measure"]): r for r in _records(grid, cols)}


def _value(row: Mapping[str, Any] | None, field: str) -> str | bool | None:
    if row is None:
        return None
    if field == "is_norm":
        return bool(row[field])
    return _text(row, field)


def _text(row: Mapping[str, Any], field: str) -> str | None:
    v = row[field]
    return None if v is None or (isinstance(v, float) and pd.isna(v)) else str(v)


def _rank(row: Mapping[str, Any]) -> tuple[int, int, int]:
    return (
        int(bool(row["is_norm"])),
        _ASSURANCE_RANK.get(_text(row, "assurance"), 1),
        _VARIATION_RANK.get(_text(row, "variation"), 1),
    )


def directions(before: pd.DataFrame, after: pd.DataFrame) -> pd.Series:
    """For each row of ``after``: "better", "worse", "same" or "new" since ``before`` (the norm
    first, then assurance, then variation), aligned with ``after``'s index."""
    cols = ["team_id", "measure", "is_norm", "assurance", "variation"]
    then = _by_key(before, cols)
    out = []
    for row in _records(after, cols):
        old = then.get((row["team_id"], row["measure"]))
        if old is None:
            out.append("new")
            continue
        a, b = _rank(row), _rank(old)
        out.append("better" if a > b else "worse" if a < b else "same")
    return pd.Series(out, index=after.index, dtype=object)


def changed_since(
    engine: Engine, since: datetime, *, as_of: datetime | None = None
) -> pd.DataFrame:
    """The teams whose state changed between ``since`` and ``as_of`` (now when None), each
    side from an as-of view of the read models."""
    before = views.overview(engine, as_of=since)
    after = views.overview(engine, as_of=as_of)
    return state_changes(before, after)
