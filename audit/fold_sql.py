"""The projector's bulk writes: plain inserts by the fastest path each backend has, and the
census and reach aggregates summed where that measured fastest.

Why: profiling catch-up (issue #19) showed the fold's Python loop was not the main cost — the
writes were. On PostgreSQL each ``executemany`` row costs a statement's protocol (≈ 80 % of
catch-up went there); on both backends re-summing a batch's census changes into six aggregate
tables with a Python loop over every sum cost about as much as decoding the events. So:

* :func:`insert_rows` — SQLite: ``executemany`` on the DBAPI cursor; PostgreSQL: ``COPY …
  FROM STDIN`` (one stream, no statement per row).
* :func:`add_census` — the batch's census changes (the notes it created, each counted once at
  its recording day from its final creation-time counts, plus the later changes the fold
  summed per recorded day × team × month × clinician × IMD quintile) into the four rm_reach_*
  tables. The census itself is rm_reach_imd(_daily) summed over quintiles (it used to be
  written a second time, into rm_census and rm_census_daily). PostgreSQL: the finest rows by
  one ``COPY`` into a temporary table, then ``INSERT … SELECT … GROUP BY`` per table —
  upserted only for a day the daily table already holds, a plain insert for the newer days;
  SQLite: rolled up in Python with ``map(add, …)`` (its sorting ``GROUP BY`` measured slower
  than the dicts, also straight from rm_case_notes) in one pass over the created notes into
  the daily reach rows per key, each key's days then summed in C for the two others, then
  upserts.
* :func:`insert_new_rows` — rows whose first recorded wins on a conflict (reviews, surveys):
  PostgreSQL stages many of them by ``COPY`` instead of one statement per row.

The fold itself (which event changes which note, upcasters, late documentation, corrections)
stays in Python in :mod:`audit.projections`: what is summed here is exactly what the fold
computed, so rebuild and incremental catch-up in any chunking still agree.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain, islice
from operator import add, itemgetter, sub
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


#: The daily tables' rows of days after the newest day they hold cannot conflict: those go in
#: by a plain INSERT (PostgreSQL's ON CONFLICT path measured about 1.6× a plain insert per
#: row); only a day the table already holds (the batch boundary's) is upserted. Both
#: statements see the table as it was before the first (one snapshot per statement, and the
#: upsert adds no day after the newest).
_OLD_DAYS = "day <= (SELECT MAX(day) FROM {table})"
_NEW_DAYS = "day > COALESCE((SELECT MAX(day) FROM {table}), '')"


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


@dataclass(frozen=True)
class NoteCensus:
    """Where a created note's census sits in its rm_case_notes row (a list, in the table's
    column order): ``init`` / ``init_na`` are the first of the ``width`` creation-time
    numerators / not-applicable counts (enablers, then the bundle)."""

    recorded: int
    team: int
    period: int
    clinician: int
    imd: int
    init: int
    init_na: int
    width: int


def _note_sums(at: NoteCensus) -> Callable[[list], list[int]]:
    """``sums(note)``: a created note's census sums in :func:`_sums` order — its creation-time
    numerators, 1 note, and each denominator (1 less its not-applicable count). Built once per
    distinct set of counts (a few dozen per batch) and shared: callers copy, never mutate."""
    w = at.width
    counts = itemgetter(*range(at.init, at.init + w), *range(at.init_na, at.init_na + w))
    ones = (1,) * w
    made: dict[tuple, list[int]] = {}
    get = made.get

    def sums(note: list) -> list[int]:
        c = counts(note)
        out = get(c)
        if out is None:
            out = made[c] = [*c[:w], 1, *map(sub, ones, c[w:])]
        return out

    return sums


def _finest_rows(created: Sequence[list], changes: dict, at: NoteCensus) -> list[tuple]:
    """The census changes as rows ``(recorded day, team, month, clinician, IMD quintile,
    sums…)`` in :func:`_sums` order (PostgreSQL's ``COPY``): one per created note, then the
    fold's summed changes."""
    rec, team, period, clinician, imd = at.recorded, at.team, at.period, at.clinician, at.imd
    sums = _note_sums(at)
    return [(n[rec][:10], n[team], n[period], n[clinician], n[imd], *sums(n)) for n in created] + [
        (*k, *v) for k, v in changes.items()
    ]


def _rolled_up(
    created: Sequence[list], changes: dict, at: NoteCensus
) -> tuple[dict[tuple, list[list]], dict[tuple, list[list]]]:
    """The census changes summed per (team, month, clinician) and per (team, month, IMD
    quintile), each key's sums kept per recorded day as the daily table's rows
    (``[day, team, month, stratum, sums…]``, written as they are).

    One pass over the created notes: a note's sums (:func:`_note_sums`, built once per distinct
    set of creation-time counts), then added with ``map(add, …)`` in C into its key's
    row of that day — the last row of the key, as the notes come in log order (recorded days
    never decrease). Then the fold's later changes, into their day's row. A day that is not
    its key's last row gets a second row: the upsert adds the two, so the sums stay exact."""
    by_clinician = itemgetter(at.team, at.period, at.clinician)
    by_imd = itemgetter(at.team, at.period, at.imd)
    note_sums = _note_sums(at)
    rec = at.recorded
    clinician: dict[tuple, list[list]] = {}
    imd: dict[tuple, list[list]] = {}
    cget, iget = clinician.get, imd.get
    # the two strata written out, not looped over: this runs once per created note
    for n in created:
        day = n[rec][:10]
        sums = note_sums(n)
        k = by_clinician(n)
        rows = cget(k)
        if rows is None:
            clinician[k] = [[day, *k, *sums]]
        elif (last := rows[-1])[0] == day:
            last[4:] = map(add, last[4:], sums)
        else:
            rows.append([day, *k, *sums])
        k = by_imd(n)
        rows = iget(k)
        if rows is None:
            imd[k] = [[day, *k, *sums]]
        elif (last := rows[-1])[0] == day:
            last[4:] = map(add, last[4:], sums)
        else:
            rows.append([day, *k, *sums])
    for (day, team, period, clin, quintile), sums in changes.items():
        for out, k in ((clinician, (team, period, clin)), (imd, (team, period, quintile))):
            rows = out.setdefault(k, [])
            for row in rows:
                if row[0] == day:
                    row[4:] = map(add, row[4:], sums)
                    break
            else:
                rows.append([day, *k, *sums])
    return clinician, imd


def _add_census_sqlite(
    conn: Connection, created: Sequence[list], changes: dict, at: NoteCensus, measures: tuple
) -> None:
    reach_columns = (*measures, "notes", *(f"den_{m}" for m in measures))
    clinician, imd = _rolled_up(created, changes, at)
    with driver_cursor(conn) as cur:
        for name, stratum, by_key in (
            ("clinician", "clinician_id", clinician),
            ("imd", "imd_quintile", imd),
        ):
            keys = f"team_id, period, {stratum}"
            cur.executemany(
                _upsert_sql(conn, f"rm_reach_{name}_daily", f"day, {keys}", reach_columns),
                chain.from_iterable(by_key.values()),
            )
            # each key's days summed column by column (in C), the day and key columns skipped
            cur.executemany(
                _upsert_sql(conn, f"rm_reach_{name}", keys, reach_columns),
                [
                    (*k, *map(sum, islice(zip(*rows, strict=True), 4, None)))
                    for k, rows in by_key.items()
                ],
            )


def add_census(
    conn: Connection,
    sqlite: bool,
    created: Sequence[list],
    changes: dict[tuple, list[int]],
    at: NoteCensus,
    measures: tuple[str, ...],
) -> None:
    """Add one batch's census changes to the four reach tables (the census is rm_reach_imd
    and rm_reach_imd_daily summed over quintiles: :func:`audit.queries.census_counts`).

    ``created``: the rm_case_notes rows (lists) the batch created, each counted once at its
    recording day from its final creation-time counts (``at`` says where those sit);
    ``changes``: the fold's later changes, sums per (recorded day, team, month, clinician,
    IMD quintile) in :func:`_sums` order (numerators, notes, denominators). PostgreSQL sums in
    the database (one COPY, four ``INSERT … SELECT … GROUP BY`` and their daily twins); SQLite
    sums in Python with ``map(add, …)`` — the created notes once into the two daily reach
    grains' rows, the coarser tables from those — and upserts the results (its sorting GROUP
    BY measured slower than the dicts)."""
    if not created and not changes:
        return
    if sqlite:
        _add_census_sqlite(conn, created, changes, at, measures)
        return
    create, *aggregates = _statements(measures)
    conn.exec_driver_sql(create)
    # the daily reach grain's hash aggregate spilled to disk at the default 4 MB
    conn.exec_driver_sql("SET LOCAL work_mem = '64MB'")
    columns = ", ".join((*_KEYS, *_sums(measures)))
    insert_rows(conn, False, _tmp(measures), columns, _finest_rows(created, changes, at))
    for sql in aggregates:
        conn.exec_driver_sql(sql)
    conn.exec_driver_sql(f"DELETE FROM {_tmp(measures)}")
