"""Read-side queries over the read models (never the log), each honouring ``as_of``."""

from __future__ import annotations

import json
from datetime import datetime

import pandas as pd
from sqlalchemy import Engine

from events.store import format_ts


def _ph(engine: Engine) -> str:
    return "?" if engine.dialect.name == "sqlite" else "%s"


def _as_of(
    engine: Engine, as_of: datetime | None, column: str = "recorded_at"
) -> tuple[str, tuple]:
    if as_of is None:
        return "", ()
    return f" AND {column} <= {_ph(engine)}", (format_ts(as_of),)


def teams(engine: Engine, *, as_of: datetime | None = None) -> pd.DataFrame:
    """Registered teams: team_id, name, site, service, synthetic."""
    cond, params = _as_of(engine, as_of)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT team_id, name, site, service, synthetic FROM rm_teams "
            f"WHERE 1 = 1{cond} ORDER BY team_id",
            params,
        ).fetchall()
    df = pd.DataFrame(rows, columns=["team_id", "name", "site", "service", "synthetic"])
    df["synthetic"] = df["synthetic"].astype(bool)
    return df


def team_lookup(engine: Engine) -> dict[str, str]:
    """Registered teams by lower-case id or name: an import file may name a team either way."""
    registered = teams(engine)
    by_key = {t.team_id.lower(): t.team_id for t in registered.itertuples()}
    by_key.update({t.name.lower(): t.team_id for t in registered.itertuples()})
    return by_key


def team_ids(engine: Engine) -> list[str]:
    return teams(engine)["team_id"].tolist()


def is_synthetic(engine: Engine) -> bool:
    """True when any team came from the seed (the dashboard then says the data is synthetic)."""
    return bool(teams(engine)["synthetic"].any())


def team_facts(
    engine: Engine,
    team_id: str | None = None,
    *,
    types: tuple[str, ...] | None = None,
    as_of: datetime | None = None,
) -> pd.DataFrame:
    """Milestones, baselines, recalculations, targets, commentary and sign-offs, oldest first."""
    ph = _ph(engine)
    cond, params = _as_of(engine, as_of)
    where = f"WHERE 1 = 1{cond}"
    if team_id is not None:
        where += f" AND team_id = {ph}"
        params = (*params, team_id)
    if types:
        where += f" AND type IN ({', '.join([ph] * len(types))})"
        params = (*params, *types)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT position, team_id, type, payload, actor, recorded_at FROM rm_team_facts "
            f"{where} ORDER BY position",
            params,
        ).fetchall()
    records = []
    for pos, team, typ, payload, actor, rec in rows:
        records.append(
            {"position": pos, "team_id": team, "type": typ, "actor": actor, "recorded_at": rec}
            | json.loads(payload)
        )
    return pd.DataFrame(records)


_LIMIT_TYPES = ("BaselineFixed", "LimitsRecalculated", "TargetSet")


def _no_settings() -> dict:
    """``target`` is the latest target set; ``targets`` every (from_period, target) in the
    order recorded, so each period can be judged against the target in force for it."""
    return {"baseline_end": None, "recalculate_at": [], "target": None, "targets": []}


def _fold_settings(out: dict, typ: str, row) -> None:
    if typ == "BaselineFixed":
        out["baseline_end"] = row.period
    elif typ == "LimitsRecalculated":
        out["recalculate_at"].append(row.period)
    elif typ == "TargetSet":
        out["target"] = float(row.target)
        out["targets"].append((str(row.from_period), float(row.target)))


def limits_settings(
    engine: Engine, team_id: str, measure: str, *, as_of: datetime | None = None
) -> dict:
    """Baseline end, recalculation periods and target for one team's measure, from events."""
    facts = team_facts(engine, team_id, types=_LIMIT_TYPES, as_of=as_of)
    out = _no_settings()
    if facts.empty:
        return out
    mine = facts[facts["measure"].isin([measure])]
    for row in mine.itertuples():
        _fold_settings(out, row.type, row)
    return out


