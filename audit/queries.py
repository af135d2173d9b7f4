"""Read-side queries over the read models (never the log), each honouring ``as_of``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from events.elements import ALL, Registry
from events.elements import ELEMENTS as REGISTRY
from events.sql import AnyRow, select_in, sql
from events.store import format_ts

from .sampling import second_review_ids
from .team_names import team_key

if TYPE_CHECKING:
    import pandas as pd
else:

    class _Pandas:
        """pandas, imported on first use: the CLI's write commands (import, audit run) read
        a few rows here and need none of it, and importing it is a third of their start-up."""

        def __getattr__(self, name: str) -> Any:
            import pandas

            return getattr(pandas, name)

    pd = _Pandas()


def _as_of(
    engine: Engine, as_of: datetime | None, column: str = "recorded_at"
) -> tuple[str, dict[str, Any]]:
    """`` AND column <= :as_of`` and its bind (nothing when ``as_of`` is None)."""
    if as_of is None:
        return "", {}
    return f" AND {column} <= :as_of", {"as_of": format_ts(as_of)}


def teams(engine: Engine, *, as_of: datetime | None = None) -> pd.DataFrame:
    """Registered teams: team_id, name, site, service, synthetic."""
    cond, params = _as_of(engine, as_of)
    with engine.connect() as conn:
        rows = conn.execute(
            sql(
                "SELECT team_id, name, site, service, synthetic FROM rm_teams "
                f"WHERE 1 = 1{cond} ORDER BY team_id"
            ),
            params,
        ).fetchall()
    df = pd.DataFrame(rows, columns=["team_id", "name", "site", "service", "synthetic"])
    df["synthetic"] = df["synthetic"].astype(bool)
    return df


def team_lookup(engine: Engine) -> dict[str, str]:
    """Registered teams by the key of their id or name (:func:`audit.team_names.team_key`):
    an import file or a command may name a team either way, in any case or spelling a reader
    cannot tell apart. (Plain rows, no DataFrame: the import commands then never load
    pandas.)"""
    with engine.connect() as conn:
        rows = conn.execute(sql("SELECT team_id, name FROM rm_teams ORDER BY team_id")).fetchall()
    by_key = {team_key(team_id): team_id for team_id, _ in rows}
    by_key.update({team_key(name): team_id for team_id, name in rows})
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
    cond, params = _as_of(engine, as_of)
    where = f"WHERE 1 = 1{cond}"
    if team_id is not None:
        where += " AND team_id = :team_id"
        params["team_id"] = team_id
    if types:
        where += " AND type IN :types"
        params["types"] = list(types)
    with engine.connect() as conn:
        rows = conn.execute(
            sql(
                "SELECT position, team_id, type, payload, actor, recorded_at FROM rm_team_facts "
                f"{where} ORDER BY position",
                expanding=("types",) if types else (),
            ),
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


# --- measures, surveys, reach and training (moved here from their modules)


def first_reviews(
    engine: Engine,
    *,
    as_of: datetime | None = None,
    team: str | None = None,
    elements: Registry = REGISTRY,
) -> pd.DataFrame:
    """One row per reviewed note: its first (non-second) review as known at ``as_of``, with
    one finding column per enabler of ``elements``."""
    where = ["second_review = :second"]
    params: dict[str, Any] = {"second": False}
    if as_of is not None:
        where.append("recorded_at <= :as_of")
        params["as_of"] = format_ts(as_of)
    if team is not None:
        where.append("team_id = :team")
        params["team"] = team
    statement = sql(
        "SELECT position, round_id, team_id, period, consultation_id, reviewer_id, "
        f"{', '.join(elements.names)}, recorded_at FROM rm_reviews "
        f"WHERE {' AND '.join(where)} ORDER BY position"
    )
    with engine.connect() as conn:
        # plain tuples: pandas probes each Row's attributes otherwise (~40% of this read)
        rows = [tuple(r) for r in conn.execute(statement, params)]
    df = pd.DataFrame(
        rows,
        columns=[
            "position",
            "round_id",
            "team",
            "period",
            "consultation_id",
            "reviewer_id",
            *elements.names,
            "recorded_at",
        ],
    )
    # A note reviewed again in a later round of the same team-month counts once: the first.
    return df.drop_duplicates(["team", "period", "consultation_id"], keep="first")


def open_periods(
    engine: Engine, *, as_of: datetime | None = None, team: str | None = None
) -> set[tuple[str, str]]:
    """(team, period) pairs with an audit round still open at ``as_of``: their figures are
    provisional (the round may yet add or change reviews)."""
    where, params = ["1 = 1"], {}
    if as_of is not None:
        where.append("opened_at <= :as_of")
        params["as_of"] = format_ts(as_of)
    if team is not None:
        where.append("team_id = :team")
        params["team"] = team
    with engine.connect() as conn:
        rows = conn.execute(
            sql(
                "SELECT team_id, period, closed_at FROM rm_audit_rounds "
                f"WHERE {' AND '.join(where)}"
            ),
            params,
        ).fetchall()
    cutoff = format_ts(as_of) if as_of is not None else None
    return {
        (t, p)
        for t, p, closed in rows
        if closed is None or (cutoff is not None and closed > cutoff)
    }


def _census_of_reach(table: str, where: str, measures: tuple[str, ...]) -> str:
    """(team, period, measure, numerator, denominator) rows of a reach-by-IMD table summed over
    its quintiles: the census is exactly those sums (every note has one quintile, 0 when not
    given), so it is not written a second time. One scan of ``table``: each team-month's sums
    first, then one row per measure (a ``CASE`` per value over a relation of the measures)."""
    k = range(len(measures))
    sums = ", ".join(
        (*(f"SUM({m}) AS a{i}" for i, m in enumerate(measures)),
         *(f"SUM(den_{m}) AS d{i}" for i, m in enumerate(measures)))
    )  # fmt: skip
    numerator = " ".join(f"WHEN {i} THEN s.a{i}" for i in k)
    denominator = " ".join(f"WHEN {i} THEN s.d{i}" for i in k)
    relation = " UNION ALL ".join(
        f"SELECT {i} AS i, '{m}' AS measure" for i, m in enumerate(measures)
    )
    return (
        f"SELECT s.team_id, s.period, m.measure, CASE m.i {numerator} END AS numerator, "
        f"CASE m.i {denominator} END AS denominator "
        f"FROM (SELECT team_id, period, {sums} FROM {table} WHERE {where} "
        "GROUP BY team_id, period) s "
        f"CROSS JOIN ({relation}) m"
    )


def census_counts(
    engine: Engine,
    *,
    as_of: datetime | None = None,
    team: str | None = None,
    elements: Registry = REGISTRY,
) -> Sequence[AnyRow]:
    """(team, period, measure, numerator, denominator) of the census as known at ``as_of``
    (``audit.measures.census_measures`` shapes them).

    Without ``as_of`` it reads the running totals; with it, the per-day totals of earlier days
    plus the exact changes of the cutoff's own day, so the cost does not grow with the log.
    """
    team_sql = " AND team_id = :team" if team is not None else ""
    params: dict[str, Any] = {"team": team} if team is not None else {}
    measures = elements.measures
    with engine.connect() as conn:
        if as_of is None:
            rows = conn.execute(
                sql(_census_of_reach("rm_reach_imd", f"1 = 1{team_sql}", measures)), params
            ).fetchall()
        else:
            cutoff = format_ts(as_of)
            day = cutoff[:10]
            # the cutoff's own day: a position range (rm_days), then the exact cutoff
            window = (
                "position >= (SELECT first_position FROM rm_days WHERE day = :day) "
                "AND position <= (SELECT last_position FROM rm_days WHERE day = :day) "
                f"AND recorded_at >= :day AND recorded_at <= :cutoff{team_sql}"
            )
            params.update(day=day, cutoff=cutoff)
            parts = [_census_of_reach("rm_reach_imd_daily", f"day < :day{team_sql}", measures)]
            for measure in measures:
                parts.append(
                    f"SELECT team_id, period, '{measure}', init_{measure}, 1 - init_na_{measure} "
                    "FROM rm_case_notes "
                    f"WHERE {window}"
                )
            # the element facts: each row's own element column, then the bundle as ALL
            for label, column in (("element", "element"), (f"'{ALL}'", ALL)):
                parts.append(
                    f"SELECT team_id, period, {label}, d_{column}, d_den_{column} "
                    f"FROM rm_element_facts "
                    f"WHERE {window} AND (d_{column} <> 0 OR d_den_{column} <> 0)"
                )
            rows = conn.execute(
                sql(
                    "SELECT team_id, period, measure, SUM(numerator), SUM(denominator) FROM ("
                    + " UNION ALL ".join(parts)
                    + ") AS c "
                    "GROUP BY team_id, period, measure"
                ),
                params,
            ).fetchall()
    return rows


def latest_survey_period(engine: Engine, *, as_of: datetime | None = None) -> str | None:
    """The newest month with any survey return as known at ``as_of`` (it is provisional)."""
    where, params = _survey_where(engine, as_of, None)
    with engine.connect() as conn:
        row = conn.execute(sql(f"SELECT MAX(period) FROM rm_surveys{where}"), params).first()
    return row[0] if row and row[0] else None


def survey_version(engine: Engine) -> int:
    """The log position of the newest survey row (0 when none): a survey read's cache key
    finer than the log's head. Survey rows are only ever added, one per event in log order
    (first recorded wins), so two reads with the same version and as-of see the same rows."""
    with engine.connect() as conn:
        return int(conn.execute(sql("SELECT MAX(position) FROM rm_surveys")).scalar() or 0)


def has_surveys(engine: Engine) -> bool:
    """Whether the log holds any survey (a demo seeded before surveys existed has none)."""
    with engine.connect() as conn:
        return conn.execute(sql("SELECT 1 FROM rm_surveys LIMIT 1")).first() is not None


def _survey_where(
    engine: Engine, as_of: datetime | None, team: str | None
) -> tuple[str, dict[str, str]]:
    clauses, params = [], {}
    if as_of is not None:
        clauses.append("recorded_at <= :as_of")
        params["as_of"] = format_ts(as_of)
    if team is not None:
        clauses.append("team_id = :team")
        params["team"] = team
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def survey_answer_counts(
    engine: Engine,
    *,
    as_of: datetime | None = None,
    team: str | None = None,
    elements: Registry = REGISTRY,
) -> list[tuple]:
    """(team, period, one answer per enabler of ``elements``, returns) per distinct answer
    combination (``audit.surveys.tally`` turns them into measures)."""
    where, params = _survey_where(engine, as_of, team)
    answers = ", ".join(elements.names)
    statement = sql(
        f"SELECT team_id, period, {answers}, COUNT(*) FROM rm_surveys{where} "
        f"GROUP BY team_id, period, {answers}"
    )
    with engine.connect() as conn:
        rows = conn.execute(statement, params).fetchall()
    return [tuple(r) for r in rows]


def stratum_counts(
    engine: Engine,
    stratum: str,
    table: str,
    count_columns: list[str],
    *,
    as_of: datetime | None = None,
    team: str | None = None,
    elements: Registry = REGISTRY,
) -> Sequence[AnyRow]:
    """Census counts per team × month × stratum (``audit.reach``'s clinician and IMD tables)
    as known at ``as_of``: running totals, or the per-day totals of earlier days plus the
    exact changes of the cutoff's own day. Rows: team, period, stratum, ``count_columns``
    (with ``as_of``: the measures of ``elements``, ``notes``, their denominators)."""
    team_sql = " AND team_id = :team" if team is not None else ""
    params: dict[str, str] = {"team": team} if team is not None else {}
    cols = ", ".join(count_columns)
    with engine.connect() as conn:
        if as_of is None:
            rows = conn.execute(
                sql(
                    f"SELECT team_id, period, {stratum}, {cols} FROM {table} WHERE 1 = 1{team_sql}"
                ),
                params,
            ).fetchall()
        else:
            cutoff = format_ts(as_of)
            day = cutoff[:10]
            window = (
                "{p}position >= (SELECT first_position FROM rm_days WHERE day = :day) "
                "AND {p}position <= (SELECT last_position FROM rm_days WHERE day = :day) "
                "AND {p}recorded_at >= :day AND {p}recorded_at <= :cutoff"
            )
            params.update(day=day, cutoff=cutoff)
            notes_team = " AND team_id = :team" if team is not None else ""
            facts_team = " AND f.team_id = :team" if team is not None else ""
            names, measures = elements.names, elements.measures
            bundle = measures[-1]
            per_element = ", ".join(
                f"CASE WHEN f.element = '{m}' THEN f.d_element ELSE 0 END" for m in names
            )
            per_den = ", ".join(
                f"CASE WHEN f.element = '{m}' THEN f.d_den_element ELSE 0 END" for m in names
            )
            sums = ", ".join(f"SUM(m{i})" for i in range(len(measures)))
            dens = ", ".join(f"SUM(d{i})" for i in range(len(measures)))
            daily = ", ".join(f"{m} AS m{i}" for i, m in enumerate(measures))
            daily_dens = ", ".join(f"den_{m} AS d{i}" for i, m in enumerate(measures))
            init = ", ".join(f"init_{m}" for m in measures)
            init_dens = ", ".join(f"1 - init_na_{m}" for m in measures)
            statement = sql(
                f"SELECT team_id, period, s, {sums}, SUM(n), {dens} "
                f"FROM (SELECT team_id, period, {stratum} AS s, {daily}, notes AS n, "
                f"{daily_dens} FROM {table}_daily "
                f"WHERE day < :day{team_sql} "
                f"UNION ALL SELECT team_id, period, {stratum}, {init}, 1, {init_dens} "
                f"FROM rm_case_notes WHERE {window.format(p='')}{notes_team} "
                f"UNION ALL SELECT f.team_id, f.period, n.{stratum}, {per_element}, "
                f"f.d_{bundle}, 0, {per_den}, f.d_den_{bundle} FROM rm_element_facts f "
                "JOIN rm_case_notes n "
                f"ON n.consultation_id = f.consultation_id WHERE {window.format(p='f.')}"
                f" AND (f.d_element <> 0 OR f.d_{bundle} <> 0 OR f.d_den_element <> 0"
                f" OR f.d_den_{bundle} <> 0){facts_team}"
                ") AS c GROUP BY team_id, period, s"
            )
            rows = conn.execute(statement, params).fetchall()
    return rows


def training_records(engine: Engine, *, as_of: datetime | None = None) -> pd.DataFrame:
    """``ClinicianTrained`` facts known at ``as_of``: clinician_id, programme, team, trained_on."""
    cond, params = (
        ("", {}) if as_of is None else (" WHERE recorded_at <= :as_of", {"as_of": format_ts(as_of)})
    )
    with engine.connect() as conn:
        rows = conn.execute(
            sql(
                "SELECT clinician_id, programme, team_id, trained_on FROM rm_training"
                f"{cond} ORDER BY trained_on, clinician_id"
            ),
            params,
        ).fetchall()
    return pd.DataFrame(rows, columns=["clinician_id", "programme", "team", "trained_on"])


def trained_days(engine: Engine, *, as_of: datetime | None = None) -> list[Any]:
    """The training day of every clinician registered by ``as_of`` and trained by its day."""
    statement = "SELECT trained_on FROM rm_clinicians WHERE trained_on IS NOT NULL"
    params: dict[str, str] = {}
    if as_of is not None:
        statement += " AND recorded_at <= :as_of AND trained_on <= :day"
        params = {"as_of": format_ts(as_of), "day": as_of.date().isoformat()}
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(sql(statement), params).fetchall()]


def provisional_months(engine: Engine, *, as_of: datetime | None = None) -> pd.DataFrame:
    """Team-months with a round still open at ``as_of``: team_id, period."""
    statement = "SELECT DISTINCT team_id, period FROM rm_audit_rounds WHERE "
    params: dict[str, str] = {}
    if as_of is None:
        statement += "closed_at IS NULL"
    else:
        statement += "opened_at <= :as_of AND (closed_at IS NULL OR closed_at > :as_of)"
        params["as_of"] = format_ts(as_of)
    with engine.connect() as conn:
        rows = conn.execute(sql(statement + " ORDER BY team_id, period"), params).fetchall()
    return pd.DataFrame(rows, columns=["team_id", "period"])


def clinician_teams(engine: Engine) -> dict[str, str]:
    """Every registered clinician's team, by clinician id (the importers check rows against it)."""
    with engine.connect() as conn:
        rows = conn.execute(sql("SELECT clinician_id, team_id FROM rm_clinicians")).fetchall()
    return {cid: team for cid, team in rows}


# --- audit rounds and reviews


@dataclass(frozen=True)
class RoundInfo:
    round_id: str
    team_id: str
    period: str
    method: str
    sample_size: int
    sampled: tuple[str, ...]
    second_review: tuple[str, ...]
    opened_at: str
    closed_at: str | None


_ROUND_COLUMNS = (
    "SELECT round_id, team_id, period, method, sample_size, sampling_seed, sampled, "
    "second_review_share, opened_at, closed_at FROM rm_audit_rounds "
)


def _round_info(row: Any, cutoff: str | None) -> RoundInfo:
    rid, team, per, method, size, seed, sampled, share, opened, closed = row
    ids = tuple(json.loads(sampled))
    if cutoff is not None and closed is not None and closed > cutoff:
        closed = None
    return RoundInfo(
        rid,
        team,
        per,
        method,
        int(size),
        ids,
        tuple(second_review_ids(list(ids), float(share), seed)),
        opened,
        closed,
    )


def rounds_for(
    engine: Engine,
    *,
    team_id: str | None = None,
    period: str | None = None,
    as_of: datetime | None = None,
) -> list[RoundInfo]:
    """Audit rounds from the read model, oldest first."""
    where, params = ["1 = 1"], {}
    if team_id is not None:
        where.append("team_id = :team_id")
        params["team_id"] = team_id
    if period is not None:
        where.append("period = :period")
        params["period"] = period
    if as_of is not None:
        where.append("opened_at <= :as_of")
        params["as_of"] = format_ts(as_of)
    with engine.connect() as conn:
        rows = conn.execute(
            sql(_ROUND_COLUMNS + f"WHERE {' AND '.join(where)} ORDER BY opened_position"), params
        ).fetchall()
    cutoff = format_ts(as_of) if as_of is not None else None
    return [_round_info(r, cutoff) for r in rows]


def round_by_id(
    engine: Engine, round_id: str, *, as_of: datetime | None = None
) -> RoundInfo | None:
    """One audit round by its id (None if there is none, or none yet at ``as_of``): one
    primary-key lookup instead of reading every round and picking one."""
    cond = " AND opened_at <= :as_of" if as_of is not None else ""
    params: dict[str, Any] = {"round_id": round_id}
    if as_of is not None:
        params["as_of"] = format_ts(as_of)
    with engine.connect() as conn:
        row = conn.execute(
            sql(_ROUND_COLUMNS + f"WHERE round_id = :round_id{cond}"), params
        ).first()
    return None if row is None else _round_info(row, params.get("as_of"))


def round_reviews(
    engine: Engine, round_id: str, *, elements: Registry = REGISTRY
) -> list[dict[str, Any]]:
    """Every review recorded in a round, in log order (one finding per enabler of
    ``elements``)."""
    with engine.connect() as conn:
        rows = conn.execute(
            sql(
                "SELECT consultation_id, reviewer_id, second_review, "
                f"{', '.join(elements.names)}, recorded_at FROM rm_reviews "
                "WHERE round_id = :round_id ORDER BY position"
            ),
            {"round_id": round_id},
        ).fetchall()
    keys = ["consultation_id", "reviewer_id", "second_review", *elements.names, "recorded_at"]
    return [dict(zip(keys, r, strict=True)) for r in rows]


def consultations_in(engine: Engine, team_id: str, period: str) -> list[str]:
    """The consultation ids of a team-month (what a round samples from)."""
    with engine.connect() as conn:
        rows = conn.execute(
            sql(
                "SELECT consultation_id FROM rm_case_notes "
                "WHERE team_id = :team_id AND period = :period"
            ),
            {"team_id": team_id, "period": period},
        ).fetchall()
    return [r[0] for r in rows]


def documented_findings(
    engine: Engine, consultation_ids: list[str], *, elements: Registry = REGISTRY
) -> dict[str, dict[str, str]]:
    """What the case-note read model says each note documents (yes / no / not_applicable),
    one finding per enabler of ``elements`` (the read model's columns derive from it)."""
    names = elements.names
    columns = ", ".join([*names, *(f"na_{e}" for e in names)])
    with engine.connect() as conn:
        rows = select_in(
            conn,
            f"SELECT consultation_id, {columns} FROM rm_case_notes WHERE consultation_id IN :ids",
            "ids",
            consultation_ids,
        )
    k = len(names)
    return {
        row[0]: {
            e: ("not_applicable" if na else "yes" if v else "no")
            for e, v, na in zip(names, row[1 : 1 + k], row[1 + k :], strict=True)
        }
        for row in rows
    }


def sampled_notes(
    engine: Engine,
    team_id: str,
    period: str,
    *,
    as_of: datetime | None = None,
    elements: Registry = REGISTRY,
) -> pd.DataFrame:
    """The audited case notes of a team-month: pseudonymous ids, findings (one column per
    enabler of ``elements``), reviewer."""
    cond, params = _as_of(engine, as_of, "r.recorded_at")
    findings = ", ".join(f"r.{e}" for e in elements.names)
    with engine.connect() as conn:
        rows = conn.execute(
            sql(
                "SELECT r.round_id, r.consultation_id, n.patient_ref, n.occurred_on, "
                f"n.clinician_id, r.reviewer_id, r.second_review, {findings}, "
                "r.recorded_at FROM rm_reviews r "
                "LEFT JOIN rm_case_notes n ON n.consultation_id = r.consultation_id "
                f"WHERE r.team_id = :team_id AND r.period = :period{cond} ORDER BY r.position"
            ),
            {"team_id": team_id, "period": period, **params},
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
            *elements.names,
            "recorded_at",
        ],
    )
    df["second_review"] = df["second_review"].astype(bool)
    return df


