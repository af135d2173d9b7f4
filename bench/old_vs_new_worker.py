"""One measure by the code of one source tree (``PYTHONPATH=TREE``), printed as one JSON line.

Run by ``bench/old_vs_new.py``; uses only what both the old commit and the new code offer
(``seed.run_seed``/``generate``, ``EventStore``, ``Projector``).

    PYTHONPATH=TREE python bench/old_vs_new_worker.py seed URL CONSULTATIONS
    PYTHONPATH=TREE python bench/old_vs_new_worker.py bulk PATH CONSULTATIONS
    PYTHONPATH=TREE python bench/old_vs_new_worker.py catch_up URL
    PYTHONPATH=TREE python bench/old_vs_new_worker.py single URL N
"""

from __future__ import annotations

import gc
import json
import sys
import time
from datetime import date
from pathlib import Path

SCENARIO, SEED, TEAMS, MONTHS = "large", 42, 8, 12


def _where() -> str:
    import events

    return str(Path(events.__file__).resolve().parents[1])


def _projector(store):
    from audit.projections import Projector

    return Projector(store)


def seed_db(url: str, consultations: int) -> dict:
    import seed
    from events import EventStore

    store = EventStore(url)
    store.create_schema()
    t = time.perf_counter()
    result = seed.run_seed(store, SCENARIO, SEED, TEAMS, MONTHS, consultations)
    t = time.perf_counter() - t
    proj = _projector(store)
    proj.ensure_schema()
    store.dispose()
    return {"events": result.appended, "seed_s": t}


def bulk(path: str, consultations: int) -> dict:
    """Generate the list first (not timed), then time ``append_many`` into a fresh log."""
    import seed
    from events import EventStore

    events = list(seed.generate(SCENARIO, SEED, TEAMS, MONTHS, consultations))
    store = EventStore(f"sqlite:///{path}")
    store.create_schema()
    gc.collect()
    t = time.perf_counter()
    store.append_many(events, history=True, metadata=seed.seed_metadata(SCENARIO, SEED))
    t = time.perf_counter() - t
    store.dispose()
    return {"seconds": t, "events": len(events)}


def catch_up(url: str) -> dict:
    from events import EventStore

    store = EventStore(url)
    proj = _projector(store)
    proj.ensure_schema()
    gc.collect()
    t = time.perf_counter()
    n = proj.catch_up()
    t = time.perf_counter() - t
    store.dispose()
    return {"seconds": t, "events": n}


def single(url: str, n: int) -> dict:
    from events import EventStore, NewEvent
    from events.types import MilestoneLogged

    store = EventStore(url)
    times = []
    for i in range(n):
        ev = MilestoneLogged(team_id="team01", on=date(2024, 6, 1), kind="note", title=f"b{i}")
        t = time.perf_counter()
        store.append([NewEvent(ev)], metadata={"actor": "bench"})
        times.append(time.perf_counter() - t)
    store.dispose()
    times.sort()
    return {
        "n": n,
        "p50_ms": times[len(times) // 2] * 1e3,
        "p99_ms": times[min(len(times) - 1, int(len(times) * 0.99))] * 1e3,
    }


def main() -> None:
    mode, *rest = sys.argv[1:]
    if mode == "seed":
        out = seed_db(rest[0], int(rest[1]))
    elif mode == "bulk":
        out = bulk(rest[0], int(rest[1]))
    elif mode == "catch_up":
        out = catch_up(rest[0])
    elif mode == "single":
        out = single(rest[0], int(rest[1]))
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    out["tree"] = _where()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
