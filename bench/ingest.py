"""Bulk and single appends: sipdash vs raw sqlite3 vs the ``eventsourcing`` library, one run.

    .venv/bin/python bench/ingest.py [--events 100000] [--reps 5] [--single 2000] [--json out.json]

The same method as ``run_all`` (``bench/method.py``): the three contenders interleaved
(A B C, A B C, …) ``--reps`` times, each into a fresh database with its DDL run before the
timing; medians with their spread, ratios as medians of per-repetition ratios. The raw path
builds the same canonical JSON payloads and SHA-256 chain, encodes the metadata once (as
sipdash does), 20,000 rows per transaction, same table and durability (WAL,
synchronous=FULL); ``eventsourcing`` saves 20,000 aggregates per ``save``. The one difference
from ``run_all``'s bulk table: the events here are ``ConsultationHeld`` only (a uniform,
smaller payload) where ``run_all`` appends the seed's mix of every event type, so the rates
differ while the ratios should agree within their spread. Only ratios are targets.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
import warnings
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from events import EventStore, NewEvent
from events.store import (
    COLUMNS,
    GENESIS_HASH,
    HASH_VERSION,
    StoredEvent,
    canonical_json,
    format_ts,
    row_hash,
)
from events.types import ConsultationHeld

TEAMS = [f"team{i:02d}" for i in range(40)]


def make_events(n: int, recorded_from: datetime | None = None) -> list[NewEvent]:
    """The same N consultation facts for every contender (ids fixed, content realistic); with
    ``recorded_from``, history events recorded a second apart from then (explicit, non-decreasing
    ``recorded_at``, as ``bench/pg_append_bench.py`` loads them)."""
    out = []
    for i in range(n):
        out.append(
            NewEvent(
                ConsultationHeld(
                    consultation_id=f"c{i:09d}",
                    team_id=TEAMS[i % 40],
                    clinician_id=f"k{i % 400:04d}",
                    patient_ref=f"p_{i * 2654435761 % (1 << 64):016x}",
                    occurred_on=date(2024, 1 + i % 12, 1 + i % 28),
                    contact=("face_to_face", "telephone", "video")[i % 3],
                ),
                event_id=str(uuid.UUID(int=i + 1, version=4)),
                recorded_at=None if recorded_from is None else recorded_from + timedelta(seconds=i),
            )
        )
    return out


def bench_sipdash(events: list[NewEvent], path: Path) -> float:
    store = EventStore(f"sqlite:///{path}")
    store.create_schema()
    t = time.perf_counter()
    store.append_many(events, metadata={"actor": "bench"})
    elapsed = time.perf_counter() - t
    assert store.head().position == len(events)
    store.dispose()
    return elapsed


def _raw_connection(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    return conn


def _create_same_table(path: Path) -> None:
    # the very same DDL (indexes, constraints) as sipdash's table, so inserts cost the same
    store = EventStore(f"sqlite:///{path}")
    StoredEvent.__table__.create(store.engine, checkfirst=True)
    store.dispose()


#: The same row sipdash writes unkeyed: the 11 columns and the hash encoding's version.
RAW_INSERT = (
    f"INSERT INTO events ({COLUMNS}, hash_version) VALUES ({', '.join('?' * 11)}, {HASH_VERSION})"
)


class RawOneRow:
    """The single-append peer: plain sqlite3, one row per ``BEGIN IMMEDIATE`` / ``INSERT`` /
    ``COMMIT``, building the same canonical JSON and hash chain, into the same table DDL with
    the same durability settings."""

    SQL = RAW_INSERT

    def __init__(self, path: Path, metadata: dict) -> None:
        _create_same_table(path)
        self.conn = _raw_connection(path)
        self.meta = canonical_json(metadata)
        self.prev = GENESIS_HASH
        self.position = 0

    def append(self, event_id: str, ev, stream_version: int, occurred: str) -> None:
        self.position += 1
        payload = canonical_json(ev.payload())
        now = format_ts(datetime.now(UTC))
        row = (event_id, ev.stream_id, stream_version, ev.type, 1, occurred, now, payload)
        digest = row_hash(self.prev, *row, self.meta)
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.execute(self.SQL, (self.position, *row, self.meta, digest))
        self.conn.execute("COMMIT")
        self.prev = digest

    def close(self) -> None:
        self.conn.close()


def bench_raw(events: list[NewEvent], path: Path, batch: int = 20_000) -> float:
    _create_same_table(path)
    conn = _raw_connection(path)
    sql = RAW_INSERT
    t = time.perf_counter()
    prev, pos = GENESIS_HASH, 0
    meta = canonical_json({"actor": "bench"})
    for start in range(0, len(events), batch):
        rows = []
        now = format_ts(datetime.now(UTC))
        for ne in events[start : start + batch]:
            ev = ne.event
            payload = canonical_json(ev.payload())
            occurred = format_ts(ev.natural_time())
            pos += 1
            digest = row_hash(
                prev, ne.event_id, ev.stream_id, 1, ev.type, 1, occurred, now, payload, meta
            )
            rows.append(
                (
                    pos,
                    ne.event_id,
                    ev.stream_id,
                    1,
                    ev.type,
                    1,
                    occurred,
                    now,
                    payload,
                    meta,
                    digest,
                )
            )
            prev = digest
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(sql, rows)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - t
    conn.close()
    return elapsed


_CONSULTATION = None


def _consultation_class():
    """One aggregate class per process (eventsourcing refuses to register a topic twice)."""
    global _CONSULTATION
    if _CONSULTATION is None:
        from eventsourcing.domain import Aggregate, event

        class Consultation(Aggregate):
            @event("Held")
            def __init__(
                self, consultation_id, team_id, clinician_id, patient_ref, occurred_on, contact
            ):
                self.consultation_id = consultation_id
                self.team_id = team_id
                self.clinician_id = clinician_id
                self.patient_ref = patient_ref
                self.occurred_on = occurred_on
                self.contact = contact

        _CONSULTATION = Consultation
    return _CONSULTATION


def bench_eventsourcing(events: list[NewEvent], path: Path, batch: int = 20_000) -> float:
    """eventsourcing's Application (SQLite), ``batch`` aggregates per ``save``, as sipdash."""
    from eventsourcing.application import Application

    Consultation = _consultation_class()

    os.environ["PERSISTENCE_MODULE"] = "eventsourcing.sqlite"
    os.environ["SQLITE_DBNAME"] = str(path)
    app = Application()
    gc.collect()
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for start in range(0, len(events), batch):
            aggs = []
            for ne in events[start : start + batch]:
                p = ne.event.payload()
                aggs.append(Consultation(**p))
            app.save(*aggs)
    elapsed = time.perf_counter() - t
    del os.environ["PERSISTENCE_MODULE"], os.environ["SQLITE_DBNAME"]
    return elapsed


