"""Why the projection measures run in fresh processes: one process, before and after the heap
that ``run_all``'s bulk-append phase leaves.

``python bench/projection_heap.py LOG.db [--consultations N] [--reps 2]``

In one process: catch-up from 0 (on a fresh copy of ``LOG.db``, copied before the timing) and
the projection peer (``projection_bench.peer``), ``--reps`` times each, alternating; then
``append_bench.generate_list(N)`` (the bulk-append phase's event list) is built and dropped,
as ``run_all`` does before its projection measures, and the same measures run again. It prints
seconds per measure and state. ``bench/projection_worker.py`` says what was found.
"""

from __future__ import annotations

import argparse
import gc
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
for p in (str(HERE.parent), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

import append_bench  # noqa: E402
import projection_bench  # noqa: E402
from projection_floor import is_sqlite_file  # noqa: E402

from audit.projections import Projector  # noqa: E402
from events import EventStore  # noqa: E402


def _catch_up(log: Path, work: Path) -> float:
    shutil.copyfile(log, work)
    store = EventStore(f"sqlite:///{work}")
    try:
        projector = Projector(store)
        projector.ensure_schema()
        gc.collect()
        t = time.perf_counter()
        projector.catch_up()
        return time.perf_counter() - t
    finally:
        store.dispose()


def _peer(log: Path) -> float:
    gc.collect()
    t = time.perf_counter()
    projection_bench.peer(f"sqlite:///{log}")
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("log", type=Path, help="an unprojected SQLite log")
    ap.add_argument("--consultations", type=int, default=375_598, help="the event list's size")
    ap.add_argument("--reps", type=int, default=2)
    args = ap.parse_args()
    if not args.log.is_file() or not is_sqlite_file(args.log):
        ap.error(f"{args.log}: not a SQLite file (this benchmark needs a SQLite event log)")
    with tempfile.TemporaryDirectory(prefix="sipdash-heap-", dir=args.log.parent) as tmp:
        work = Path(tmp) / "work.db"

        def measure(state: str) -> None:
            cu, peer = [], []
            for _ in range(args.reps):
                cu.append(_catch_up(args.log, work))
                peer.append(_peer(args.log))
            print(
                f"{state:28s} catch-up {' / '.join(f'{t:.2f}' for t in cu)} s   "
                f"peer {' / '.join(f'{t:.2f}' for t in peer)} s",
                flush=True,
            )

        measure("fresh process")
        _seconds, events = append_bench.generate_list(args.consultations)
        measure("event list alive")
        del events
        gc.collect()
        measure("event list dropped")


if __name__ == "__main__":
    main()
