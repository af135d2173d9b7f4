"""Shared helpers for the benchmark modules: timing, sizes, the raw sqlite3 peer."""

from __future__ import annotations

import gc
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ingest import _create_same_table, _raw_connection  # noqa: E402

from events.store import (  # noqa: E402
    COLUMNS,
    GENESIS_HASH,
    HASH_VERSION,
    canonical_json,
    format_ts,
    row_hash,
)

#: the fixed programme: only the number of consultations grows with the log; the staff is
#: held fixed too (``clinicians=``), so per-clinician read models (reach) stay one size
SCENARIO, SEED, TEAMS, MONTHS = "large", 42, 8, 12
CLINICIANS = 20  # per team
SIZES = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000, "10m": 10_000_000}


def consultations_for(events: int) -> int:
    """Consultations that give about ``events`` events for the fixed programme (seed estimate)."""
    import seed

    fixed = seed.estimate_events(SCENARIO, SEED, TEAMS, MONTHS, 1_000, CLINICIANS)
    per = (
        seed.estimate_events(SCENARIO, SEED, TEAMS, MONTHS, 101_000, CLINICIANS) - fixed
    ) / 100_000
    base = fixed - per * 1_000
    return max(TEAMS * MONTHS * 25, round((events - base) / per))


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def best_of(fn: Callable[[], Any], reps: int = 3) -> tuple[float, float, Any]:
    """(median, min, last result) of ``reps`` timed calls."""
    times, out = [], None
    for _ in range(reps):
        t, out = timed(fn)
        times.append(t)
    return statistics.median(times), min(times), out


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --- the raw sqlite3 peer ---------------------------------------------------------------------

#: The same row sipdash writes unkeyed: the 11 columns and the hash encoding's version.
RAW_INSERT = (
    f"INSERT INTO events ({COLUMNS}, hash_version) VALUES ({', '.join('?' * 11)}, {HASH_VERSION})"
)


def raw_items_from_new_events(events: Iterable, metadata: dict) -> Iterator[tuple]:
    """(event_id, stream_id, type, schema_version, occurred, recorded|None, payload, meta_json)
    from NewEvent objects, doing the same work sipdash does (payload dict, timestamps; the
    shared metadata encoded once, per event only when the event adds its own, as
    ``EventStore.append_many`` does)."""
    shared = canonical_json(metadata)
    for ne in events:
        ev = ne.event
        occurred = ne.occurred_at if ne.occurred_at is not None else ev.natural_time()
        yield (
            str(ne.event_id),
            ev.stream_id,
            ev.type,
            ev.schema_version,
            format_ts(occurred or datetime.now(UTC)),
            format_ts(ne.recorded_at) if ne.recorded_at is not None else None,
            ev.payload(),
            canonical_json({**metadata, **ne.metadata}) if ne.metadata else shared,
        )


def raw_create_table(path: Path) -> None:
    """The raw peer's DDL: the very same table as sipdash's (run it outside the timing, as
    sipdash's ``create_schema`` is)."""
    _create_same_table(path)


def raw_append(
    path: Path, items: Iterable[tuple], batch: int = 20_000, *, create: bool = True
) -> int:
    """Plain sqlite3: canonical JSON + stream versions + SHA-256 chain + executemany, into
    the very same table DDL, WAL and synchronous=FULL, one transaction per batch.
    ``create=False`` when the caller ran :func:`raw_create_table` outside its timing."""
    if create:
        _create_same_table(path)
    conn = _raw_connection(path)
    prev, pos = GENESIS_HASH, 0
    versions: dict[str, int] = {}
    rows: list[tuple] = []

    def flush() -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(RAW_INSERT, rows)
        conn.execute("COMMIT")
        rows.clear()

    now = format_ts(datetime.now(UTC))
    for eid, sid, typ, sver, occurred, recorded, payload, meta in items:
        rec = recorded or now
        payload_json = canonical_json(payload)
        ver = versions.get(sid, 0) + 1
        versions[sid] = ver
        pos += 1
        prev = row_hash(prev, eid, sid, ver, typ, sver, occurred, rec, payload_json, meta)
        rows.append((pos, eid, sid, ver, typ, sver, occurred, rec, payload_json, meta, prev))
        if len(rows) >= batch:
            flush()
    if rows:
        flush()
    conn.close()
    return pos


#: What the like-for-like scan peer does, stated beside its figures.
RAW_SCAN_WORK = (
    "plain sqlite3 SELECT of the columns the projector reads, in position order, 20,000 rows "
    "per fetch, orjson.loads of every payload (the projector's decoder; metadata not decoded: "
    "the fold reads it only for a few team-fact types); builds nothing"
)


def raw_scan_decode(path: Path, batch: int = 20_000) -> int:
    """Plain sqlite3 scan of the log in position order, decoding every payload with orjson:
    the like-for-like peer of a projection fold (same decoder, same fields)."""
    import orjson

    conn = sqlite3.connect(path)
    cur = conn.execute(
        "SELECT position, type, schema_version, payload, recorded_at FROM events ORDER BY position"
    )
    n = 0
    loads = orjson.loads
    while True:
        rows = cur.fetchmany(batch)
        if not rows:
            break
        for row in rows:
            loads(row[3])
        n += len(rows)
    conn.close()
    return n


def remove_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(str(path) + suffix).unlink(missing_ok=True)