def single_latency(events: list[NewEvent], d: Path) -> tuple[list[float], list[float]]:
    """Single appends, sipdash and raw sqlite3 interleaved one for one (so a load spike on
    this shared machine hits both), each onto a log that already holds the first 1,000."""
    store = EventStore(f"sqlite:///{d / 'sip1.db'}")
    store.create_schema()
    store.append_many(events[:1000])
    raw_log = RawOneRow(d / "raw1.db", {})

    def raw_one(ne: NewEvent) -> None:
        raw_log.append(ne.event_id, ne.event, 1, format_ts(ne.event.natural_time()))

    for ne in events[:1000]:
        raw_one(ne)
    sip: list[float] = []
    raw: list[float] = []
    for ne in events[1000:]:
        t = time.perf_counter()
        store.append([NewEvent(ne.event, event_id=ne.event_id)])
        sip.append(time.perf_counter() - t)
        t = time.perf_counter()
        raw_one(ne)
        raw.append(time.perf_counter() - t)
    raw_log.close()
    store.dispose()
    return sip, raw


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=5, help="interleaved repetitions (>= 5)")
    ap.add_argument("--single", type=int, default=2_000)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from method import interleave, ratio, spread

    events = make_events(args.events)
    with tempfile.TemporaryDirectory(prefix="sipdash-bench-") as tmp:
        d = Path(tmp)

        def fresh(name: str) -> Path:
            p = d / name
            for suffix in ("", "-wal", "-shm"):
                Path(str(p) + suffix).unlink(missing_ok=True)
            return p

        times = interleave(
            {
                "sipdash": lambda: bench_sipdash(events, fresh("sip.db")),
                "raw": lambda: bench_raw(events, fresh("raw.db")),
                "eventsourcing": lambda: bench_eventsourcing(events, fresh("es.db")),
            },
            args.reps,
        )
        single = events[: 1000 + args.single]
        lat_sip, lat_raw = single_latency(single, d)
    n = args.events
    t_sip, t_raw, t_es = (statistics.median(times[k]) for k in ("sipdash", "raw", "eventsourcing"))
    result = {
        "events": n,
        "reps": args.reps,
        "seconds": {k: spread(v) for k, v in times.items()},
        "sipdash_eps": n / t_sip,
        "raw_sqlite3_eps": n / t_raw,
        "eventsourcing_eps": n / t_es,
        "ratio_vs_raw_spread": ratio(times["raw"], times["sipdash"]),
        "ratio_vs_eventsourcing_spread": ratio(times["eventsourcing"], times["sipdash"]),
        "single_p50_ms_sipdash": pct(lat_sip, 50) * 1e3,
        "single_p99_ms_sipdash": pct(lat_sip, 99) * 1e3,
        "single_p50_ms_raw": pct(lat_raw, 50) * 1e3,
        "single_p99_ms_raw": pct(lat_raw, 99) * 1e3,
    }
    result["ratio_vs_raw"] = result["ratio_vs_raw_spread"]["median"]
    result["ratio_vs_eventsourcing"] = result["ratio_vs_eventsourcing_spread"]["median"]
    result["single_p99_ratio"] = result["single_p99_ms_sipdash"] / result["single_p99_ms_raw"]
    r_raw, r_es = result["ratio_vs_raw_spread"], result["ratio_vs_eventsourcing_spread"]
    print(
        f"bulk append of {n:,} events (SQLite, WAL, synchronous=FULL), {args.reps} interleaved "
        f"repetitions: sipdash/raw {r_raw['median']:.2f} ({r_raw['min']:.2f}–{r_raw['max']:.2f}), "
        f"sipdash/eventsourcing {r_es['median']:.2f} ({r_es['min']:.2f}–{r_es['max']:.2f})"
    )
    print(f"  sipdash        {result['sipdash_eps']:>10,.0f} ev/s")
    print(
        f"  raw sqlite3    {result['raw_sqlite3_eps']:>10,.0f} ev/s   sipdash/raw = {result['ratio_vs_raw']:.2f} (target >= 0.70)"
    )
    print(
        f"  eventsourcing  {result['eventsourcing_eps']:>10,.0f} ev/s   sipdash/eventsourcing = {result['ratio_vs_eventsourcing']:.2f} (target >= 1.5)"
    )
    print(f"single append latency over {args.single:,} appends")
    print(
        f"  sipdash  p50 {result['single_p50_ms_sipdash']:.2f} ms  p99 {result['single_p99_ms_sipdash']:.2f} ms"
    )
    print(
        f"  raw      p50 {result['single_p50_ms_raw']:.2f} ms  p99 {result['single_p99_ms_raw']:.2f} ms   p99 ratio = {result['single_p99_ratio']:.2f} (target <= 3)"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
