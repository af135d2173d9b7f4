"""The projection floor on PostgreSQL (``bench/projection_floor.py`` says what the floor is).

* **peer**: ``projection_bench.peer`` on PostgreSQL (raw psycopg keyset scan in batches of
  50,000, ``orjson`` decode of every payload, the census folded in dicts; writes nothing);
* **floor**: the same peer, then every row sipdash's read models hold after catch-up (captured
  once, untimed, from a real catch-up) written by psycopg ``COPY … FROM STDIN`` (sipdash's own
  path for bulk rows) into the same emptied tables, one transaction, ``synchronous_commit``
  off as the projector's; no upsert, no temporary table, no ``GROUP BY``;
* **floor, indexes after** and **no roll-ups, indexes after**: the two more generous bounds
  of ``bench/projection_floor.py``, here with each index that backs no constraint dropped
  before the timing and built inside it, after the ``COPY``s;
* **sipdash**: ``Projector.catch_up`` from emptied read models.

Interleaved ``--reps`` times, each timed inside a fresh process (the floor's rows are loaded
before its timing starts; the read models are emptied untimed before the floor and sipdash).

``python bench/projection_floor_pg.py [--sizes 10k,100k] [--reps 5]`` starts a throwaway
PostgreSQL (``bench/pg.py``), seeds each size as ``run_all`` does, and prints each size's times and ratios.
"""

from __future__ import annotations

import argparse
import gc
import json
import pickle
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
for p in (str(HERE.parent), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

import projection_bench  # noqa: E402
import psycopg  # noqa: E402
from method import interleave  # noqa: E402
from projection_floor import (  # noqa: E402
    FLOORS,
    ROLL_UPS,
    empty_read_models,
    floor_options,
    print_summary,
    summary,
)
from projection_worker import fresh  # noqa: E402

from events.db import normalise_url  # noqa: E402

_NOT_FOLDED = ("rm_checkpoints", "rm_meta")


def _conninfo(url: str) -> str:
    return normalise_url(url).replace("postgresql+psycopg://", "postgresql://", 1)


def _rows_of(url: str) -> dict[str, tuple[list[str], list[tuple]]]:
    out: dict[str, tuple[list[str], list[tuple]]] = {}
    with psycopg.connect(_conninfo(url)) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                "AND tablename LIKE 'rm\\_%' ORDER BY tablename"
            )
            if r[0] not in _NOT_FOLDED
        ]
        for table in tables:
            cur = conn.execute(f"SELECT * FROM {table}")
            out[table] = ([d.name for d in cur.description or ()], cur.fetchall())
    return out


def _secondary_indexes(conn: psycopg.Connection, tables: list[str]) -> list[tuple[str, str]]:
    """(name, CREATE statement) of each index on ``tables`` that backs no constraint."""
    return conn.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
        "AND tablename = ANY(%s) AND indexname NOT IN (SELECT conname FROM pg_constraint) "
        "ORDER BY indexname",
        (tables,),
    ).fetchall()


def floor_once(
    url: str,
    rows: dict[str, tuple[list[str], list[tuple]]],
    *,
    roll_ups: bool = True,
    indexes_after: bool = False,
) -> float:
    """The peer's scan-decode-fold, then ``rows`` COPYed in one transaction (without the
    reach roll-ups unless ``roll_ups``; the secondary indexes dropped before the timing and
    built inside it, after the COPYs, when ``indexes_after``); seconds."""
    if not roll_ups:
        rows = {t: r for t, r in rows.items() if t not in ROLL_UPS}
    indexes: list[tuple[str, str]] = []
    if indexes_after:
        with psycopg.connect(_conninfo(url), autocommit=True) as conn:
            indexes = _secondary_indexes(conn, list(rows))
            for name, _sql in indexes:
                conn.execute(f"DROP INDEX {name}")
    gc.collect()
    started = time.perf_counter()
    projection_bench.peer(url)
    with psycopg.connect(_conninfo(url)) as conn:
        conn.execute("SET synchronous_commit = off")  # the projector's, for derived data
        with conn.cursor() as cur:
            for table, (columns, data) in rows.items():
                if not data:
                    continue
                with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in data:
                        copy.write_row(row)
            for _name, sql in indexes:
                cur.execute(sql)
        conn.commit()
    return time.perf_counter() - started


def run(url: str, reps: int = 5) -> dict[str, Any]:
    """Peer, floor and sipdash's catch-up of the seeded PostgreSQL database ``url``."""
    with tempfile.TemporaryDirectory(prefix="sipdash-floor-pg-") as tmp:
        empty_read_models(url)
        fresh("catch_up", url)  # the rows to write: a real catch-up's, untimed
        rows = _rows_of(url)
        captured = Path(tmp) / "rows.pickle"
        captured.write_bytes(pickle.dumps(rows))
        written = {t: len(r) for t, (_c, r) in rows.items() if r}
        del rows

        def floor(name: str) -> Callable[[], float]:
            def once() -> float:
                empty_read_models(url)
                out = subprocess.run(
                    [
                        sys.executable,
                        str(Path(__file__).resolve()),
                        "--floor-of",
                        str(captured),
                        url,
                        name,
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                    timeout=7200,
                )
                return float(json.loads(out.stdout.strip().splitlines()[-1])["seconds"])

            return once

        def sipdash() -> float:
            empty_read_models(url)
            return fresh("catch_up", url)[0]

        times = interleave(
            {
                "peer": lambda: fresh("peer", url)[0],
                **{name: floor(name) for name in FLOORS},
                "sipdash": sipdash,
            },
            reps,
        )
    with psycopg.connect(_conninfo(url)) as conn:
        events = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]  # type: ignore[index]
    out = summary(events, reps, written, times)
    out["rows_without_rollups"] = sum(n for t, n in written.items() if t not in ROLL_UPS)
    return out


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--floor-of":  # a floor's own process
        roll_ups, indexes_after = floor_options(sys.argv[4])
        rows = pickle.loads(Path(sys.argv[2]).read_bytes())
        seconds = floor_once(sys.argv[3], rows, roll_ups=roll_ups, indexes_after=indexes_after)
        print(json.dumps({"seconds": seconds}))
        return
    import append_bench
    from benchlib import SIZES, consultations_for
    from pg import BenchPostgres

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10k,100k", help="comma-separated: 10k,100k,1m")
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    labels = args.sizes.split(",")
    unknown = [label for label in labels if label not in SIZES]
    if unknown:
        ap.error(f"unknown size(s) {', '.join(unknown)}: choose from {', '.join(SIZES)}")
    pg = BenchPostgres()
    if pg.start() is None:
        raise SystemExit("no PostgreSQL binaries (initdb, pg_ctl) found on this machine")
    try:
        for label in labels:
            url = pg.new_database()
            try:
                append_bench.seeding(url, consultations_for(SIZES[label]))
                out = run(url, args.reps)
            finally:
                pg.drop_database(url)
            print_summary(
                out,
                f"{label}: {out['events']:,} events, {out['rows_total']:,} rows "
                f"({out['rows_without_rollups']:,} without the roll-ups)",
            )
    finally:
        pg.stop()


if __name__ == "__main__":
    main()
