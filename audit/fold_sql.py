"""The projector's bulk writes: plain inserts by the fastest path each backend has, and the
census and reach aggregates summed inside the database.

Why: profiling catch-up (issue #19) showed the fold's Python loop was not the main cost — the
writes were. On PostgreSQL every ``executemany`` row is a round trip's worth of protocol
(≈ 80 % of catch-up); on both backends re-summing the batch's census changes into six
aggregate tables in Python dicts cost as much as decoding the events. So:

* :func:`insert_rows` — SQLite: ``executemany`` on the driver cursor; PostgreSQL: ``COPY …
  FROM STDIN`` (one stream, no per-row statement).
* :func:`add_census` — the batch's census changes (one row per recorded day × team × month ×
  clinician × IMD quintile, the fold's finest grain) go into a temporary table once; each of
  rm_census, rm_census_daily and the four rm_reach_* tables is then one ``INSERT … SELECT …
  GROUP BY … ON CONFLICT DO UPDATE`` adding the sums, so the grouping runs in the database's C.

The fold itself (which event changes which note, upcasters, late documentation, corrections)
stays in Python in :mod:`audit.projections`: what the database sums here is exactly what the
fold computed, so rebuild and incremental catch-up in any chunking still agree.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from events.db import driver_cursor
from events.types import MEASURES

_TMP = "tmp_rm_census_delta"
#: the fold's nine sums per census key: yes per element and all three, notes, and the notes
#: excluded as not applicable per element and for all three
_SUMS = ("a0", "a1", "a2", "a3", "notes", "x0", "x1", "x2", "x3")
_KEYS = ("day", "team_id", "period", "clinician_id", "imd_quintile")


def insert_rows(
    conn: Connection, sqlite: bool, table: str, columns: str, rows: Sequence[tuple]
) -> None:
    """Append ``rows`` (tuples in the order of ``columns``) to ``table``, no conflict handling."""
    if not rows:
        return
    with driver_cursor(conn) as cur:
        if sqlite:
            marks = ", ".join("?" * len(rows[0]))
            cur.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)
            return
        with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            write = copy.write_row
            for row in rows:
                write(row)


def _measure_case(prefix: str) -> str:
    return (
        f"CASE m.i WHEN 0 THEN {prefix}0 WHEN 1 THEN {prefix}1 "
        f"WHEN 2 THEN {prefix}2 ELSE {prefix}3 END"
    )


def _measures_relation() -> str:
    return " UNION ALL ".join(f"SELECT {i} AS i, '{m}' AS measure" for i, m in enumerate(MEASURES))


def _census_sql(daily: bool) -> str:
    table = "rm_census_daily" if daily else "rm_census"
    keys = ("day, " if daily else "") + "team_id, period"
    return (
        f"INSERT INTO {table} ({keys}, measure, numerator, denominator) "
        f"SELECT {keys}, m.measure, SUM({_measure_case('a')}), "
        f"SUM(notes - {_measure_case('x')}) "
        f"FROM {_TMP} CROSS JOIN ({_measures_relation()}) m WHERE 1 = 1 "
        f"GROUP BY {keys}, m.i, m.measure "
        f"ON CONFLICT ({keys}, measure) DO UPDATE SET "
        f"numerator = {table}.numerator + EXCLUDED.numerator, "
        f"denominator = {table}.denominator + EXCLUDED.denominator"
    )


def _reach_sql(stratum: str, daily: bool) -> str:
    name = "clinician" if stratum == "clinician_id" else "imd"
    table = f"rm_reach_{name}{'_daily' if daily else ''}"
    keys = ("day, " if daily else "") + f"team_id, period, {stratum}"
    columns = (*MEASURES, "notes", *(f"den_{m}" for m in MEASURES))
    sums = (
        *(f"SUM(a{i})" for i in range(len(MEASURES))),
        "SUM(notes)",
        *(f"SUM(notes - x{i})" for i in range(len(MEASURES))),
    )
    updates = ", ".join(f"{c} = {table}.{c} + EXCLUDED.{c}" for c in columns)
    return (
        f"INSERT INTO {table} ({keys}, {', '.join(columns)}) "
        f"SELECT {keys}, {', '.join(sums)} FROM {_TMP} WHERE 1 = 1 GROUP BY {keys} "
        f"ON CONFLICT ({keys}) DO UPDATE SET {updates}"
    )


_AGGREGATES = (
    _census_sql(daily=False),
    _census_sql(daily=True),
    *(_reach_sql(s, d) for s in ("clinician_id", "imd_quintile") for d in (False, True)),
)


def add_census(conn: Connection, sqlite: bool, census: dict[tuple, list[int]]) -> None:
    """Add one batch's census changes to rm_census, rm_census_daily and the four reach tables.

    ``census`` maps (recorded day, team, month, clinician, IMD quintile) to the fold's nine
    sums. Each measure's denominator is notes less its not-applicable exclusions."""
    if not census:
        return
    columns = ", ".join((*_KEYS, *_SUMS))
    conn.exec_driver_sql(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {_TMP} (day VARCHAR(10), team_id VARCHAR(120), "
        "period VARCHAR(7), clinician_id VARCHAR(120), imd_quintile INTEGER, "
        + ", ".join(f"{s} INTEGER" for s in _SUMS)
        + ")"
    )
    conn.exec_driver_sql(f"DELETE FROM {_TMP}")
    insert_rows(conn, sqlite, _TMP, columns, [(*k, *v) for k, v in census.items()])
    for sql in _AGGREGATES:
        conn.exec_driver_sql(sql)
    conn.exec_driver_sql(f"DELETE FROM {_TMP}")