def all_limits_settings(
    engine: Engine, *, as_of: datetime | None = None
) -> dict[tuple[str, str], dict]:
    """:func:`limits_settings` of every team × measure in one query (for the overview).

    A pair with no settings events is absent; use ``.get(key) or`` the empty settings."""
    facts = team_facts(engine, types=_LIMIT_TYPES, as_of=as_of)
    out: dict[tuple[str, str], dict] = {}
    if facts.empty or "measure" not in facts.columns:
        return out
    for row in facts.itertuples():
        if not isinstance(row.measure, str):
            continue
        _fold_settings(out.setdefault((row.team_id, row.measure), _no_settings()), row.type, row)
    return out


def sampled_notes(
    engine: Engine, team_id: str, period: str, *, as_of: datetime | None = None
) -> pd.DataFrame:
    """The audited case notes of a team-month: pseudonymous ids, findings, reviewer."""
    ph = _ph(engine)
    cond, params = _as_of(engine, as_of, "r.recorded_at")
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT r.round_id, r.consultation_id, n.patient_ref, n.occurred_on, n.clinician_id, "
            "r.reviewer_id, r.second_review, r.agenda_setting, r.goal_setting, r.follow_up, "
            "r.recorded_at FROM rm_reviews r LEFT JOIN rm_case_notes n "
            "ON n.consultation_id = r.consultation_id "
            f"WHERE r.team_id = {ph} AND r.period = {ph}{cond} ORDER BY r.position",
            (team_id, period, *params),
        ).fetchall()
    df = pd.DataFrame(
        rows,
        columns=[
            "round_id",
            "consultation_id",
            "patient_ref",
            "occurred_on",
            "clinician_id",
            "reviewer_id",
            "second_review",
            "agenda_setting",
            "goal_setting",
            "follow_up",
            "recorded_at",
        ],
    )
    df["second_review"] = df["second_review"].astype(bool)
    return df


def review_pairs(
    engine: Engine, *, team_id: str | None = None, as_of: datetime | None = None
) -> pd.DataFrame:
    """First and second findings of each doubly reviewed note, one row per note × enabler."""
    ph = _ph(engine)
    cond, params = _as_of(engine, as_of, "s.recorded_at")
    team_cond = ""
    if team_id is not None:
        team_cond = f" AND f.team_id = {ph}"
        params = (*params, team_id)
    false = "0" if engine.dialect.name == "sqlite" else "false"
    true = "1" if engine.dialect.name == "sqlite" else "true"
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT f.team_id, f.period, f.consultation_id, f.agenda_setting, f.goal_setting, "
            "f.follow_up, s.agenda_setting, s.goal_setting, s.follow_up FROM rm_reviews f "
            "JOIN rm_reviews s ON s.round_id = f.round_id AND s.consultation_id = f.consultation_id "
            f"WHERE f.second_review = {false} AND s.second_review = {true}{cond}{team_cond} "
            "ORDER BY f.position",
            params,
        ).fetchall()
    records = []
    for team, period, cid, fa, fg, ff, sa, sg, sf in rows:
        for element, first, second in (
            ("agenda_setting", fa, sa),
            ("goal_setting", fg, sg),
            ("follow_up", ff, sf),
        ):
            if "not_applicable" in (first, second):
                continue
            records.append(
                {
                    "team_id": team,
                    "period": period,
                    "consultation_id": cid,
                    "element": element,
                    "first": first == "yes",
                    "second": second == "yes",
                }
            )
    return pd.DataFrame(
        records, columns=["team_id", "period", "consultation_id", "element", "first", "second"]
    )


# --- queries used by the dashboard (data.py)


def case_note_months(engine: Engine, team_id: str) -> pd.DataFrame:
    """Months in which the team has consultations, newest first, and how many: period, notes."""
    from sqlalchemy import func, select

    from . import readmodel as rm

    c = rm.case_notes.c
    q = (
        select(c.period, func.count())
        .where(c.team_id == team_id)
        .group_by(c.period)
        .order_by(c.period.desc())
    )
    with engine.connect() as conn:
        rows = conn.execute(q).fetchall()
    return pd.DataFrame(rows, columns=["period", "notes"])


