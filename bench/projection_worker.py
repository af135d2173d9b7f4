"""One projection measurement in a fresh process: ``python bench/projection_worker.py MODE URL``
prints ``{"seconds": …, "events": …}``.

``MODE``: ``catch_up`` (fold from the checkpoint; the read models laid out first, untimed),
``rebuild`` (empty every read model and fold again, as ``sipdash rebuild``) or ``peer``
(``projection_bench.peer``: the like-for-like raw scan-decode-fold). The timing is taken inside
the worker, after its imports, so the process start is paid by neither side.

Why a fresh process (``bench/reads.projection_compare``): the run's earlier phases leave the
benchmark process's heap full and fragmented (the bulk-append phase holds the whole generated
event list). ``bench/projection_heap.py`` on a 960,735-event log: catch-up 6.71 / 6.43 s in a
fresh process, 8.27 / 7.98 s after that list was generated and dropped (+24 %); the raw peer
3.40 / 3.37 s vs 3.62 / 3.47 s (+5 %) — the heap's state taxes the side that allocates (the
fold) far more than the one that mostly reads. A user's ``sipdash rebuild`` runs in a fresh process.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for p in (str(ROOT), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

from audit.projections import Projector  # noqa: E402
from events import EventStore  # noqa: E402


def fresh(mode: str, url: str) -> tuple[float, int]:
    """Run this module as a fresh process for one measure; returns (seconds, events)."""
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), mode, url],
        capture_output=True,
        text=True,
        check=True,
        timeout=7200,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return float(result["seconds"]), int(result["events"])


def measure(mode: str, url: str) -> dict:
    """One measure in this process (the worker's side of :func:`fresh`)."""
    if mode == "peer":
        import projection_bench

        if not url.startswith("sqlite"):
            import psycopg  # noqa: F401 - imported before the timing, as sipdash's driver is

        gc.collect()
        t = time.perf_counter()
        n = projection_bench.peer(url)
        return {"seconds": time.perf_counter() - t, "events": n}
    if mode not in ("catch_up", "rebuild"):
        raise SystemExit(f"unknown mode {mode!r}: catch_up, rebuild or peer")
    store = EventStore(url)
    try:
        projector = Projector(store)
        projector.ensure_schema()  # lays the read models out; the driver's first connect done
        run = projector.catch_up if mode == "catch_up" else projector.rebuild
        # the timed run opens its own connection, as the peer does inside its timing (a
        # PostgreSQL connect is ~3 ms: a tenth of the peer's whole 10k scan)
        store.engine.dispose()
        gc.collect()
        t = time.perf_counter()
        n = run()
        return {"seconds": time.perf_counter() - t, "events": n}
    finally:
        store.dispose()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    print(json.dumps(measure(sys.argv[1], sys.argv[2])))