def review_pairs(
    engine: Engine,
    *,
    team_id: str | None = None,
    as_of: datetime | None = None,
    elements: Registry = REGISTRY,
) -> pd.DataFrame:
    """First and second findings of each doubly reviewed note, one row per note × enabler of
    ``elements`` (pairs where either reviewer said "not applicable" left out)."""
    cond, params = _as_of(engine, as_of, "s.recorded_at")
    team_cond = ""
    if team_id is not None:
        team_cond = " AND f.team_id = :team_id"
        params["team_id"] = team_id
    names = elements.names
    findings = ", ".join([*(f"f.{e}" for e in names), *(f"s.{e}" for e in names)])
    with engine.connect() as conn:
        rows = conn.execute(
            sql(
                f"SELECT f.team_id, f.period, f.consultation_id, {findings} "
                "FROM rm_reviews f JOIN rm_reviews s "
                "ON s.round_id = f.round_id AND s.consultation_id = f.consultation_id "
                "WHERE f.second_review = :first AND s.second_review = :second"
                f"{cond}{team_cond} ORDER BY f.position"
            ),
            {"first": False, "second": True, **params},
        ).fetchall()
    k = len(names)
    records = []
    for team, period, cid, *found in rows:
        for element, first, second in zip(names, found[:k], found[k:], strict=True):
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


