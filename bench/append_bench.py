"""Bulk append (seed path) vs raw sqlite3 vs ``eventsourcing``; seeding; single-append latency."""

from __future__ import annotations

import os
import tempfile
import time
import warnings
from datetime import UTC, date, datetime
from pathlib import Path

from benchlib import (
    MONTHS,
    SCENARIO,
    SEED,
    TEAMS,
    pct,
    raw_append,
    raw_items_from_new_events,
    remove_db,
    timed,
)
from ingest import RawOneRow

import seed
from events import EventStore, NewEvent
from events.store import format_ts
from events.types import MilestoneLogged


def bulk_append(url: str, events: list) -> float:
    """sipdash's seed path (append_many, history) of an already generated list."""
    store = EventStore(url)
    store.create_schema()
    t, _ = timed(
        lambda: store.append_many(events, history=True, metadata=seed.seed_metadata(SCENARIO, SEED))
    )
    store.dispose()
    return t


def raw_bulk(path: Path, events: list) -> float:
    meta = seed.seed_metadata(SCENARIO, SEED)
    t, n = timed(lambda: raw_append(path, raw_items_from_new_events(events, meta)))
    assert n == len(events)
    return t


_FACT = None


def _fact_class():
    """One aggregate class per process (eventsourcing refuses to register a topic twice)."""
    global _FACT
    if _FACT is None:
        from eventsourcing.domain import Aggregate, event

        class Fact(Aggregate):
            @event("Recorded")
            def __init__(self, kind: str, data: dict) -> None:
                self.kind = kind
                self.data = data

        _FACT = Fact
    return _FACT


def eventsourcing_bulk(path: Path, events: list, batch: int = 1_000) -> float:
    """The ``eventsourcing`` library's Application (SQLite module), one aggregate per fact,
    saved ``batch`` aggregates at a time."""
    from eventsourcing.application import Application

    Fact = _fact_class()

    os.environ["PERSISTENCE_MODULE"] = "eventsourcing.sqlite"
    os.environ["SQLITE_DBNAME"] = str(path)
    try:
        app = Application()

        def run() -> None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for start in range(0, len(events), batch):
                    app.save(
                        *[
                            Fact(ne.event.type, ne.event.payload())
                            for ne in events[start : start + batch]
                        ]
                    )

        t, _ = timed(run)
        app.close()
    finally:
        del os.environ["PERSISTENCE_MODULE"], os.environ["SQLITE_DBNAME"]
    return t


def seeding(url: str, consultations: int) -> tuple[float, int]:
    """Generation + append into an empty store (``run_seed``)."""
    store = EventStore(url)
    store.create_schema()
    t, result = timed(lambda: seed.run_seed(store, SCENARIO, SEED, TEAMS, MONTHS, consultations))
    store.dispose()
    return t, result.appended


def generate_list(consultations: int) -> tuple[float, list]:
    return timed(lambda: list(seed.generate(SCENARIO, SEED, TEAMS, MONTHS, consultations)))


def append_compare(events: list, tmp: Path, with_eventsourcing: bool) -> dict:
    out: dict = {"events": len(events)}
    p = tmp / "bulk_sip.db"
    out["sipdash_s"] = bulk_append(f"sqlite:///{p}", events)
    remove_db(p)
    p = tmp / "bulk_raw.db"
    out["raw_s"] = raw_bulk(p, events)
    remove_db(p)
    if with_eventsourcing:
        p = tmp / "bulk_es.db"
        out["eventsourcing_s"] = eventsourcing_bulk(p, events)
        remove_db(p)
    n = len(events)
    out["sipdash_eps"] = n / out["sipdash_s"]
    out["raw_eps"] = n / out["raw_s"]
    out["ratio_vs_raw"] = out["raw_s"] / out["sipdash_s"]
    if with_eventsourcing:
        out["eventsourcing_eps"] = n / out["eventsourcing_s"]
        out["ratio_vs_eventsourcing"] = out["eventsourcing_s"] / out["sipdash_s"]
    return out


def single_latency(url: str, n: int, team_id: str) -> tuple[list[float], list[float]]:
    """``n`` interactive appends (one MilestoneLogged each) onto the existing log, interleaved
    one for one with the peer: a raw sqlite3 one-row insert-and-commit (hash chain included,
    same table and PRAGMAs) into a fresh database. Interleaving puts both under the same
    moment-to-moment load, which on a shared machine decides the p99 more than either does."""
    store = EventStore(url)
    sip: list[float] = []
    raw: list[float] = []
    with tempfile.TemporaryDirectory(prefix="sipdash-bench-raw1-", dir="/tmp") as d:
        raw_log = RawOneRow(Path(d) / "raw1.db", {"actor": "bench"})
        for i in range(n):
            ev = MilestoneLogged(team_id=team_id, on=date(2024, 6, 1), kind="note", title=f"b{i}")
            t = time.perf_counter()
            store.append([NewEvent(ev)], metadata={"actor": "bench"})
            sip.append(time.perf_counter() - t)

            pos = i + 1
            t = time.perf_counter()
            ev = MilestoneLogged(team_id="team01", on=date(2024, 6, 1), kind="note", title=f"b{i}")
            raw_log.append(f"e{pos:012d}", ev, pos, format_ts(datetime.now(UTC)))
            raw.append(time.perf_counter() - t)
        raw_log.close()
    store.dispose()
    return sip, raw


def latency_summary(sip: list[float], raw: list[float]) -> dict:
    out = {
        "n": len(sip),
        "sipdash_p50_ms": pct(sip, 50) * 1e3,
        "sipdash_p99_ms": pct(sip, 99) * 1e3,
        "raw_p50_ms": pct(raw, 50) * 1e3,
        "raw_p99_ms": pct(raw, 99) * 1e3,
    }
    out["p99_ratio"] = out["sipdash_p99_ms"] / out["raw_p99_ms"]
    return out