def consultations(engine: Engine, ids: tuple[str, ...] | list[str]) -> pd.DataFrame:
    """The consultations behind sampled notes, in the given order: consultation_id,
    patient_ref, occurred_on, clinician_id (None where unknown; never a finding)."""
    from sqlalchemy import bindparam, select

    from . import readmodel as rm

    c = rm.case_notes.c
    q = select(c.consultation_id, c.patient_ref, c.occurred_on, c.clinician_id).where(
        c.consultation_id.in_(bindparam("ids", expanding=True))
    )
    cols = ["consultation_id", "patient_ref", "occurred_on", "clinician_id"]
    found: list = []
    ids = list(ids)
    with engine.connect() as conn:
        for i in range(0, len(ids), 500):  # bounded IN lists
            found.extend(conn.execute(q, {"ids": ids[i : i + 500]}).fetchall())
    order = pd.DataFrame({"consultation_id": ids})
    if not found:
        return order.assign(patient_ref=None, occurred_on=None, clinician_id=None)
    return order.merge(pd.DataFrame(found, columns=cols), on="consultation_id", how="left")


def event_log_matches(
    engine: Engine,
    *,
    after: int,
    scan_to: int,
    limit: int,
    types: tuple[str, ...] = (),
    stream_prefix: str = "",
    team_id: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    as_of: datetime | None = None,
) -> list[tuple[int, str | None]]:
    """The event log page's filter in one query: ``(position, team)`` of at most ``limit``
    events with ``after < position <= scan_to`` (a bounded window of the log, so a filter that
    matches little never scans the whole log) that match every filter, in position order.

    An event's team is its payload's ``team_id``, else the team of its stream: ``team-T``,
    the consultation of a ``consultation-…`` stream or the round of an ``audit-…`` stream (read
    models), so the page never slices stream ids by hand."""
    from sqlalchemy import (
        JSON,
        String,
        and_,
        case,
        cast,
        column,
        func,
        literal,
        select,
        table,
        type_coerce,
    )

    from . import readmodel as rm

    ev = table(
        "events",
        column("position"),
        column("stream_id", String),
        column("type", String),
        column("occurred_at", String),
        column("recorded_at", String),
        column("payload", String),
    )
    notes, rounds = rm.case_notes.c, rm.audit_rounds.c
    stream = ev.c.stream_id
    of_consultation = (
        select(notes.team_id)
        .where(
            and_(
                stream.like("consultation-%"),
                notes.consultation_id == func.substr(stream, len("consultation-") + 1),
            )
        )
        .limit(1)
        .scalar_subquery()
    )
    of_round = (
        select(rounds.team_id)
        .where(and_(stream.like("audit-%"), rounds.round_id == func.substr(stream, 7)))
        .limit(1)
        .scalar_subquery()
    )
    # SQLite reads JSON from text as it is (a CAST would make it a number); PostgreSQL casts
    payload = (
        type_coerce(ev.c.payload, JSON)
        if engine.dialect.name == "sqlite"
        else cast(ev.c.payload, JSON)
    )
    team = func.coalesce(
        payload["team_id"].as_string(),
        case((stream.like("team-%"), func.substr(stream, 6)), else_=literal(None, String)),
        of_consultation,
        of_round,
    ).label("team")
    where = [ev.c.position > after, ev.c.position <= scan_to]
    if types:
        where.append(ev.c.type.in_(list(types)))
    if as_of is not None:
        where.append(ev.c.recorded_at <= format_ts(as_of))
    if stream_prefix:
        where.append(func.substr(stream, 1, len(stream_prefix)) == stream_prefix)
    if date_from:
        where.append(func.substr(ev.c.occurred_at, 1, 10) >= date_from)
    if date_to:
        where.append(func.substr(ev.c.occurred_at, 1, 10) <= date_to)
    q = select(ev.c.position, team).where(and_(*where))
    if team_id:
        q = select(q.subquery()).where(column("team") == team_id)
    q = q.order_by(column("position")).limit(limit)
    with engine.connect() as conn:
        return [(int(p), t) for p, t in conn.execute(q).fetchall()]
