"""PostgreSQL bulk append: ``EventStore.append_many(history=True)`` vs raw psycopg.

    .venv/bin/python bench/pg_append_bench.py [--events 100000] [--reps 5] [--json out.json]

(starts a throwaway server as ``bench/pg.py`` does, or uses ``BENCH_DATABASE_URL``)

Both sides load the same N history events (explicit ``recorded_at``) into an empty log of
the very same table DDL (sipdash's own ``create_schema``: indexes, constraints, the append-
only trigger), one database per repetition. The raw peer uses psycopg directly and does the
same work the store does per row: canonical JSON of payload and metadata, the timestamps'
text form, stream versions, the SHA-256 hash chain, the same 11 columns plus
``hash_version``, one transaction. It is timed twice, with ``COPY`` and with
``executemany`` (psycopg 3 pipelines it), and the faster of the two is the peer (DESIGN:
"raw psycopg (COPY or executemany, whichever is faster)"). Repetitions are interleaved
(sipdash, COPY, executemany, sipdash, ...); the ratio is the median of per-repetition
ratios peer/sipdash, with its spread.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
from ingest import make_events

from events import EventStore, NewEvent
from events.store import (
    COLUMNS,
    GENESIS_HASH,
    HASH_VERSION,
    canonical_json,
    format_ts,
    row_hash,
)

METADATA = {"actor": "bench", "source": "bench:pg_append"}
_START = datetime(2024, 1, 1, tzinfo=UTC)


def make_history(n: int) -> list[NewEvent]:
    """N consultation facts with explicit, non-decreasing ``recorded_at`` (history): the same
    facts as ``bench/ingest.py`` appends."""
    return make_events(n, recorded_from=_START)


def _conninfo(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _rows(events: list[NewEvent]) -> list[tuple]:
    """The rows the store writes, built the way it builds them (per event: payload dict,
    canonical JSON, timestamps, stream version, chain hash)."""
    meta = canonical_json(METADATA)
    versions: dict[str, int] = {}
    prev = GENESIS_HASH
    rows = []
    for pos, ne in enumerate(events, start=1):
        ev = ne.event
        occurred = format_ts(ev.natural_time())
        rec = format_ts(ne.recorded_at)
        payload = canonical_json(ev.payload())
        sid = ev.stream_id
        ver = versions.get(sid, 0) + 1
        versions[sid] = ver
        fields = (ne.event_id, sid, ver, ev.type, ev.schema_version, occurred, rec, payload, meta)
        prev = row_hash(prev, *fields)
        rows.append((pos, *fields, prev))
    return rows


def raw_copy(url: str, events: list[NewEvent]) -> float:
    with psycopg.connect(_conninfo(url)) as conn:
        t = time.perf_counter()
        rows = _rows(events)
        with (
            conn.cursor() as cur,
            cur.copy(f"COPY events ({COLUMNS}, hash_version) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row((*row, HASH_VERSION))
        conn.commit()
        return time.perf_counter() - t


def raw_executemany(url: str, events: list[NewEvent]) -> float:
    sql = f"INSERT INTO events ({COLUMNS}, hash_version) VALUES ({', '.join(['%s'] * 11)}, 2)"
    with psycopg.connect(_conninfo(url)) as conn:
        t = time.perf_counter()
        rows = _rows(events)
        with conn.cursor() as cur:
            cur.executemany(sql, rows)
        conn.commit()
        return time.perf_counter() - t


def sipdash(url: str, events: list[NewEvent], batch_size: int = 20_000) -> float:
    store = EventStore(url)
    store.create_schema()
    store.head()  # connect (the pool's first connection) outside the timing, as raw does
    t = time.perf_counter()
    result = store.append_many(events, history=True, metadata=METADATA, batch_size=batch_size)
    elapsed = time.perf_counter() - t
    assert result.appended == len(events), result
    store.dispose()
    return elapsed


def _fresh(server) -> str:
    """A new empty database holding sipdash's events table (DDL outside every timing)."""
    db = server.new_database()
    store = EventStore(db)
    store.create_schema()
    store.dispose()
    return db


def run(
    url: str | None = None,
    n: int = 100_000,
    reps: int = 5,
    server=None,
    *,
    events: int | None = None,
    pg=None,
) -> dict | None:
    """Interleaved reps on the server at admin ``url``; ``server`` creates/drops databases
    (a :class:`pg.BenchPostgres`; made from ``url`` when not given). As a ``run_all`` hook:
    ``pg`` is its running server and ``events`` the size (capped at 100,000 here: the ratio
    does not depend on the size, and each repetition loads three fresh databases)."""
    if pg is not None:
        server, url = pg, pg.admin_url
    if url is None:
        return None  # no PostgreSQL in this run
    if events is not None:
        n = min(events, 100_000)
    if server is None:
        from pg import BenchPostgres

        server = BenchPostgres()
        server.admin_url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    history = make_history(n)
    times: dict[str, list[float]] = {"sipdash": [], "copy": [], "executemany": []}
    check_head: dict[str, str] = {}
    for _ in range(reps):
        for name, fn in (
            ("sipdash", sipdash),
            ("copy", raw_copy),
            ("executemany", raw_executemany),
        ):
            db = _fresh(server)
            try:
                times[name].append(fn(db, history))
                with psycopg.connect(_conninfo(db)) as conn:
                    got = conn.execute(
                        "SELECT count(*), max(hash) FILTER (WHERE position = "
                        "(SELECT max(position) FROM events)) FROM events"
                    ).fetchone()
                assert got[0] == n, (name, got)
                check_head[name] = got[1]
            finally:
                server.drop_database(db)
    assert len(set(check_head.values())) == 1, f"different head hashes: {check_head}"
    peer_name = min(("copy", "executemany"), key=lambda k: statistics.median(times[k]))
    ratios = [p / s for p, s in zip(times[peer_name], times["sipdash"], strict=True)]
    return {
        "events": n,
        "reps": reps,
        "sipdash_s": statistics.median(times["sipdash"]),
        "raw_copy_s": statistics.median(times["copy"]),
        "raw_executemany_s": statistics.median(times["executemany"]),
        "peer": peer_name,
        "times": times,
        "ratio_vs_raw": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "sipdash_eps": n / statistics.median(times["sipdash"]),
    }


def main() -> None:
    import os

    from pg import BenchPostgres

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    server = BenchPostgres()
    url = server.start()
    if url is None:
        sys.exit("PostgreSQL is not available (no server binaries, no BENCH_DATABASE_URL)")
    try:
        out = run(url, args.events, args.reps, server=server)
    finally:
        if not os.environ.get("BENCH_DATABASE_URL"):
            server.stop()
    out["postgresql"] = server.version
    print(
        f"PostgreSQL {out['postgresql']} bulk append of {out['events']} history events: "
        f"sipdash {out['sipdash_s']:.2f} s, raw COPY {out['raw_copy_s']:.2f} s, raw "
        f"executemany {out['raw_executemany_s']:.2f} s; ratio vs {out['peer']} "
        f"{out['ratio_vs_raw']:.3f}x (spread {out['ratio_min']:.3f}-{out['ratio_max']:.3f}, "
        f"{out['reps']} reps)"
    )
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
