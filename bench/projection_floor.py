"""How close can any projector writing sipdash's read models get to the projection target?

The projection target (``../shared/DESIGN.md``, "Performance targets") is ≥ 0.5× a
like-for-like raw scan-and-decode. ``bench/projection_bench.py``'s peer scans, decodes and folds
the census, and writes nothing. This benchmark adds a second, *writing* peer — the **floor** —
so that the part of the gap that the fold could close is told apart from the part that the
read models' rows cost whatever folds them:

* **peer**: ``projection_bench.peer`` (sqlite3 keyset scan in batches of 50,000, ``orjson``
  decode of every payload, the case-note census folded in dicts; writes nothing);
* **floor**: the same peer, then every row sipdash's read models hold after catch-up
  (captured once, untimed, from a real catch-up of the same log) inserted by raw ``sqlite3``
  ``executemany`` into the same empty tables (same columns, indexes, ``WITHOUT ROWID``
  layouts, ``synchronous=NORMAL`` as the projector), one transaction, one commit. It does no
  upsert, no cross-batch lookup, no roll-up and no late-documentation bookkeeping: each row
  is written once, in its final form — less work than any projector that folds batch by batch;
* **floor, indexes after**: the floor with every secondary index of the read models dropped
  before the timing and built again inside it, after the inserts (a bulk load's best case:
  one sorted build instead of one insert per row; only a fold from an empty table could do it);
* **no roll-ups, indexes after**: that, writing only the rows that are not roll-ups of other
  rows — everything but the reach grains (``rm_reach_*``), which keep the pages' as-of reads
  of the two lenses flat in the log. A projector without them would meet the projection
  target only by moving the roll-up into every page read, against the pages' target;
* **sipdash**: ``Projector.catch_up`` from position 0 on a fresh copy of the unprojected log
  (copied before the timing; the read models laid out, empty).

Interleaved (peer, floor, sipdash, …) ``--reps`` times, each timed inside a fresh process
(``bench/projection_worker.py``; the floor's rows are loaded before its timing starts), medians
with min–max. Reported: each
time, *peer / floor* (the best ratio a projector that writes these rows can reach), the same
for the two bounds, and *peer / sipdash* (the measured ratio).

``python bench/projection_floor.py LOG.db [--reps 5] [--json]`` — ``LOG.db``: an unprojected
SQLite log (``sipdash seed`` or ``bench/seed_db.py``).
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for p in (ROOT, ROOT / "bench"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

import projection_bench  # noqa: E402
from method import interleave, ratio, spread  # noqa: E402
from projection_worker import fresh  # noqa: E402

from audit.projections import Projector  # noqa: E402
from events import EventStore  # noqa: E402

#: read models whose rows say nothing about the log (the projector's own bookkeeping)
_NOT_FOLDED = ("rm_checkpoints", "rm_meta")
#: the read models that are roll-ups of other read-model rows (the reach grains: sums of
#: rm_case_notes per team-month or recording day and stratum)
ROLL_UPS = ("rm_reach_clinician", "rm_reach_clinician_daily", "rm_reach_imd", "rm_reach_imd_daily")
#: the floors: name -> (the roll-ups written too, the secondary indexes built after the inserts)
FLOORS = {
    "floor": (True, False),
    "floor_indexes_after": (True, True),
    "no_rollups_indexes_after": (False, True),
}


def _tables(conn: sqlite3.Connection) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'rm\\_%' ESCAPE '\\' "
            "ORDER BY name"
        )
        if r[0] not in _NOT_FOLDED
    ]


def _rows_of(projected: Path) -> dict[str, tuple[list[str], list[tuple]]]:
    """Every read-model row of a projected log: table -> (columns, rows in stored order)."""
    conn = sqlite3.connect(projected)
    try:
        out = {}
        for table in _tables(conn):
            cur = conn.execute(f"SELECT * FROM {table}")
            out[table] = ([d[0] for d in cur.description], cur.fetchall())
        return out
    finally:
        conn.close()


def empty_read_models(url: str) -> None:
    """The read models of the log at ``url`` laid out and empty (``Projector.empty``), untimed."""
    store = EventStore(url)
    try:
        Projector(store).empty()
    finally:
        store.dispose()


def _empty_copy(log: Path, path: Path) -> None:
    """``log`` with the read models laid out and empty (what catch-up from 0 starts from)."""
    shutil.copyfile(log, path)
    empty_read_models(f"sqlite:///{path}")


def floor_options(name: str) -> tuple[bool, bool]:
    """A floor's (roll-ups written, indexes built after) by its name; a worker's refusal of
    any other name."""
    if name not in FLOORS:
        raise SystemExit(f"unknown floor {name!r}: one of {', '.join(FLOORS)}")
    return FLOORS[name]


def _secondary_indexes(conn: sqlite3.Connection, tables: list[str]) -> list[tuple[str, str]]:
    """(name, CREATE statement) of each declared index on ``tables`` (not a primary key's)."""
    marks = ", ".join("?" * len(tables))
    return conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
        f"AND tbl_name IN ({marks}) ORDER BY name",
        tables,
    ).fetchall()