# --- queries used by the dashboard (writes.py, pack.py, the training form)
# (the dashboard holds no SQL: tests/unit/test_layering.py). events.sql: named binds, one
# string for SQLite and PostgreSQL.


def event_stored(engine: Engine, event_id: str) -> bool:
    """Whether the log holds an event with this id (a form's submission already saved)."""
    with engine.connect() as conn:
        found = conn.execute(
            sql("SELECT 1 FROM events WHERE event_id = :event_id"), {"event_id": event_id}
        )
        return found.first() is not None


def events_with_hash_prefix(
    engine: Engine, prefix: str, *, limit: int = 2
) -> list[tuple[int, str, str]]:
    """(position, hash, recorded_at) of the first ``limit`` events whose row hash starts with
    ``prefix`` (lower-case hex), oldest first: a published head is found from its printed
    prefix, and two rows mean the prefix is ambiguous."""
    if not all(c in "0123456789abcdef" for c in prefix):
        return []  # never a LIKE pattern from input: only hex digits reach the query
    with engine.connect() as conn:
        rows = conn.execute(
            sql(
                "SELECT position, hash, recorded_at FROM events WHERE hash LIKE :pattern "
                "ORDER BY position LIMIT :limit"
            ),
            {"pattern": prefix + "%", "limit": int(limit)},
        ).fetchall()
    return [(int(p), str(h), str(r)) for p, h, r in rows]


def team_clinicians(engine: Engine, team_id: str) -> list[tuple[str, str | None, str | None]]:
    """(clinician_id, display_name, trained_on) of the clinicians known in a team, by id."""
    with engine.connect() as conn:
        rows = conn.execute(
            sql(
                "SELECT clinician_id, display_name, trained_on FROM rm_clinicians "
                "WHERE team_id = :team_id ORDER BY clinician_id"
            ),
            {"team_id": team_id},
        ).fetchall()
    return [(str(c), n, None if t is None else str(t)) for c, n, t in rows]
