"""Bulk append (seed path) vs raw sqlite3 vs ``eventsourcing``; seeding; single-append latency."""

from __future__ import annotations

import os
import tempfile
import time
import warnings
from datetime import UTC, date, datetime
from pathlib import Path

from benchlib import (
    CLINICIANS,
    MONTHS,
    SCENARIO,
    SEED,
    TEAMS,
    pct,
    raw_append,
    raw_create_table,
    raw_items_from_new_events,
    remove_db,
    timed,
)
from ingest import RawOneRow
from method import REPS, interleave, ratio, spread

import seed
from events import EventStore, NewEvent
from events.store import format_ts
from events.types import MilestoneLogged

#: sipdash's bulk batch (one transaction each); the peers save the same number per transaction
BATCH = 20_000


def bulk_append(url: str, events: list) -> float:
    """sipdash's seed path (append_many, history) of an already generated list; the schema is
    created before the timing starts."""
    store = EventStore(url)
    store.create_schema()
    t, _ = timed(
        lambda: store.append_many(
            events, history=True, batch_size=BATCH, metadata=seed.seed_metadata(SCENARIO, SEED)
        )
    )
    store.dispose()
    return t


def raw_bulk(path: Path, events: list) -> float:
    """The raw sqlite3 peer of the same list: same table (created before the timing), same
    JSON, chain, metadata encoded once, 20,000 rows per transaction."""
    meta = seed.seed_metadata(SCENARIO, SEED)
    raw_create_table(path)
    t, n = timed(
        lambda: raw_append(path, raw_items_from_new_events(events, meta), BATCH, create=False)
    )
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


def eventsourcing_bulk(path: Path, events: list, batch: int = BATCH) -> float:
    """The ``eventsourcing`` library's Application (SQLite module), one aggregate per fact,
    saved ``batch`` aggregates per ``save`` (one transaction), as sipdash's batches; the
    Application (and its tables) is created before the timing starts."""
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
    t, result = timed(
        lambda: seed.run_seed(
            store, SCENARIO, SEED, TEAMS, MONTHS, consultations, clinicians=CLINICIANS
        )
    )
    store.dispose()
    return t, result.appended


def generate_list(consultations: int) -> tuple[float, list]:
    return timed(
        lambda: list(
            seed.generate(SCENARIO, SEED, TEAMS, MONTHS, consultations, clinicians=CLINICIANS)
        )
    )


def append_compare(
    events: list,
    tmp: Path,
    with_eventsourcing: bool,
    reps: int = REPS,
    seed_consultations: int | None = None,
) -> dict:
    """Bulk append of ``events``: sipdash, raw sqlite3 (and ``eventsourcing``) interleaved,
    ``reps`` times, each into a fresh database; medians, spreads and per-repetition ratios.
    With ``seed_consultations`` (the count ``events`` were generated from), seeding (generation
    + append, :func:`seeding`) joins the rotation, and ``ratio_seed_vs_bulk`` is its rate over
    the bulk append's, per repetition."""

    def fresh(name: str) -> Path:
        p = tmp / name
        remove_db(p)
        return p

    def sip() -> float:
        p = fresh("bulk_sip.db")
        t = bulk_append(f"sqlite:///{p}", events)
        remove_db(p)
        return t

    def raw() -> float:
        p = fresh("bulk_raw.db")
        t = raw_bulk(p, events)
        remove_db(p)
        return t

    def es() -> float:
        p = fresh("bulk_es.db")
        t = eventsourcing_bulk(p, events)
        remove_db(p)
        return t

    seeded: list[int] = []

    def seeds() -> float:
        p = fresh("bulk_seed.db")
        t, n = seeding(f"sqlite:///{p}", seed_consultations or 0)
        seeded.append(n)
        remove_db(p)
        return t

    contenders = {"sipdash": sip, "raw": raw}
    if with_eventsourcing:
        contenders["eventsourcing"] = es
    if seed_consultations is not None:
        contenders["seed"] = seeds
    times = interleave(contenders, reps)
    n = len(events)
    out: dict = {"events": n, "reps": reps, "batch": BATCH, "order": list(contenders)}
    for name, ts in times.items():
        out[f"{name}_s"] = spread(ts)
        out[f"{name}_eps"] = (seeded[0] if name == "seed" else n) / out[f"{name}_s"]["median"]
    out["ratio_vs_raw"] = ratio(times["raw"], times["sipdash"])
    if with_eventsourcing:
        out["ratio_vs_eventsourcing"] = ratio(times["eventsourcing"], times["sipdash"])
    if seeded:
        if len(set(seeded)) != 1 or seeded[0] != n:
            raise RuntimeError(f"seeding appended {sorted(set(seeded))} events; the list holds {n}")
        # rates of the same events: seed rate / bulk rate = bulk time / seed time
        out["ratio_seed_vs_bulk"] = ratio(times["sipdash"], times["seed"])
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


def latency_summary(sip: list[float], raw: list[float], reps: int = REPS) -> dict:
    """p50/p99 of all the pairs, and the p99 ratio per block of consecutive pairs (``reps``
    blocks: the repetitions), whose median and spread are the figure to quote."""
    out: dict = {
        "n": len(sip),
        "sipdash_p50_ms": pct(sip, 50) * 1e3,
        "sipdash_p99_ms": pct(sip, 99) * 1e3,
        "raw_p50_ms": pct(raw, 50) * 1e3,
        "raw_p99_ms": pct(raw, 99) * 1e3,
    }
    out["p99_ratio_all"] = out["sipdash_p99_ms"] / out["raw_p99_ms"]
    size = max(1, len(sip) // reps)
    blocks = [(sip[i : i + size], raw[i : i + size]) for i in range(0, size * reps, size)]
    blocks = [(a, b) for a, b in blocks if a]
    out["blocks"] = len(blocks)
    out["p99_ratio"] = spread([pct(a, 99) / pct(b, 99) for a, b in blocks])
    out["p50_ratio"] = spread([pct(a, 50) / pct(b, 50) for a, b in blocks])
    out["sipdash_p99_ms_blocks"] = spread([pct(a, 99) * 1e3 for a, _ in blocks])
    out["raw_p99_ms_blocks"] = spread([pct(b, 99) * 1e3 for _, b in blocks])
    return out
