"""Commentary and sign-offs as they stand: withdrawn commentary left out, programme reviews found.

A commentary is never edited or deleted: ``CommentaryWithdrawn`` names the ``CommentaryAdded``
event it takes back, and the current commentary of a team and period is the latest one not
withdrawn. A programme review's sign-off is a ``ReviewSignedOff`` on the reserved subject
:data:`events.types.PROGRAMME`. Read from the team-facts read model; event ids are looked up
by position (the log's primary key), so the cost does not grow with the log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import BigInteger, Engine

from events.sql import select_in
from events.types import PROGRAMME

from .queries import team_facts


def event_ids_at(engine: Engine, positions: list[int]) -> dict[int, str]:
    """The event id of each log position given."""
    with engine.connect() as conn:
        rows = select_in(
            conn,
            "SELECT position, event_id FROM events WHERE position IN :positions",
            "positions",
            sorted({int(p) for p in positions}),
            type_=BigInteger,
        )
    return {int(p): e for p, e in rows}


def commentary(
    engine: Engine, team_id: str | None = None, *, as_of: datetime | None = None
) -> pd.DataFrame:
    """Every commentary (oldest first) with its ``event_id`` and whether it was ``withdrawn``
    (as known at ``as_of``)."""
    facts = team_facts(
        engine, team_id, types=("CommentaryAdded", "CommentaryWithdrawn"), as_of=as_of
    )
    columns = ["position", "event_id", "team_id", "period", "text", "author", "recorded_at"]
    none = pd.DataFrame(columns=columns).assign(withdrawn=pd.Series(dtype=bool))
    if facts.empty:
        return none
    added = facts[facts["type"] == "CommentaryAdded"].copy()
    if added.empty:
        return none
    withdrawn: set[str] = set()
    if "commentary_event_id" in facts:
        withdrawn = set(
            facts.loc[facts["type"] == "CommentaryWithdrawn", "commentary_event_id"].dropna()
        )
    ids = event_ids_at(engine, added["position"].tolist())
    added["event_id"] = added["position"].map(ids)
    added["withdrawn"] = added["event_id"].isin(withdrawn)
    return added[[*columns, "withdrawn"]].reset_index(drop=True)


def current_commentary(
    engine: Engine,
    team_id: str | None = None,
    period: str | None = None,
    *,
    as_of: datetime | None = None,
) -> pd.DataFrame:
    """The current commentary per team and period: the latest one not withdrawn (what a
    review pack prints). Columns as :func:`commentary`; one row per (team, period)."""
    rows = commentary(engine, team_id, as_of=as_of)
    rows = rows[~rows["withdrawn"].astype(bool)]
    if period is not None:
        rows = rows[rows["period"] == period]
    rows = rows.sort_values("position").groupby(["team_id", "period"], as_index=False).tail(1)
    return rows.sort_values(["team_id", "period"]).reset_index(drop=True)


def last_programme_review(
    engine: Engine, *, as_of: datetime | None = None
) -> dict[str, Any] | None:
    """The latest programme-level sign-off (``team_id`` = PROGRAMME) known at ``as_of``:
    period, signed_off_by, viewed_head, recorded_at, position; None when there is none."""
    facts = team_facts(engine, PROGRAMME, types=("ReviewSignedOff",), as_of=as_of)
    if facts.empty:
        return None
    last = facts.iloc[-1].to_dict()
    return {
        key: last.get(key)
        for key in ("period", "signed_off_by", "viewed_head", "recorded_at", "position")
    }