def floor_once(
    path: Path,
    rows: dict[str, tuple[list[str], list[tuple]]],
    *,
    roll_ups: bool = True,
    indexes_after: bool = False,
) -> float:
    """The peer's scan-decode-fold of ``path``, then ``rows`` inserted as they are (without
    the reach roll-ups unless ``roll_ups``; with the secondary indexes dropped before the
    timing and built inside it, after the inserts, when ``indexes_after``); returns seconds.
    The tables are emptied and their indexes restored afterwards, untimed."""
    if not roll_ups:
        rows = {t: r for t, r in rows.items() if t not in ROLL_UPS}
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=NORMAL")  # the projector's (derived data)
        indexes = _secondary_indexes(conn, list(rows)) if indexes_after else []
        for name, _sql in indexes:
            conn.execute(f"DROP INDEX {name}")
        gc.collect()
        started = time.perf_counter()
        projection_bench.peer(f"sqlite:///{path}")
        conn.execute("BEGIN IMMEDIATE")
        for table, (columns, data) in rows.items():
            if data:
                marks = ", ".join("?" * len(columns))
                conn.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", data
                )
        for _name, sql in indexes:
            conn.execute(sql)
        conn.execute("COMMIT")
        seconds = time.perf_counter() - started
        conn.execute("BEGIN IMMEDIATE")
        for table in rows:
            conn.execute(f"DELETE FROM {table}")
        conn.execute("COMMIT")
        return seconds
    finally:
        conn.close()


def _floor_in_fresh_process(projected: Path, path: Path, floor: str = "floor") -> float:
    out = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--floor-of",
            str(projected),
            str(path),
            floor,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=7200,
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1])["seconds"])


def run(db: Path | str, reps: int = 5) -> dict[str, Any]:
    """Peer, floor and sipdash's catch-up of the SQLite log ``db`` (projected or not: its read
    models are copied away empty), interleaved ``reps`` times, each in a fresh process."""
    log = Path(db)
    with tempfile.TemporaryDirectory(prefix="sipdash-floor-", dir=log.parent) as tmp:
        base = Path(tmp)
        empty, projected = base / "empty.db", base / "projected.db"
        floor_db, work = base / "floor.db", base / "work.db"
        _empty_copy(log, empty)
        shutil.copyfile(empty, projected)  # the rows to write: a real catch-up's, untimed
        fresh("catch_up", f"sqlite:///{projected}")
        shutil.copyfile(empty, floor_db)
        written = {t: len(r) for t, (_c, r) in _rows_of(projected).items() if r}
        events = sqlite3.connect(log).execute("SELECT COUNT(*) FROM events").fetchone()[0]

        def sipdash() -> float:
            shutil.copyfile(empty, work)  # before the timing
            return fresh("catch_up", f"sqlite:///{work}")[0]

        def floor(name: str) -> Callable[[], float]:
            return lambda: _floor_in_fresh_process(projected, floor_db, name)

        times = interleave(
            {
                "peer": lambda: fresh("peer", f"sqlite:///{log}")[0],
                **{name: floor(name) for name in FLOORS},
                "sipdash": sipdash,
            },
            reps,
        )
    out = summary(events, reps, written, times)
    out["rows_without_rollups"] = sum(n for t, n in written.items() if t not in ROLL_UPS)
    return out


def summary(
    events: int, reps: int, written: dict[str, int], times: dict[str, list[float]]
) -> dict[str, Any]:
    """The floor's result (either backend): each side's spread and the three ratios."""
    return {
        "events": events,
        "reps": reps,
        "rows_written": written,
        "rows_total": sum(written.values()),
        **{name: spread(ts) for name, ts in times.items()},
        **{
            f"peer_over_{name}": ratio(times["peer"], times[name])
            for name in times
            if name not in ("peer", "sipdash")
        },
        "peer_over_sipdash": ratio(times["peer"], times["sipdash"]),
        "floor_over_sipdash": ratio(times["floor"], times["sipdash"]),
    }


def _cell(s: dict) -> str:
    return f"{s['median']:.3f} ({s['min']:.3f}–{s['max']:.3f})"


def print_summary(out: dict[str, Any], title: str) -> None:
    """A floor result (either backend) as text: each side's seconds, then the ratios."""
    print(f"{title}, {out['reps']} reps", flush=True)
    for name in ("peer", *FLOORS, "sipdash"):
        print(f"  {name:26s} {_cell(out[name])} s")
    for name in (*(f"peer_over_{f}" for f in (*FLOORS, "sipdash")), "floor_over_sipdash"):
        r = out[name]
        print(f"  {name:34s} {r['median']:.2f} ({r['min']:.2f}–{r['max']:.2f})", flush=True)


def is_sqlite_file(path: Path) -> bool:
    """Whether ``path`` is a SQLite database file (its header), for a clear refusal."""
    with path.open("rb") as f:
        return f.read(16) == b"SQLite format 3\x00"


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--floor-of":  # a floor's own process
        roll_ups, indexes_after = floor_options(sys.argv[4])
        rows = _rows_of(Path(sys.argv[2]))
        seconds = floor_once(
            Path(sys.argv[3]), rows, roll_ups=roll_ups, indexes_after=indexes_after
        )
        print(json.dumps({"seconds": seconds}))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("log", type=Path, help="an unprojected SQLite log")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    args = ap.parse_args()
    if not args.log.is_file() or not is_sqlite_file(args.log):
        ap.error(f"{args.log}: not a SQLite file (this benchmark needs a SQLite event log)")
    out = run(args.log, args.reps)
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print_summary(out, f"{out['events']:,} events, {out['rows_total']:,} read-model rows")
    for table, n in sorted(out["rows_written"].items(), key=lambda kv: -kv[1]):
        print(f"    {table:28s} {n:>10,}")


if __name__ == "__main__":
    main()
