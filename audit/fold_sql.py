"""The projector's bulk writes: plain inserts by the fastest path each backend has, and the
census and reach aggregates summed where that measured fastest.

Why: profiling catch-up (issue #19) showed the fold's Python loop was not the main cost — the
writes were. On PostgreSQL each ``executemany`` row costs a statement's protocol (≈ 80 % of
catch-up went there); on both backends re-summing a batch's census changes into six aggregate
tables with a Python loop over every sum cost about as much as decoding the events. So:

* :func:`insert_rows` — SQLite: ``executemany`` on the DBAPI cursor; PostgreSQL: ``COPY …
  FROM STDIN`` (one stream, no statement per row).
* :func:`add_census` — the batch's census changes (rows of recorded day × team × month ×
  clinician × IMD quintile, the fold's finest grain: one per note created by the batch, from
  its final creation-time counts, plus the later changes the fold summed) into rm_census,
  rm_census_daily and the four rm_reach_* tables. PostgreSQL: one ``COPY`` into a temporary
  table, then ``INSERT … SELECT … GROUP BY`` per table — upserted only for a day the daily
  table already holds, a plain insert for the newer days; SQLite: rolled up in Python with
  ``map(add, …)`` (its sorting ``GROUP BY`` measured slower than the dicts) once into the two
  daily reach grains, every coarser table summed from those, then upserts.
* :func:`insert_new_rows` — rows whose first recorded wins on a conflict (reviews, surveys):
  PostgreSQL stages many of them by ``COPY`` instead of one statement per row.

The fold itself (which event changes which note, upcasters, late documentation, corrections)
stays in Python in :mod:`audit.projections`: what is summed here is exactly what the fold
computed, so rebuild and incremental catch-up in any chunking still agree.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from functools import lru_cache
from operator import add, itemgetter
from typing import Any

from sqlalchemy import Connection

from events.db import driver_cursor
from events.sql import marks, raw_executemany


def _tmp(measures: tuple[str, ...]) -> str:
    """The census's temporary table, named after its width: it lives as long as its pooled
    connection, and a projector with another number of enablers must get its own."""
    return f"tmp_rm_census_delta_{len(measures)}"


_KEYS = ("day", "team_id", "period", "clinician_id", "imd_quintile")


def insert_rows(
    conn: Connection, sqlite: bool, table: str, columns: str, rows: Sequence[Sequence[Any]]
) -> None:
    """Append ``rows`` (tuples in the order of ``columns``) to ``table``, no conflict handling."""
    if not rows:
        return
    if sqlite:
        raw_executemany(conn, table, columns.split(", "), rows)
        return
    with driver_cursor(conn) as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        write = copy.write_row
        for row in rows:
            write(row)


#: Below this many rows, a plain ``executemany`` beats the temporary table's three statements.
_STAGED_FROM = 64


def insert_new_rows(
    conn: Connection,
    sqlite: bool,
    table: str,
    columns: str,
    rows: Sequence[Sequence[Any]],
    conflict: str = "ON CONFLICT DO NOTHING",
) -> None:
    """Insert ``rows`` (in log order, ``position`` first) into ``table``, a row that conflicts
    with an earlier one skipped (the first recorded wins). PostgreSQL, for many rows: ``COPY``
    into a temporary twin and one ``INSERT … SELECT … ORDER BY position ON CONFLICT DO
    NOTHING`` — its ``executemany`` runs one statement per row (rm_reviews and rm_surveys cost
    a fifth of a 10k catch-up that way)."""
    if not rows:
        return
    if sqlite or len(rows) < _STAGED_FROM:
        values = marks(conn, len(columns.split(", ")))
        with driver_cursor(conn) as cur:
            cur.executemany(f"INSERT INTO {table} ({columns}) VALUES ({values}) {conflict}", rows)
        return
    # named after its columns: a registry with other enablers, folded later on this pooled
    # connection, gets its own temporary twin (LIKE copies the columns of the moment)
    staged = f"tmp_{table}_{zlib.crc32(columns.encode()):08x}"
    conn.exec_driver_sql(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {staged} "
        f"(LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    insert_rows(conn, False, staged, columns, rows)
    conn.exec_driver_sql(
        f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {staged} ORDER BY position "
        f"{conflict}"
    )
    conn.exec_driver_sql(f"DELETE FROM {staged}")


def _sums(measures: tuple[str, ...]) -> tuple[str, ...]:
    """The temporary table's sum columns, in the fold's order: the numerator of each measure
    (enablers, then the bundle), notes, then each measure's denominator (notes less the
    not-applicable ones)."""
    k = range(len(measures))
    return (*(f"a{i}" for i in k), "notes", *(f"d{i}" for i in k))


def _by_measure(prefix: str, measures: tuple[str, ...]) -> str:
    whens = " ".join(f"WHEN {i} THEN s.{prefix}{i}" for i in range(len(measures)))
    return f"CASE m.i {whens} END"


#: The daily tables' rows of days after the newest day they hold cannot conflict: those go in
#: by a plain INSERT (PostgreSQL's ON CONFLICT path measured about 1.6× a plain insert per
#: row); only a day the table already holds (the batch boundary's) is upserted. Both
#: statements see the table as it was before the first (one snapshot per statement, and the
#: upsert adds no day after the newest).
_OLD_DAYS = "day <= (SELECT MAX(day) FROM {table})"
_NEW_DAYS = "day > COALESCE((SELECT MAX(day) FROM {table}), '')"


def _census_sql(measures: tuple[str, ...], daily: bool, where: str = "") -> str:
    """rm_census(_daily) from the temporary table: summed per key first, then each key's sums
    turned into one row per measure (the other way round — a row per measure of every
    temporary row, then summed — cost PostgreSQL four times the rows to aggregate)."""
    table = "rm_census_daily" if daily else "rm_census"
    keys = ("day, " if daily else "") + "team_id, period"
    k = range(len(measures))
    sums = ", ".join((*(f"SUM(a{i}) AS a{i}" for i in k), *(f"SUM(d{i}) AS d{i}" for i in k)))
    relation = " UNION ALL ".join(
        f"SELECT {i} AS i, '{m}' AS measure" for i, m in enumerate(measures)
    )
    sql = (
        f"INSERT INTO {table} ({keys}, measure, numerator, denominator) "
        f"SELECT {keys}, m.measure, {_by_measure('a', measures)}, {_by_measure('d', measures)} "
        f"FROM (SELECT {keys}, {sums} FROM {_tmp(measures)} "
        f"WHERE {where.format(table=table) or '1 = 1'} GROUP BY {keys}) s "
        f"CROSS JOIN ({relation}) m"
    )
    if where == _NEW_DAYS:
        return sql
    return (
        f"{sql} ON CONFLICT ({keys}, measure) DO UPDATE SET "
        f"numerator = {table}.numerator + EXCLUDED.numerator, "
        f"denominator = {table}.denominator + EXCLUDED.denominator"
    )


def _reach_sql(measures: tuple[str, ...], stratum: str, daily: bool, where: str = "") -> str:
    name = "clinician" if stratum == "clinician_id" else "imd"
    table = f"rm_reach_{name}{'_daily' if daily else ''}"
    keys = ("day, " if daily else "") + f"team_id, period, {stratum}"
    columns = (*measures, "notes", *(f"den_{m}" for m in measures))
    k = range(len(measures))
    sums = (*(f"SUM(a{i})" for i in k), "SUM(notes)", *(f"SUM(d{i})" for i in k))
    updates = ", ".join(f"{c} = {table}.{c} + EXCLUDED.{c}" for c in columns)
    sql = (
        f"INSERT INTO {table} ({keys}, {', '.join(columns)}) "
        f"SELECT {keys}, {', '.join(sums)} FROM {_tmp(measures)} "
        f"WHERE {where.format(table=table) or '1 = 1'} GROUP BY {keys}"
    )
    if where == _NEW_DAYS:
        return sql
    return f"{sql} ON CONFLICT ({keys}) DO UPDATE SET {updates}"


@lru_cache
def _statements(measures: tuple[str, ...]) -> tuple[str, ...]:
    sums = _sums(measures)
    create = (
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {_tmp(measures)} (day VARCHAR(10), team_id VARCHAR(120), "
        "period VARCHAR(7), clinician_id VARCHAR(120), imd_quintile INTEGER, "
        + ", ".join(f"{s} INTEGER" for s in sums)
        + ")"
    )
    return (
        create,
        _census_sql(measures, daily=False),
        *(_census_sql(measures, True, where) for where in (_OLD_DAYS, _NEW_DAYS)),
        *(_reach_sql(measures, s, False) for s in ("clinician_id", "imd_quintile")),
        *(
            _reach_sql(measures, s, True, where)
            for s in ("clinician_id", "imd_quintile")
            for where in (_OLD_DAYS, _NEW_DAYS)
        ),
    )


def _upsert_sql(conn: Connection, table: str, keys: str, columns: tuple[str, ...]) -> str:
    values = marks(conn, len(keys.split(", ")) + len(columns))
    sums = ", ".join(f"{c} = {table}.{c} + EXCLUDED.{c}" for c in columns)
    return (
        f"INSERT INTO {table} ({keys}, {', '.join(columns)}) VALUES ({values}) "
        f"ON CONFLICT ({keys}) DO UPDATE SET {sums}"
    )


def _summed(census: dict[tuple, list[int]], key: Callable[[tuple], tuple]) -> dict:
    """``census`` re-keyed by ``key(census key)``, the sums of keys that meet added (in C:
    ``map(add, …)`` instead of a Python loop over the sums)."""
    out: dict[tuple, list[int]] = {}
    get = out.get
    for k, sums in census.items():
        kk = key(k)
        acc = get(kk)
        out[kk] = sums if acc is None else list(map(add, acc, sums))
    return out


def _rolled_up(rows: Sequence[tuple]) -> tuple[dict, dict]:
    """The finest rows summed per (day, team, month, clinician) and per (day, team, month, IMD
    quintile) in one pass: every coarser aggregate is then summed from one of these two (far
    fewer keys) instead of from the finest rows six times over."""
    clinician: dict[tuple, list[int]] = {}
    imd: dict[tuple, list[int]] = {}
    cget, iget = clinician.get, imd.get
    for day, team, period, clin, quintile, sums in rows:
        k = (day, team, period, clin)
        acc = cget(k)
        clinician[k] = sums if acc is None else list(map(add, acc, sums))
        k = (day, team, period, quintile)
        acc = iget(k)
        imd[k] = sums if acc is None else list(map(add, acc, sums))
    return clinician, imd


def _add_census_sqlite(conn: Connection, rows: Sequence[tuple], measures: tuple) -> None:
    n = len(measures)
    notes = n
    m_idx = tuple(enumerate(measures))
    reach_columns = (*measures, "notes", *(f"den_{m}" for m in measures))
    clinician_daily, imd_daily = _rolled_up(rows)
    imd_now = _summed(imd_daily, itemgetter(1, 2, 3))
    daily = _summed(imd_daily, itemgetter(0, 1, 2))
    now = _summed(imd_now, itemgetter(0, 1))
    with driver_cursor(conn) as cur:
        cur.executemany(
            _upsert_sql(
                conn, "rm_census", "team_id, period, measure", ("numerator", "denominator")
            ),
            [(*k, m, v[i], v[notes + 1 + i]) for k, v in now.items() for i, m in m_idx],
        )
        cur.executemany(
            _upsert_sql(
                conn,
                "rm_census_daily",
                "day, team_id, period, measure",
                ("numerator", "denominator"),
            ),
            [(*k, m, v[i], v[notes + 1 + i]) for k, v in daily.items() for i, m in m_idx],
        )
        for table, keys, summed in (
            (
                "rm_reach_clinician",
                "team_id, period, clinician_id",
                _summed(clinician_daily, itemgetter(1, 2, 3)),
            ),
            ("rm_reach_clinician_daily", "day, team_id, period, clinician_id", clinician_daily),
            ("rm_reach_imd", "team_id, period, imd_quintile", imd_now),
            ("rm_reach_imd_daily", "day, team_id, period, imd_quintile", imd_daily),
        ):
            cur.executemany(
                _upsert_sql(conn, table, keys, reach_columns),
                [(*k, *v) for k, v in summed.items()],
            )


def add_census(
    conn: Connection, sqlite: bool, census: Sequence[tuple], measures: tuple[str, ...]
) -> None:
    """Add one batch's census changes to rm_census, rm_census_daily and the four reach tables.

    ``census`` holds rows ``(recorded day, team, month, clinician, IMD quintile, sums)`` with
    the fold's sums (:func:`_sums` order: numerators, notes, denominators); a key may repeat
    (its rows add up). PostgreSQL sums in the database (one COPY, six
    ``INSERT … SELECT … GROUP BY``); SQLite sums in Python with ``map(add, …)`` — the finest
    rows once into the two daily reach grains, every coarser table from those — and upserts
    the results (its sorting GROUP BY measured slower than the dicts)."""
    if not census:
        return
    if sqlite:
        _add_census_sqlite(conn, census, measures)
        return
    create, *aggregates = _statements(measures)
    conn.exec_driver_sql(create)
    # the daily reach grain's hash aggregate spilled to disk at the default 4 MB
    conn.exec_driver_sql("SET LOCAL work_mem = '64MB'")
    columns = ", ".join((*_KEYS, *_sums(measures)))
    insert_rows(conn, False, _tmp(measures), columns, [(*k, *v) for *k, v in census])
    for sql in aggregates:
        conn.exec_driver_sql(sql)
    conn.exec_driver_sql(f"DELETE FROM {_tmp(measures)}")
